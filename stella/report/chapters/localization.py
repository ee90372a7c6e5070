"""Chapter 07, attention and localisation: attention maps over video frames, sound-source localisation against the ground-truth
masks (Fig. 7, 13) and the attention drift of the first task's clips (Fig. 2c-d, 14).

Methods that train the AVM (``needs_avm`` on the method class) are drawn with the AVM map and the
backbone's similarity map, the others with the similarity map (the cosine of each video patch to
the clip's mean audio embedding), as in the paper's Fig. 7 and 13. Every score is taken against both
ground truths of the benchmark: the object in every frame, and the sounding object in the frames
where it sounds (where the benchmark lights it up). :func:`signal_measurements` adds what STELLA's
selection and the AVM find before and after the continual sequence (:mod:`stella.report.signal_tables`).
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
import torch
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from torch.utils.data import ConcatDataset

from stella import __version__
from stella.continual import METHODS
from stella.continual.pretrain import pretrained_models
from stella.data import build_benchmark
from stella.eval import attention_drift, attention_maps, localization_summary, per_clip_localization, upsample_to_frames
from stella.eval.attention import denormalize_video
from stella.eval.signal import sounding_mask
from stella.report import paper_numbers as paper
from stella.report import signal_tables as S
from stella.report.chapter import Traits, chapter
from stella.report.claims import ClaimContext, Comparison, family, register, versus
from stella.report.figure_text import MAX_WIDTH
from stella.report.runs import cached_frame, get_run, load_trained, quiet, run_config
from stella.report.signal_tables import KEPT, TRUTHS

CHAPTER = "07_attention_localization"


def defaults(preset: str, p: dict, book: Traits) -> tuple[list[int], list[str]]:
    methods = p.pop("methods", None) or (["stella", "derpp"] if book.quick else ["stella", "derpp", "clser", "esmer"])
    p.setdefault("n_clips", 2)
    p.setdefault("iou_threshold", 0.5)
    p.setdefault("map_threshold", 0.5)
    p["signal_methods"] = p.get("signal_methods") or ["stella", "derpp"]
    return RECORD.seeds_of("maps", preset, p.pop("n_seeds", None)), methods


RECORD = chapter(CHAPTER, defaults, seeds={"maps": "sweep"}, needs=("ground_truth", "generated_classes"),
                 runs=lambda nb: [(m, s, ()) for m in dict.fromkeys([*nb.methods, *nb.options["signal_methods"]])
                                  for s in nb.seeds])
METRICS = ["cIoU", "AUC", "mIoU", "pointing"]
SHOWN = ["AUC", "cIoU", "pointing"]


def map_kind(method: str) -> str:
    """"avm" for methods that train the AVM (``needs_avm``: STELLA and its parts), "similarity" otherwise."""
    return "avm" if METHODS[method].needs_avm else "similarity"


def dataset_maps(model, avm, dataset, cfg, kind: str, device: str = "cpu") -> dict[str, torch.Tensor]:
    """:func:`stella.eval.attention_maps` at frame resolution: adds ``frame_maps`` (n, T, H, W)."""
    out = attention_maps(model, dataset, cfg.video_grid, kind, avm if kind == "avm" else None,
                         beta=1.0, device=device)
    out["frame_maps"] = upsample_to_frames(out["maps"], (cfg.data.image_size,) * 2)
    return out


def localization_rows(frame_maps: torch.Tensor, masks: torch.Tensor, iou_threshold: float = 0.5,
                      map_threshold: float | str = 0.5, **labels) -> pd.DataFrame:
    """One-row :func:`stella.eval.localization_summary` with label columns."""
    row = localization_summary(per_clip_localization(frame_maps, masks, map_threshold), iou_threshold)
    for k, v in labels.items():
        row.insert(0, k, v)
    return row


@dataclass
class Maps:
    """Every run's maps: ``maps[(method, seed, after_task, kind, "task1" | "all")]``; ``runs[(method, seed)]``."""

    cfg: object
    bench: object
    last: int
    task1: object
    maps: dict
    description: str
    runs: dict


def compute_maps(nb) -> Maps:
    """Maps of every method and seed on task 1's clips after task 1 and after the last task, and on all
    tasks' clips after the last task: the AVM map of every method (a method that does not train the AVM
    keeps the pre-trained stage's, so its AVM map is the pre-trained AVM on its own backbone) and the
    similarity map; plus the pre-trained start's AVM map (method "start") on all tasks' clips."""
    with quiet():
        runs = {(m, s): get_run(nb.preset, m, seed=s, overrides=nb.train_overrides, results_dir=nb.results_dir,
                                task_order=nb.task_order) for m in nb.methods for s in nb.seeds}
        start_model, start_avm = pretrained_models(run_config(nb.preset, nb.methods[0], task_order=nb.task_order),
                                                   nb.results_dir, nb.device)
    cfg = run_config(nb.preset, "stella", task_order=nb.task_order)
    bench = build_benchmark(cfg)
    last, task1 = len(bench.tasks), bench.tasks[0].eval
    all_eval = ConcatDataset([t.eval for t in bench.tasks])
    maps = {}
    for (m, s), rd in runs.items():
        for after in (1, last):
            model, avm = load_trained(rd, after_task=after, device=nb.device)
            for kind in ("avm", "similarity"):
                maps[(m, s, after, kind, "task1")] = dataset_maps(model, avm, task1, cfg, kind, nb.device)
                if after == last:
                    maps[(m, s, after, kind, "all")] = dataset_maps(model, avm, all_eval, cfg, kind, nb.device)
    maps[("start", 0, last, "avm", "all")] = dataset_maps(start_model, start_avm, all_eval, cfg, "avm", nb.device)
    text = (f"{len(runs)} runs ({nb.methods}, seeds {nb.seeds}) and the pre-trained start; {len(task1)} task-1 clips, "
            f"{len(all_eval)} clips in all")
    return Maps(cfg, bench, last, task1, maps, text, runs)


def signal_measurements(nb, M: Maps, clips: dict) -> pd.DataFrame:
    """Per-clip :func:`stella.eval.signal.signal_frame` rows of the pre-trained start and of each run of
    ``nb.options["signal_methods"]`` after the last task, on every clip set of ``clips``
    (:func:`stella.report.signal_tables.clip_sets`); kept beside the weights they measure."""
    runs = {(m, s): get_run(nb.preset, m, seed=s, overrides=nb.train_overrides, results_dir=nb.results_dir,
                            task_order=nb.task_order) for m in nb.options["signal_methods"] for s in nb.seeds}
    labels = {m: f"{paper.label(m)} after task {M.last}" + ("" if METHODS[m].needs_avm else " (pre-trained AVM)")
              for m in nb.options["signal_methods"]}
    with quiet():
        start = S.pretrained_signal(M.cfg, nb.results_dir, clips, nb.device)
        return pd.concat([start, S.trained_signal(runs, clips, nb.device, labels)], ignore_index=True)


def truths(mp: dict) -> dict[str, torch.Tensor]:
    """Both ground truths of a :func:`dataset_maps` result: the object in every frame (``mask``) and the
    sounding object in the frames where it sounds (:func:`stella.eval.signal.sounding_mask`)."""
    return {TRUTHS["object"]: mp["mask"], TRUTHS["sounding"]: sounding_mask(mp["mask"], mp["active"])}


def map_label(method: str, kind: str) -> str:
    """A map's reader label: "STELLA, AVM map", "DER++, pre-trained AVM map", "DER++, similarity map", "random map",
    "pre-trained start, AVM map"."""
    if kind == "random":
        return "random map"
    if method == "start":
        return "pre-trained start, AVM map"
    avm = "AVM" if METHODS[method].needs_avm else "pre-trained AVM"
    return f"{paper.label(method)}, {avm if kind == 'avm' else 'similarity'} map"


def plot_task1_attention(M: Maps, methods, seed: int, n_clips: int) -> None:
    """One compact figure per task-1 clip: a row per method (its map kind: :func:`map_kind`), the clip's
    frames after task 1 (left block) and after the last task (right block), each map min-max normalised
    over the clip's frames and drawn over them on one colour scale (one colorbar); white outline: the
    object, green outline: the object in the frames where it sounds."""
    T = M.cfg.data.num_frames
    for j in range(min(n_clips, len(M.task1))):
        item = M.task1[j]
        frames = denormalize_video(item["video"]).numpy()
        sounding = sounding_mask(item["mask"][None], item["active"][None])[0]
        width = MAX_WIDTH                                      # 9 pt text reads 9 px or more in the book
        height = (0.86 * width - 1.6) / (2 * T) * len(methods) + 1.1
        fig, axes = plt.subplots(len(methods), 2 * T, figsize=(width, height), squeeze=False,
                                 gridspec_kw={"wspace": 0.04, "hspace": 0.08})
        fig.subplots_adjust(top=1 - 0.85 / height, bottom=0.02, left=0.14, right=0.9)
        for r, m in enumerate(methods):
            for b, after in enumerate((1, M.last)):
                amap = M.maps[(m, seed, after, map_kind(m), "task1")]["maps"][j]
                up = upsample_to_frames(amap[None].float().cpu(), frames.shape[1:3])[0]
                lo, hi = up.min(), up.max()
                up = ((up - lo) / (hi - lo) if hi > lo else up * 0).numpy()
                for t in range(T):
                    ax = axes[r, b * T + t]
                    ax.imshow(frames[t])
                    ax.imshow(up[t], cmap="jet", alpha=0.5, vmin=0, vmax=1)
                    ax.contour(item["mask"][t].float().numpy(), levels=[0.5], colors="white", linewidths=0.8)
                    if sounding[t].any():
                        ax.contour(sounding[t].float().numpy(), levels=[0.5], colors="lime", linewidths=1.2)
                    ax.set_xticks([])
                    ax.set_yticks([])
                    if r == 0:
                        ax.set_title(f"t={t}" + (" sounds" if sounding[t].any() else ""), fontsize=9)
            axes[r, 0].set_ylabel(map_label(m, map_kind(m)).replace(", ", "\n"), fontsize=9)
        for b, after in enumerate((1, M.last)):
            left, right = axes[0, b * T].get_position().x0, axes[0, b * T + T - 1].get_position().x1
            fig.text((left + right) / 2, 1 - 0.5 / height, f"after task {after}", ha="center", fontsize=9,
                     fontweight="bold")
        fig.text(0.01, 1 - 0.05 / height, f"task-1 clip {j + 1}, class {item['label']}: "
                 f"{M.bench.class_names[item['label']]}", fontsize=9, va="top")
        bar = fig.colorbar(ScalarMappable(Normalize(0, 1), "jet"), ax=axes, fraction=0.02, pad=0.01)
        bar.set_label("map value (min-max over the clip)", fontsize=9)
        bar.ax.tick_params(labelsize=9)
        plt.show()


def localization_frame(M: Maps, methods, seed: int, iou_threshold: float, map_threshold) -> pd.DataFrame:
    """One row per (binarisation, ground truth, method, map kind, seed) on all tasks' clips after the
    last task, plus a random map (seeded generator) as chance level."""
    g = torch.Generator().manual_seed(0)
    ref = M.maps[(methods[0], seed, M.last, map_kind(methods[0]), "all")]
    rand = torch.nn.functional.interpolate(torch.rand(ref["maps"].shape, generator=g),
                                           size=ref["frame_maps"].shape[-2:], mode="nearest")
    rows = []
    for rule in (map_threshold, "median"):
        label = "median" if rule == "median" else f"min-max >= {rule}"
        for (m, s, after, kind, where), mp in M.maps.items():
            if where == "all":
                for truth, mask in truths(mp).items():
                    rows.append(localization_rows(mp["frame_maps"], mask, iou_threshold, rule, method=m, map=kind,
                                                  seed=s, binarisation=label, truth=truth))
        for truth, mask in truths(ref).items():
            rows.append(localization_rows(rand, mask, iou_threshold, rule, method="random map", map="random",
                                          seed=0, binarisation=label, truth=truth))
    return pd.concat(rows, ignore_index=True)


def localization_table(loc: pd.DataFrame, binarisation: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(means, stds) over seeds per method and map of one binarisation: columns (ground truth, metric)
    for AUC, cIoU and pointing (:data:`SHOWN`)."""
    part = loc[loc["binarisation"] == binarisation]
    g = part.groupby(["method", "map", "truth"], sort=False)[SHOWN]
    out = []
    for stat in (g.mean(), g.std()):
        t = stat.unstack("truth")
        t.columns = t.columns.swaplevel(0, 1)
        out.append(_map_names(t.reindex(columns=[(tr, m) for tr in TRUTHS.values() for m in SHOWN])))
    return out[0], out[1]


def _said(r: pd.Series, digits: int = 2) -> str:   # the claims table's precision (show_claims)
    """A judged comparison as the claims table states it: both sides, the oriented difference, its interval, verdict."""
    if r["verdict"] == "not tested":
        return f"{r['ours']}: not tested ({r['note'] or r['test']})"
    ci = "" if r["ci_low"] != r["ci_low"] else f" [{r['ci_low']:+.{digits}f}, {r['ci_high']:+.{digits}f}]"
    return f"{r['ours']}: {r['difference']:+.{digits}f}{ci}, {r['verdict']} (n = {int(r['n_seeds'])})"


def localization_sentences(claims: pd.DataFrame) -> list[str]:
    """STELLA's AVM map against each reading of the paper's Fig. 7 / 13, from the chapter's judged claims: the
    baselines' maps as drawn (similarity maps), like with like (the pre-trained AVM on each baseline's backbone),
    and STELLA's own pre-trained start (AUC against the sounding object while it sounds)."""
    out = []
    for fam, what in (("fig7.as-drawn", "against the baselines' similarity maps (as drawn)"),
                      ("fig7.like", "against the pre-trained AVM on each baseline's backbone (like with like)"),
                      ("fig7.start", "against its own pre-trained start")):
        part = family(claims, fam)
        if len(part):
            out.append(f"STELLA's AVM map {what}: " + "; ".join(_said(r) for _, r in part.iterrows()) + ".")
    return out


def drift_frame(M: Maps) -> pd.DataFrame:
    """Rows ``method, map, seed, drift (1 - cos), drift (JS distance)``: task-1 maps after task 1 vs the last."""
    rows = []
    for (m, s, after, kind, where), mp in M.maps.items():
        if where == "task1" and after == 1:
            later = M.maps[(m, s, M.last, kind, "task1")]["maps"]
            rows.append({"method": m, "map": kind, "seed": s,
                         "drift (1 - cos)": float(attention_drift(mp["maps"], later, "cosine").mean()),
                         "drift (JS distance)": float(attention_drift(mp["maps"], later, "js").mean())})
    return pd.DataFrame(rows)


def plot_drift(drift: pd.DataFrame) -> None:
    """Mean JS drift per method and map (bars) with the std over seeds (error bars)."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    g = drift.groupby(["method", "map"], sort=False)["drift (JS distance)"]
    mean, std = g.mean(), g.std()
    ax.bar([map_label(m, k) for m, k in mean.index], mean.to_numpy(), yerr=std.fillna(0).to_numpy(), capsize=3)
    ax.set_ylabel("JS distance, after task 1 vs after task T")
    ax.tick_params(axis="x", rotation=30, labelsize=8)
    for t in ax.get_xticklabels():
        t.set_ha("right")
    fig.tight_layout()
    plt.show()


def _map_names(frame: pd.DataFrame) -> pd.DataFrame:
    """The (method, map) index as a reader reads it, one label per row (:func:`map_label`)."""
    return frame.set_axis([map_label(m, k) for m, k in frame.index], axis=0).rename_axis("map")


def drift_table(drift: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(means, stds) over seeds of both drift measures per method and map."""
    g = drift.groupby(["method", "map"], sort=False)[["drift (1 - cos)", "drift (JS distance)"]]
    return _map_names(g.mean()), _map_names(g.std())


def drift_sentence(claims: pd.DataFrame) -> str:
    """Fig. 2c-d / 14 from the chapter's judged claims: DER++'s task-1 attention drifts more than STELLA's (JS), under
    both readings of which maps the paper compares."""
    part = family(claims, "fig2.drift")
    return "" if part.empty else "Attention drift on task-1 clips (JS; + : STELLA drifts less): " + "; ".join(
        f"{r['reading']}: {_said(r)}" for _, r in part.iterrows()) + "."


# --------------------------------------------------------------------------- measured once, the chapter's claims
def measurements(nb, maps: Maps | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(:func:`localization_frame`, :func:`drift_frame`) of the notebook's runs, kept beside its first
    STELLA run (:func:`cached_frame`), so chapter 09 reads what chapter 07 measured; the maps are
    computed (``maps`` or :func:`compute_maps`) only when either frame is missing."""
    params = {"methods": list(nb.methods), "seeds": list(nb.seeds), "iou": nb.options["iou_threshold"],
              "map_threshold": nb.options["map_threshold"], "task_order": nb.task_order, "device": nb.device,
              "maps": "AVM and similarity of every method, the start's AVM", "version": __version__}
    made: list[Maps] = [maps] if maps is not None else []
    m = lambda: made[0] if made else made.append(compute_maps(nb)) or made[0]
    rd = get_run(nb.preset, "stella", nb.seeds[0], nb.train_overrides, nb.results_dir, nb.task_order)
    loc = cached_frame(rd, "localization", params,
                       lambda: localization_frame(m(), nb.methods, nb.seeds[0], nb.options["iou_threshold"], nb.options["map_threshold"]))
    drift = cached_frame(rd, "attention-drift", params, lambda: drift_frame(m()))
    return loc, drift


@register(CHAPTER)
def localization_claims(ctx: ClaimContext) -> list[Comparison]:
    """Fig. 7 / 13: STELLA's AVM map finds the sound source better than the baselines (AUC against the
    sounding object while it sounds; AUC needs no binarisation), under each reading of what the figures
    compare: as drawn (the baselines' similarity maps), like with like (the pre-trained AVM on each
    baseline's backbone, the AVM a baseline keeps), and against STELLA's own pre-trained start. Fig. 2 c-d /
    14: DER++'s attention moves after later tasks while STELLA's stays (JS drift of task-1 maps), as drawn
    (STELLA's AVM vs DER++'s similarity map) and like with like (both similarity maps)."""
    nb = ctx.setup(CHAPTER, seeds=False)
    loc, drift = measurements(nb)
    part = loc[(loc["truth"] == TRUTHS["sounding"]) & (loc["binarisation"] == loc["binarisation"].iloc[0])]
    auc = part[part["method"] != "start"].pivot_table(index="seed", columns=["method", "map"], values="AUC",
                                                       aggfunc="mean")
    auc.columns = [f"{m} ({k})" for m, k in auc.columns]
    show = lambda c: map_label(c.split(" (")[0], c.split(" (")[1][:-1])
    kw = {"label": show, "unit": "AUC", "margin": None, "paper": "qualitative (Fig. 7, 13)",
          "chance": float(part.loc[part["method"] == "random map", "AUC"].mean())}
    base = [m for m in nb.methods if not METHODS[m].needs_avm]
    out = []
    if "stella (avm)" in auc.columns:
        out += [versus(f"STELLA's AVM map localises the sounding object better than {paper.label(b)}'s similarity map "
                       "(AUC)", CHAPTER, "Fig. 7 / 13, as drawn: STELLA's AVM finds the sound source better than every "
                       "baseline's map", auc, "stella (avm)", f"{b} (similarity)", 1, reading="as drawn: the baselines' "
                       "similarity maps", key=f"fig7.as-drawn/{b}", **kw) for b in base if f"{b} (similarity)" in auc]
        out += [versus(f"STELLA's AVM map localises the sounding object better than the pre-trained AVM on "
                       f"{paper.label(b)}'s backbone (AUC)", CHAPTER, "Fig. 7 / 13, like with like: STELLA's AVM finds "
                       "the sound source better than the pre-trained AVM on every baseline", auc, "stella (avm)",
                       f"{b} (avm)", 1, reading="like with like: AVM maps", key=f"fig7.like/{b}", **kw)
                for b in base if f"{b} (avm)" in auc]
        start = part.loc[part["method"] == "start", "AUC"]
        if len(start):
            out.append(Comparison("STELLA's AVM map localises the sounding object better than its pre-trained start (AUC)",
                                  CHAPTER, "Fig. 7 / 13: STELLA's AVM localises better after the tasks than at its start",
                                  auc["stella (avm)"], float(start.mean()), 1, unit="AUC", margin=None,
                                  paper="qualitative (Fig. 7, 13)", chance=kw["chance"],
                                  ours_text=f"STELLA AVM {auc['stella (avm)'].mean():.3f} vs start {start.mean():.3f}",
                                  reading="the same AVM before the tasks", key="fig7.start/stella"))
    js = drift.pivot_table(index="seed", columns=["method", "map"], values="drift (JS distance)", aggfunc="mean")
    js.columns = [f"{m} ({k})" for m, k in js.columns]
    fam = "Fig. 2 / 14: STELLA's attention drifts less than DER++'s"
    for ours, reading, kind in (("stella (avm)", "as drawn: STELLA's AVM map vs DER++'s similarity map", "as-drawn"),
                                ("stella (similarity)", "like with like: both similarity maps", "like")):
        if {ours, "derpp (similarity)"} <= set(js.columns):
            out.append(versus(f"{show(ours)} drifts less than DER++'s similarity map on task-1 clips (JS)", CHAPTER,
                              fam, js, ours, "derpp (similarity)", -1, label=show, unit="JS", margin=None,
                              paper="qualitative (Fig. 2, 14)", reading=reading, key=f"fig2.drift/{kind}"))
    return out


def page_summary(selection: pd.DataFrame, loc: pd.DataFrame, claims: pd.DataFrame) -> list[str]:
    """Chapter 07: every model's kept share of the sounding object on the continual classes (the pre-trained
    start, STELLA's and each other measured method's final model), the maps' AUC after the last task (the
    localisation table's numbers, its random map as chance), then the judged comparisons
    (:func:`localization_sentences`, :func:`drift_sentence`)."""
    out = []
    models = [m for m in selection["model"] if m not in ("a random selection (chance)", "target")
              and not m.endswith("top-κ rule")]
    sel = selection.set_index("model")
    snd = KEPT["kept_sounding"]
    if models:
        out.append("Kept share of the sounding object's patches under STELLA's selection: "
                   + "; ".join(f"{m} {sel.at[m, snd]} %" for m in models)
                   + f"; a random half {sel.at['a random selection (chance)', snd]} %.")
    means, _ = localization_table(loc, loc["binarisation"].iloc[0])
    col = (TRUTHS["sounding"], "AUC")
    out.append("AUC of each map against the sounding object while it sounds, after the last task: "
               + "; ".join(f"{name} {v:.3f}" for name, v in means[col].items()) + ".")
    out += localization_sentences(claims)
    drift = drift_sentence(claims)
    return out + ([drift] if drift else [])
