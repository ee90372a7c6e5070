"""Chapter 01, the benchmark: its tables (tasks, the cue, overwriting pairs, sparsity, audio normalisation)
and the page's summary.

Every function measures the generated data of a :class:`stella.data.Benchmark`; nothing trains.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from IPython.display import Markdown, display

from stella.data import sparsity
from stella.data.stamps import licence_line, stamps_status
from stella.data.tuxpaint import build_tuxpaint
from stella.eval.attention import denormalize_video
from stella.eval.signal import sounding_mask
from stella.report import signal_tables as S
from stella.report.chapter import Traits, chapter
from stella.report.display import show
from stella.report.plots import plot_task_clips
from stella.report.runs import run_config

CHAPTER = "01_benchmark"


def defaults(preset: str, p: dict, book: Traits) -> tuple[list[int], list[str]]:
    p.setdefault("max_items", None)
    return [], ["stella"]


RECORD = chapter(CHAPTER, defaults, needs=("ground_truth", "generated_classes"))


def tasks_frame(bench) -> pd.DataFrame:
    """One row per task: position, name, class ids and names, train / eval clip counts."""
    return pd.DataFrame([{"task": t.index + 1, "name": t.name, "classes": len(t.classes),
                          "class names": "; ".join(bench.class_names[c] for c in t.classes),
                          "train clips": len(t.train), "eval clips": len(t.eval)} for t in bench.tasks])


def overwriting_frame(bench) -> pd.DataFrame:
    """The "correlation overwriting" pairs (Fig. 3): a later class reusing an earlier class's object."""
    reused = bench.info.get("reused", {}) if bench.info else {}
    task_of = {c: t.index + 1 for t in bench.tasks for c in t.classes}
    classes = bench.info.get("classes") if bench.info else None
    rows = []
    for new, old in sorted(reused.items()):
        row = {"earlier class": old, "earlier task": task_of.get(old), "later class": new,
               "later task": task_of.get(new)}
        if classes is not None:
            row.update({"shared object": classes[new].obj.name, "earlier sound": classes[old].sound.name,
                        "later sound": classes[new].sound.name})
        rows.append(row)
    return pd.DataFrame(rows)


def sparsity_frame(bench, patch_size: int, max_items: int | None = None) -> pd.DataFrame:
    """:func:`stella.data.sparsity` of every task's eval split, one row per task."""
    return pd.DataFrame([{"task": t.index + 1, "name": t.name, **sparsity(t.eval, patch_size, max_items)}
                         for t in bench.tasks])


def sparsity_view(sp: pd.DataFrame) -> pd.DataFrame:
    """:func:`sparsity_frame` as the page shows it: its shares in %, and a last row of their means over the tasks
    (what :func:`sparsity_sentence` quotes)."""
    shares = [c for c in sp.columns if c not in ("task", "name")]
    view = sp.assign(**{c: 100 * sp[c] for c in shares}).astype({"task": str})
    mean = {"task": "all", "name": "mean over tasks", **{c: view[c].mean() for c in shares}}
    return pd.concat([view, pd.DataFrame([mean])], ignore_index=True).rename(columns={c: f"{c} (%)" for c in shares})


def sparsity_sentence(sp: pd.DataFrame, patch: int, name: str = "") -> str:
    """One sentence: the mean share of video patches on the object and of audio tokens with the event (the last row
    of :func:`sparsity_view`)."""
    v, a = 100 * sp["video_patches"].mean(), 100 * sp["audio_chunks"].mean()
    return (f"{name}On average {v:.1f}% of the {patch}x{patch} video patches touch the sounding object and {a:.1f}% of "
            f"the audio time tokens contain the event; the correspondence is sparse (< 50% in both): "
            f"{'yes' if v < 50 and a < 50 else 'no'}.")


def cue_frame(bench, max_items: int | None = None) -> pd.DataFrame:
    """The cue that marks the sounding object, measured on each task's evaluation clips: the share of
    frames whose audio segment sounds, and the object's area (pixels) and brightness (mean of the
    displayed RGB inside its mask) in those frames against its silent frames. One row per task."""
    rows = []
    for t in bench.tasks:
        n = len(t.eval) if max_items is None else min(len(t.eval), max_items)
        on, area, light = [], {True: [], False: []}, {True: [], False: []}
        for i in range(n):
            item = t.eval[i]
            mask = item["mask"]
            sounds = sounding_mask(mask[None], item["active"][None])[0].flatten(1).any(1)      # (T,)
            frames = denormalize_video(item["video"])                                            # (T, H, W, 3)
            on.append(float(sounds.float().mean()))
            for k in range(mask.shape[0]):
                if mask[k].any():
                    area[bool(sounds[k])].append(float(mask[k].float().sum()))
                    light[bool(sounds[k])].append(float(frames[k][mask[k]].mean()))
        mean = lambda v: float(torch.tensor(v).mean()) if v else float("nan")
        rows.append({"task": t.index + 1, "frames with the sound on (%)": 100 * mean(on),
                     "object area, sounding / silent frames": mean(area[True]) / mean(area[False]),
                     "object brightness, sounding frames": mean(light[True]),
                     "object brightness, silent frames": mean(light[False])})
    return pd.DataFrame(rows)


def benchmark_line(bench, cfg) -> str:
    """One line: the benchmark's name, tasks, classes, frames and fbank size at ``cfg``."""
    d = cfg.data
    on = max(1, int(d.num_frames * d.active_fraction))
    return (f"benchmark {bench.name!r}: {len(bench.tasks)} tasks, {bench.num_classes} classes, {d.num_frames} "
            f"frames of {d.image_size}px, fbank {d.audio_frames} x {d.mel_bins}; a class sounds in "
            + (f"1 to {on}" if on > 1 else "1") + f" of the {d.num_frames} segments (data.active_fraction {d.active_fraction:g})")


def alignment_sentence(cfg) -> str:
    """How frames, fbank frames, audio time tokens and Algorithm 1's chunks line up at ``cfg``."""
    T, t, p, lc = cfg.data.num_frames, cfg.data.audio_frames, cfg.model.patch_size, cfg.selection.chunk_size
    seg = t // T
    same = t == T * p * lc
    return (f"Frame k of the {T} shows fbank frames [{seg}k, {seg}(k+1)) of the {t}: {seg / p:g} audio time tokens of "
            f"{p} fbank frames each. Algorithm 1's chunk of L_c = {lc} time tokens ({lc * p} fbank frames) is "
            + ("exactly one frame's segment." if same else "not one frame's segment at this preset."))


def audio_norm_frame(bench, per_task: int = 8) -> pd.DataFrame:
    """The fbank mean/std the benchmark normalises with, and the measured mean/std of normalised train clips
    (the first ``per_task`` clips of every task)."""
    fb = torch.stack([t.train[i]["audio"] for t in bench.tasks for i in range(min(per_task, len(t.train)))])
    return pd.DataFrame([{"statistic": "fbank mean (before normalisation)", "value": bench.audio_norm[0]},
                         {"statistic": "fbank std (before normalisation)", "value": bench.audio_norm[1]},
                         {"statistic": "normalised train fbank mean (measured)", "value": float(fb.mean())},
                         {"statistic": "normalised train fbank std (measured)", "value": float(fb.std())}])


def tuxpaint_benchmark(preset: str, task_order: str, root: str | Path):
    """The real-content benchmark when ``make data-real`` prepared ``root/stamps``, else None."""
    root = Path(root)
    if not (root / "stamps").is_dir():
        return None
    cfg = run_config(preset, "stella", overrides=["data.dataset=tuxpaint"], task_order=task_order)
    return build_tuxpaint(cfg, root)


def page_summary(tasks: pd.DataFrame, sparsity: pd.DataFrame, sig: pd.DataFrame | None = None,
                      where: str = "unseen classes") -> list[str]:
    """Chapter 01: the benchmark's size, how sparse its correspondence is, and what the pre-trained start
    finds on ``where``, quoting the cells of the chapter's tables (mean ± the 95 % interval over clips)
    and ending with :func:`stella.report.signal_tables.audio_attention_sentence`'s reading.

    ``tasks``: :func:`stella.report.chapters.benchmark.tasks_frame`; ``sparsity``: its ``sparsity_frame``;
    ``sig``: the pre-trained start's per-clip measurements (:func:`stella.report.signal_tables.unseen_signal`),
    None when the benchmark has no ground truth."""
    v, a = 100 * sparsity["video_patches"].mean(), 100 * sparsity["audio_chunks"].mean()
    out = [f"{len(tasks)} continual tasks of {int(tasks['classes'].sum())} classes in all "
           f"({int(tasks['train clips'].sum())} training clips); on average {v:.1f} % of the video patches touch "
           f"the sounding object and {a:.1f} % of the audio time tokens carry its sound."]
    if sig is None or not len(sig[sig["clips"] == where]):
        return out
    sel = S.selection_table(sig, where).set_index("model")
    maps = S.map_table(sig, where).set_index("model")
    audio = S.audio_attention_table(sig, where).iloc[0]
    start, rand = sel.index[0], "a random selection (chance)"
    snd, act, auc = S.KEPT["kept_sounding"], S.KEPT["kept_active"], f"AVM map AUC, {S.TRUTHS['sounding']}"
    audio_share = "" if sel.at[start, act] in ("—", "") else (
        f" and {sel.at[start, act]} % of the active audio patches (random {sel.at[rand, act]} %)")
    out.append(f"After pre-training, on classes it has never seen, STELLA's selection keeps {sel.at[start, snd]} % of "
               f"the sounding object's patches while it sounds (a random half {sel.at[rand, snd]} %){audio_share}; "
               f"the AVM map's AUC against the sounding object is {maps.at[start, auc]} (a random map "
               f"{maps.at['a random map (chance)', auc]}); ± is the {sel.at[start, '±']}.")
    queries, chance = audio["the sounding object's queries"], audio["chance: active patches' share"]
    out.append(f"The sounding object's own queries put {queries} % of their audio attention on the active audio, "
               f"against a chance level of {chance} %. " + S.attention_reading(sig, start, where))
    return out


def tuxpaint_section(preset: str, task_order: str, root: str | Path, max_items: int | None = None) -> None:
    """The real-content benchmark's tasks, one clip per task and its sparsity, or one line saying why it is absent."""
    tux = tuxpaint_benchmark(preset, task_order, root)
    if tux is None:
        display(Markdown(f"*This section would show the real-content benchmark: photo cut-outs with their own recorded "
                         f"sounds (Debian's tuxpaint-stamps-default, {licence_line()}), its tasks, one clip per task and "
                         f"how sparse its sounding objects are. It is absent where this page was built: "
                         f"{stamps_status(root).reason}. `make data-real` fetches it (no root) and a rebuild shows it.*"))
        return
    patch = run_config(preset, "stella").model.patch_size
    breakable = {c: (lambda v: str(v).replace("/", "/<wbr>")) for c in ("name", "class names")}   # stamp paths wrap
    display(show(tasks_frame(tux), formats=breakable))
    plot_task_clips(tux, 1, prefix="tuxpaint ")
    tsp = sparsity_frame(tux, patch, max_items)
    display(show(sparsity_view(tsp), digits=1, caption="tuxpaint, per task: the share (%) of video patches and pixels on "
                 "the sounding object and of audio time tokens and frames with its event (evaluation clips)."))
    print(sparsity_sentence(tsp, patch, "tuxpaint: "))
