"""Chapter 07: attention maps over video frames, sound-source localisation against the ground-truth
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
from torch.utils.data import ConcatDataset

from stella.continual import METHODS
from stella.report import paper_numbers as paper
from stella.report.claims import ClaimContext, Comparison, register, versus
from stella.report.display import yes_no
from stella.report.runs import get_run, load_trained, quiet, run_config
from stella.report.signal_tables import TRUTHS

CHAPTER = "07_attention_localization"
METRICS = ["cIoU", "AUC", "mIoU", "pointing"]
SHOWN = ["AUC", "cIoU", "pointing"]


def map_kind(method: str) -> str:
    """"avm" for methods that train the AVM (``needs_avm``: STELLA and its parts), "similarity" otherwise."""
    return "avm" if METHODS[method].needs_avm else "similarity"


def dataset_maps(model, avm, dataset, cfg, kind: str, device: str = "cpu") -> dict[str, torch.Tensor]:
    """:func:`stella.eval.attention_maps` at frame resolution: adds ``frame_maps`` (n, T, H, W)."""
    from stella.eval import attention_maps, upsample_to_frames

    out = attention_maps(model, dataset, cfg.video_grid, kind, avm if kind == "avm" else None,
                         beta=1.0, device=device)
    out["frame_maps"] = upsample_to_frames(out["maps"], (cfg.data.image_size,) * 2)
    return out


def localization_rows(frame_maps: torch.Tensor, masks: torch.Tensor, iou_threshold: float = 0.5,
                      map_threshold: float | str = 0.5, **labels) -> pd.DataFrame:
    """One-row :func:`stella.eval.localization_summary` with label columns."""
    from stella.eval import localization_summary, per_clip_localization

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
    tasks' clips after the last task."""
    with quiet():
        runs = {(m, s): get_run(nb.preset, m, seed=s, overrides=nb.train_overrides, results_dir=nb.results_dir,
                                task_order=nb.task_order) for m in nb.methods for s in nb.seeds}
    from stella.data import build_benchmark

    cfg = run_config(nb.preset, "stella", task_order=nb.task_order)
    bench = build_benchmark(cfg)
    last, task1 = len(bench.tasks), bench.tasks[0].eval
    all_eval = ConcatDataset([t.eval for t in bench.tasks])
    maps = {}
    for (m, s), rd in runs.items():
        kinds = ["avm", "similarity"] if map_kind(m) == "avm" else ["similarity"]
        for after in (1, last):
            model, avm = load_trained(rd, after_task=after, device=nb.device)
            for kind in kinds:
                maps[(m, s, after, kind, "task1")] = dataset_maps(model, avm, task1, cfg, kind, nb.device)
                if after == last:
                    maps[(m, s, after, kind, "all")] = dataset_maps(model, avm, all_eval, cfg, kind, nb.device)
    text = f"{len(runs)} runs ({nb.methods}, seeds {nb.seeds}); {len(task1)} task-1 clips, {len(all_eval)} clips in all"
    return Maps(cfg, bench, last, task1, maps, text, runs)


def signal_measurements(nb, M: Maps, clips: dict) -> pd.DataFrame:
    """Per-clip :func:`stella.eval.signal.signal_frame` rows of the pre-trained start and of each run of
    ``nb.signal_methods`` after the last task, on every clip set of ``clips``
    (:func:`stella.report.signal_tables.clip_sets`); kept beside the weights they measure."""
    from stella.report import signal_tables as S

    runs = {(m, s): get_run(nb.preset, m, seed=s, overrides=nb.train_overrides, results_dir=nb.results_dir,
                            task_order=nb.task_order) for m in nb.signal_methods for s in nb.seeds}
    labels = {m: f"{paper.label(m)} after task {M.last}" + ("" if METHODS[m].needs_avm else " (pre-trained AVM)")
              for m in nb.signal_methods}
    with quiet():
        start = S.pretrained_signal(M.cfg, nb.results_dir, clips, nb.device)
        return pd.concat([start, S.trained_signal(runs, clips, nb.device, labels)], ignore_index=True)


def truths(mp: dict) -> dict[str, torch.Tensor]:
    """Both ground truths of a :func:`dataset_maps` result: the object in every frame (``mask``) and the
    sounding object in the frames where it sounds (:func:`stella.eval.signal.sounding_mask`)."""
    from stella.eval.signal import sounding_mask

    return {TRUTHS["object"]: mp["mask"], TRUTHS["sounding"]: sounding_mask(mp["mask"], mp["active"])}


def plot_task1_attention(M: Maps, methods, seed: int, n_clips: int) -> None:
    """For ``n_clips`` task-1 clips: each method's map after task 1 and after the last task, per frame,
    with the object's outline (white) and, in the frames where it sounds, a green outline."""
    from stella.eval import plot_attention
    from stella.eval.signal import sounding_mask

    frames = M.cfg.data.num_frames
    for j in range(min(n_clips, len(M.task1))):
        item = M.task1[j]
        sounding = sounding_mask(item["mask"][None], item["active"][None])[0]
        rows = [(m, after, map_kind(m)) for m in methods for after in (1, M.last)]
        fig, axes = plt.subplots(len(rows), frames, figsize=(2.2 * frames, 2.1 * len(rows)), squeeze=False)
        for ax_row, (m, after, kind) in zip(axes, rows):
            plot_attention(item["video"], M.maps[(m, seed, after, kind, "task1")]["maps"][j], item["mask"], axes=ax_row)
            for t, ax in enumerate(ax_row):
                if sounding[t].any():
                    ax.contour(sounding[t].float().numpy(), levels=[0.5], colors="lime", linewidths=1.5)
                    ax.set_title(f"frame {t}: sounds", fontsize=8)
            ax_row[0].set_title(f"{m} ({kind}), after task {after}\n{ax_row[0].get_title()}", fontsize=8)
        fig.suptitle(f"task-1 clip {j} (class {item['label']}: {M.bench.class_names[item['label']]}); white: the "
                     "object, green: the object while it sounds", fontsize=9)
        fig.tight_layout()
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
        out.append(t.reindex(columns=[(tr, m) for tr in TRUTHS.values() for m in SHOWN]))
    return out[0], out[1]


def localization_sentences(loc: pd.DataFrame, methods) -> list[str]:
    """STELLA's AVM map against the baselines' similarity maps and the random map, by AUC, per
    binarisation and ground truth."""
    base = [m for m in methods if map_kind(m) == "similarity"]
    out = ["Paper (Fig. 7, 13): STELLA's AVM captures sound sources better than the baselines' similarity maps."]
    for (label, truth), part in loc.groupby(["binarisation", "truth"], sort=False):
        lm = part.groupby(["method", "map"])["AUC"].mean()
        if ("stella", "avm") in lm.index and base:
            b = max(lm[(m, "similarity")] for m in base)
            out.append(f"Ours, {truth}, binarisation {label}: STELLA's AVM AUC {lm[('stella', 'avm')]:.3f} exceeds "
                       f"every baseline's (best {b:.3f}): {yes_no(lm[('stella', 'avm')] > b)}; above the random map "
                       f"({lm[('random map', 'random')]:.3f}): "
                       f"{yes_no(lm[('stella', 'avm')] > lm[('random map', 'random')])}.")
    return out


def drift_frame(M: Maps) -> pd.DataFrame:
    """Rows ``method, map, seed, drift (1 - cos), drift (JS distance)``: task-1 maps after task 1 vs the last."""
    from stella.eval import attention_drift

    rows = []
    for (m, s, after, kind, where), mp in M.maps.items():
        if where == "task1" and after == 1:
            later = M.maps[(m, s, M.last, kind, "task1")]["maps"]
            rows.append({"method": m, "map": kind, "seed": s,
                         "drift (1 - cos)": float(attention_drift(mp["maps"], later, "cosine").mean()),
                         "drift (JS distance)": float(attention_drift(mp["maps"], later, "js").mean())})
    return pd.DataFrame(rows)


def plot_drift(drift: pd.DataFrame) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    lab = drift["method"] + " (" + drift["map"] + ")"
    ax.bar(lab.unique(), drift.groupby(lab, sort=False)["drift (JS distance)"].mean())
    ax.set_ylabel("JS distance, after task 1 vs after task T")
    ax.set_title("attention drift on task-1 clips (lower: attention kept)", fontsize=9)
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    plt.show()


def drift_table(drift: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    g = drift.groupby(["method", "map"], sort=False)[["drift (1 - cos)", "drift (JS distance)"]]
    return g.mean(), g.std()


def drift_sentence(drift: pd.DataFrame) -> str:
    dm = drift.groupby(["method", "map"])["drift (JS distance)"].mean()
    if ("stella", "avm") not in dm.index or ("derpp", "similarity") not in dm.index:
        return ""
    return ("Paper (Fig. 2c-d, 14): DER++'s attention moves to other regions after later tasks while STELLA's stays. "
            f"Ours: STELLA's AVM map drifts less than DER++'s similarity map (JS): "
            f"{yes_no(dm[('stella', 'avm')] < dm[('derpp', 'similarity')])} ({dm[('stella', 'avm')]:.3f} vs "
            f"{dm[('derpp', 'similarity')]:.3f}); comparing like with like, STELLA's own similarity map drifts less "
            f"than DER++'s: {yes_no(dm[('stella', 'similarity')] < dm[('derpp', 'similarity')])} "
            f"({dm[('stella', 'similarity')]:.3f}).")


# --------------------------------------------------------------------------- measured once, the chapter's claims
def measurements(nb, maps: Maps | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(:func:`localization_frame`, :func:`drift_frame`) of the notebook's runs, kept beside its first
    STELLA run (:func:`cached_frame`), so chapter 09 reads what chapter 07 measured; the maps are
    computed (``maps`` or :func:`compute_maps`) only when either frame is missing."""
    from stella import __version__
    from stella.report.runs import cached_frame

    params = {"methods": list(nb.methods), "seeds": list(nb.seeds), "iou": nb.iou_threshold,
              "map_threshold": nb.map_threshold, "task_order": nb.task_order, "device": nb.device,
              "version": __version__}
    made: list[Maps] = [maps] if maps is not None else []
    m = lambda: made[0] if made else made.append(compute_maps(nb)) or made[0]
    rd = get_run(nb.preset, "stella", nb.seeds[0], nb.train_overrides, nb.results_dir, nb.task_order)
    loc = cached_frame(rd, "localization", params,
                       lambda: localization_frame(m(), nb.methods, nb.seeds[0], nb.iou_threshold, nb.map_threshold))
    drift = cached_frame(rd, "attention-drift", params, lambda: drift_frame(m()))
    return loc, drift


@register(CHAPTER)
def localization_claims(ctx: ClaimContext) -> list[Comparison]:
    """Fig. 7 / 13: STELLA's AVM map finds the sound source better than every baseline's map (AUC
    against the sounding object while it sounds; AUC needs no binarisation). Fig. 2 c-d / 14: DER++'s
    attention moves after later tasks while STELLA's stays (JS drift of task-1 maps), under both
    readings of which maps the paper compares (as drawn: STELLA's AVM vs DER++'s similarity map;
    like with like: both similarity maps)."""
    nb = ctx.setup(CHAPTER, seeds=False)
    loc, drift = measurements(nb)
    part = loc[(loc["truth"] == TRUTHS["sounding"]) & (loc["binarisation"] == loc["binarisation"].iloc[0])]
    auc = part.pivot_table(index="seed", columns=["method", "map"], values="AUC", aggfunc="mean")
    auc.columns = [f"{m} ({k})" for m, k in auc.columns]
    show = lambda c: paper.label(c.split(" (")[0]) + (" AVM" if c.endswith("(avm)") else " similarity")
    out = []
    base = [m for m in nb.methods if map_kind(m) == "similarity" and f"{m} (similarity)" in auc.columns]
    if "stella (avm)" in auc.columns:
        out += [versus(f"STELLA's AVM map localises the sounding object better than {paper.label(b)}'s map (AUC)",
                       CHAPTER, "Fig. 7 / 13: STELLA's AVM finds the sound source better than every baseline", auc,
                       "stella (avm)", f"{b} (similarity)", 1, label=show, unit="AUC", margin=None,
                       paper="qualitative (Fig. 7, 13)", chance=float(part.loc[part["method"] == "random map", "AUC"]
                                                                      .mean())) for b in base]
    js = drift.pivot_table(index="seed", columns=["method", "map"], values="drift (JS distance)", aggfunc="mean")
    js.columns = [f"{m} ({k})" for m, k in js.columns]
    fam = "Fig. 2 / 14: STELLA's attention drifts less than DER++'s"
    for ours, reading in (("stella (avm)", "as drawn: STELLA's AVM map vs DER++'s similarity map"),
                          ("stella (similarity)", "like with like: both similarity maps")):
        if {ours, "derpp (similarity)"} <= set(js.columns):
            out.append(versus(f"{show(ours)} map drifts less than DER++'s similarity map on task-1 clips (JS)", CHAPTER,
                              fam, js, ours, "derpp (similarity)", -1, label=show, unit="JS", margin=None,
                              paper="qualitative (Fig. 2, 14)", reading=reading))
    return out
