"""What the pre-training stage reaches and what the AVM finds against the ground truth (chapters 01, 07).

The per-clip measurements are :func:`stella.eval.signal.signal_frame`'s (definitions there): the
share of the sounding object's video patches, of the object's patches in every frame and of the
active audio patches that STELLA's selection keeps; the AUC of the AVM map against both ground
truths; the share of the AVM's video-query attention on active audio. Here they are computed once
per model and clip set and kept beside the weights they measure (:func:`stella.report.runs.cached_frame`:
in the pre-training stage's directory, or in a run's), then summarised as the book's tables:

* one model (the pre-trained start): mean over clips ± the half-width of the 95 % interval over
  clips (t-interval for means, a seeded bootstrap over clips for the AUC, a dataset-level number);
* trained runs (one per seed): the mean over seeds of each seed's value ± the std over seeds.

The targets of the book (``TARGETS``): the kept half of the video patches holds at least 75 % of the
sounding object's patches (a random half holds 50 %, a perfect one 100 % while the object covers
under half of the patches), likewise for the active audio patches, and the AVM map's AUC is at
least twice the random map's.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Iterable, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown
from scipy import stats
from torch.utils.data import ConcatDataset

from stella import __version__
from stella.continual.pretrain import ensure_pretrained, pretrain_dir, pretrain_log, pretrained_models
from stella.data import unseen_tasks
from stella.eval.localization import iou_auc
from stella.eval.signal import plot_pretrain_curve, signal_frame, signal_summary
from stella.progress import announce
from stella.report.display import caption, details, show
from stella.report.runs import cached_frame, load_trained, quiet
from stella.report.stats import paired_verdict

TARGET_KEPT, TARGET_AUC_RATIO = 75.0, 2.0
# per-clip column prefix -> what a reader sees
KEPT = {"kept_sounding": "sounding object while it sounds (%)", "kept_sounding_area": "its pixels (%)",
        "kept_sounding_majority": "its patches at least half covered (%)",
        "kept_object": "object in every frame (%)", "kept_active": "active audio patches (%)"}
TRUTHS = {"sounding": "sounding object while it sounds", "object": "object in every frame"}


# --------------------------------------------------------------------------- the pre-training stage
def pretrain_stage(cfg, results_dir: str | Path, device: str = "cpu") -> tuple[list[dict], dict] | None:
    """(loss curve rows, summary) of the pre-training stage of ``cfg``, computed once into the store
    (announced to ``stella book``'s terminal like a run) and read back afterwards; None when the
    preset computes no stage (``pretrain.source`` "none" or "checkpoint", see :func:`stage_note`)."""
    d = pretrain_dir(cfg, results_dir)
    if d is None:
        return None
    fields = {"method": "pre-training stage", "seed": cfg.pretrain.seed, "preset": cfg.preset, "changes": [],
              "stored": d is not None and (d / "COMPLETE").exists()}
    announce("run-start", **fields)
    t0 = time.perf_counter()
    with quiet():
        ensure_pretrained(cfg, results_dir, device)
    announce("run-end", **fields, seconds=round(time.perf_counter() - t0, 2))
    return pretrain_log(cfg, results_dir)


def stage_note(cfg) -> str:
    """One sentence for a preset that computes no pre-training stage."""
    p = cfg.pretrain
    if p.source == "checkpoint":
        return (f"At this preset every continual run starts from the weights in `{p.checkpoint}` "
                "(`pretrain.source = checkpoint`); nothing is computed here, so there is no curve to show.")
    return ("At this preset every continual run starts from the random initialisation (`pretrain.source = none`): "
            "there is no pre-training stage.")


def pretrain_table(summary: Mapping[str, float], cfg) -> pd.DataFrame:
    """What the stage is and what it reaches (means over its last 50 steps), beside chance:
    rows ``quantity, reached, chance level`` as display strings."""
    p = cfg.pretrain
    avm = "avm" if "avm_avm" in summary else "joint"
    rows = [("pre-training clips (reserved classes x clips)", f"{summary['clips']} ({p.classes} x {p.clips_per_class})", ""),
            ("backbone steps (the AVM trained alongside: " + ("yes" if p.joint_avm else "no") + ")", f"{p.steps}", ""),
            ("AVM-only steps, backbone frozen", f"{p.avm_steps}", ""),
            ("batch size", f"{p.batch_size}", ""),
            ("wall time (s, the machine that built this page)", f"{summary['seconds']:.0f}", ""),
            ("weights (MB)", f"{summary['weights_bytes'] / 2**20:.1f}", ""),
            ("audio reconstruction loss (Eq. 8)", f"{summary['joint_rec_a']:.3f}", ""),
            ("video reconstruction loss (Eq. 8)", f"{summary['joint_rec_v']:.3f}", ""),
            ("contrastive loss (Eq. 9)", f"{summary['joint_contrastive']:.3f}", f"{math.log(p.batch_size):.3f} = log(batch)"),
            ("AVM matching loss (Eq. 11)", f"{summary[f'{avm}_avm']:.3f}", f"{math.log(2):.3f} = log 2"),
            ("AVM matching accuracy (%)", f"{100 * summary[f'{avm}_avm_acc']:.1f}", "50.0 (half the pairs mismatched)")]
    return pd.DataFrame(rows, columns=["quantity", "reached", "chance level"])


# --------------------------------------------------------------------------- per-clip frames
def clip_sets(cfg, extra_tasks: int = 1, continual: bool = True) -> dict[str, object]:
    """The clips the measurements run on: every clip of ``extra_tasks`` tasks of classes no stage has
    trained on (the synthetic benchmark's :func:`stella.data.unseen_tasks`) and, with ``continual``,
    the evaluation clips of the continual tasks."""
    bench, unseen = unseen_tasks(cfg, extra_tasks)
    out = {"unseen classes": ConcatDataset([d for t in unseen for d in (t.train, t.eval)])}
    if continual:
        out["continual classes (eval)"] = ConcatDataset([t.eval for t in bench.tasks])
    return out


def signal_clips(net, avm, cfg, where, clips: Mapping[str, object], device: str = "cpu", **labels) -> pd.DataFrame:
    """:func:`stella.eval.signal.signal_frame` of the backbone ``net`` and ``avm`` on every clip set, kept in
    ``where`` (a run directory or the pre-training stage's); rows labelled ``clips`` and ``labels``."""
    parts = []
    for name, ds in clips.items():
        params = {"clips": name, "n": len(ds), "selection": dataclasses.asdict(cfg.selection), "device": device,
                  "version": __version__, **labels}
        part = cached_frame(where, "signal", params, lambda ds=ds: signal_frame(net, avm, ds, cfg, device=device))
        parts.append(part.assign(clips=name, **labels))
    return pd.concat(parts, ignore_index=True)


def pretrained_signal(cfg, results_dir: str | Path, clips: Mapping[str, object], device: str = "cpu") -> pd.DataFrame:
    """Per-clip measurements of the pre-trained start (what every run begins with)."""
    with quiet():
        where = ensure_pretrained(cfg, results_dir, device).parent
        model, avm = pretrained_models(cfg, results_dir, device)
    return signal_clips(model, avm, cfg, where, clips, device, model="pre-trained start", seed=cfg.pretrain.seed)


def trained_signal(runs: Mapping[tuple[str, int], object], clips: Mapping[str, object], device: str = "cpu",
                   labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Per-clip measurements of each run ``(method, seed) -> RunDir`` after its last task, with the
    AVM it holds then (a method without ``needs_avm`` keeps the pre-trained AVM, measured on its
    own drifted backbone). ``labels``: method -> the row's name."""
    parts = []
    for (m, s), rd in runs.items():
        model, avm = load_trained(rd, device=device)
        name = (labels or {}).get(m, m)
        parts.append(signal_clips(model, avm, rd.config, rd, clips, device, model=name, seed=s))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- summaries
def _sparse(part: pd.DataFrame, column: str) -> pd.DataFrame:
    """Audio shares count only clips whose active tokens are under half of the clip."""
    return part[part["active_tokens"] < 0.5] if "active" in column else part


def _mean_ci(values: np.ndarray) -> tuple[float, float]:
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if len(v) < 2:
        return (float(v.mean()) if len(v) else float("nan")), float("nan")
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def _auc_ci(ious: np.ndarray, draws: int = 1000) -> tuple[float, float]:
    """AUC and the half-width of its 95 % percentile bootstrap interval over clips (seeded)."""
    rng = np.random.default_rng(0)
    v = np.asarray(ious, float)
    boot = [iou_auc(v[rng.integers(0, len(v), len(v))]) for _ in range(draws)]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return iou_auc(v), float(hi - lo) / 2


def _cell(value: float, spread: float, digits: int = 1) -> str:
    if value != value:
        return "—"
    return f"{value:.{digits}f}" + ("" if spread != spread else f" ± {spread:.{digits}f}")


def _stat(part: pd.DataFrame, measure, digits: int = 1) -> str:
    """``measure(frame of one seed) -> (value, 95 % half-width over clips)``; several seeds: mean ± std over seeds."""
    seeds = [g for _, g in part.groupby("seed", sort=False)]
    if len(seeds) == 1:
        return _cell(*measure(seeds[0]), digits)
    values = np.array([measure(g)[0] for g in seeds])
    return _cell(float(values.mean()), float(values.std(ddof=1)), digits)


def _spread_label(part: pd.DataFrame) -> str:
    n = part["seed"].nunique()
    return f"95 % CI over {len(part)} clips" if n == 1 else f"std over {n} seeds"


def selection_table(sig: pd.DataFrame, clips: str, columns: Iterable[str] = tuple(KEPT), topk: bool = True) -> pd.DataFrame:
    """Kept shares (%) of STELLA's selection per model on one clip set, then a random selection,
    the authors' top-kappa rule (pre-trained start, with ``topk``) and the target; the last column
    says what the ± is."""
    part = sig[sig["clips"] == clips]
    rows = []

    def row(name, frame, method):
        out = {"model": name}
        for c in columns:
            out[KEPT[c]] = _stat(frame, lambda g, c=c: _mean_ci(100 * _sparse(g, c)[f"{c}_{method}"]))
        out["±"] = _spread_label(frame)
        rows.append(out)

    for name, frame in part.groupby("model", sort=False):
        row(name, frame, "stella")
    first = part[part["model"] == part["model"].iloc[0]]
    if topk:
        row(f"{first['model'].iloc[0]}, top-κ rule", first, "topk")
    row("a random selection (chance)", first, "random")
    rows.append({"model": "target", **{KEPT[c]: f"≥ {TARGET_KEPT:.0f}" if c in ("kept_sounding", "kept_active")
                                        else "" for c in columns}, "±": ""})
    return pd.DataFrame(rows)


def map_table(sig: pd.DataFrame, clips: str, rule: str = "") -> pd.DataFrame:
    """AUC of the AVM map and of a random map against both ground truths on one clip set, per model
    (``rule``: "" min-max binarisation, "_median" the LVS median rule)."""
    part = sig[sig["clips"] == clips]
    rows = []
    for name, frame in part.groupby("model", sort=False):
        out = {"model": name}
        for truth, label in TRUTHS.items():
            out[f"AVM map AUC, {label}"] = _stat(frame, lambda g: _auc_ci(g[f"iou_avm_{truth}{rule}"]), 3)
        out["±"] = _spread_label(frame)
        rows.append(out)
    first = part[part["model"] == part["model"].iloc[0]]
    rows.append({"model": "a random map (chance)", **{f"AVM map AUC, {label}": _stat(
        first, lambda g, t=truth: _auc_ci(g[f"iou_random_{t}{rule}"]), 3) for truth, label in TRUTHS.items()},
        "±": _spread_label(first)})
    rows.append({"model": "target", **{f"AVM map AUC, {label}": f"≥ {TARGET_AUC_RATIO:.0f}x the random map's"
                                       for label in TRUTHS.values()}, "±": ""})
    return pd.DataFrame(rows)


def audio_attention_table(sig: pd.DataFrame, clips: str) -> pd.DataFrame:
    """The share (%) of the AVM's video-query attention (Softmax(A_a), beta = 1) on active audio
    patches: averaged over all video queries (what Eq. 2's I_a averages), over the sounding
    object's queries only, and the active patches' share of the clip (chance)."""
    part = sig[sig["clips"] == clips]
    rows = []
    for name, frame in part.groupby("model", sort=False):
        rows.append({"model": name,
                     "all video queries (Eq. 2)": _stat(frame, lambda g: _mean_ci(100 * g["audio_attention_active"])),
                     "the sounding object's queries": _stat(
                         frame, lambda g: _mean_ci(100 * g["audio_attention_active_sounding_queries"])),
                     "chance: active patches' share": _stat(frame, lambda g: _mean_ci(100 * g["active_tokens"])),
                     "±": _spread_label(frame)})
    return pd.DataFrame(rows)


def _paired(part: pd.DataFrame, a: str, b: str, sparse: bool = True) -> dict:
    """``a - b`` (% points) paired per clip for one seed, per seed (of the per-seed means) for several:
    :func:`stella.report.stats.paired_verdict` (mean, 95 % interval, "holds" when above zero). With
    ``sparse``, audio columns count only the clips of :func:`_sparse`."""
    part = _sparse(part, a) if sparse else part
    seeds = [g for _, g in part.groupby("seed", sort=False)]
    if len(seeds) == 1:
        return paired_verdict(100 * part[a], 100 * part[b])
    return paired_verdict([100 * g[a].mean() for g in seeds], [100 * g[b].mean() for g in seeds])


def _reading(d: dict) -> str:
    """A :func:`_paired` result against chance: above, below, not distinguishable; "no clip to measure" without one."""
    if d["difference"] != d["difference"]:
        return "no clip to measure"
    return {"holds": "above chance", "contradicted": "below chance"}.get(d["verdict"], "not distinguishable from chance")


def _versus(d: dict, unit: str = "clips") -> str:
    if d["difference"] != d["difference"]:
        return _reading(d)
    ci = "" if d["ci_low"] != d["ci_low"] else f" [{d['ci_low']:+.1f}, {d['ci_high']:+.1f}]"
    return f"{d['difference']:+.1f} %p{ci} over {d['n_seeds']} {unit}: {_reading(d)}"


VERSUS = {"video: the sounding object's patches kept, STELLA − a random half": ("kept_sounding_stella",
                                                                              "kept_sounding_random", True),
          "video: the object's patches kept (every frame), STELLA − a random half": ("kept_object_stella",
                                                                                     "kept_object_random", True),
          "audio: the active patches kept, STELLA − a random half": ("kept_active_stella", "kept_active_random", True),
          "audio attention on active audio, the sounding object's queries − chance": (
              "audio_attention_active_sounding_queries", "active_tokens", False),
          "audio attention on active audio, all video queries − chance": ("audio_attention_active", "active_tokens",
                                                                          False)}


def _interval(d: dict) -> str:
    if d["difference"] != d["difference"]:
        return "—"
    ci = "" if d["ci_low"] != d["ci_low"] else f" [{d['ci_low']:+.1f}, {d['ci_high']:+.1f}]"
    return f"{d['difference']:+.1f}{ci}"


def versus_table(sig: pd.DataFrame, clips: str) -> pd.DataFrame:
    """Per model on one clip set, each paired difference :func:`signal_sentences` quotes (:data:`VERSUS`, % points
    with the 95 % interval: over clips for one seed, over seeds for several) and its reading against chance."""
    rows = []
    for model, part in sig[sig["clips"] == clips].groupby("model", sort=False):
        unit = "clips" if part["seed"].nunique() == 1 else "seeds"
        for what, (a, b, sparse) in VERSUS.items():
            d = _paired(part, a, b, sparse)
            rows.append({"model": model, "comparison": what, "difference (%p) [95 %]": _interval(d),
                         "over": f"{d['n_seeds']} {unit}", "reading": _reading(d)})
    return pd.DataFrame(rows, columns=["model", "comparison", "difference (%p) [95 %]", "over", "reading"])


def continual_signal_section(sig: pd.DataFrame, n_seeds: int, clips: str = "continual classes (eval)") -> list:
    """Chapter 07's measurements per clip set, for ``display(*...)``: kept shares, map AUCs and the audio attention
    beside chance and the target, the paired differences on ``clips`` and, collapsed, the sentences of
    :func:`signal_sentences` for every model on ``clips``."""
    sets = sig["clips"].unique()
    per = f"{n_seeds} seed(s) per run"
    return [*(show(selection_table(sig, w, topk=False), caption=f"Kept shares (%), {w}: STELLA's selection (empty "
                   f"memory) per model, a random selection (chance) and the target; {per}.") for w in sets),
            *(show(map_table(sig, w), caption=f"AUC of the AVM map against both ground truths, {w}, beside a random "
                   f"map (chance) and the target; {per}.") for w in sets),
            *(show(audio_attention_table(sig, w), caption=f"The share (%) of the AVM's video-query attention on active "
                   f"audio, {w}: all video queries (what Eq. 2 averages), the sounding object's queries, chance; "
                   f"{per}.") for w in sets),
            show(versus_table(sig, clips), caption=f"{clips[0].upper()}{clips[1:]}: the paired differences the "
                 "sentences below quote, STELLA's kept shares minus a random half's and the AVM's audio attention "
                 "minus chance, with the 95 % interval."),
            details(f"What each model's AVM finds on the {clips.split(' (')[0]}, in sentences (computed from the tables "
                    "above)", [s for m in sig["model"].unique() for s in signal_sentences(sig, m, clips)])]


def signal_sentences(sig: pd.DataFrame, model: str, clips: str) -> list[str]:
    """What the AVM of ``model`` localises on ``clips`` and what it does not, in sentences computed
    from the measurements: each share beside a random selection's as a paired difference with its
    95 % interval (over clips for one model, over seeds for several), the targets, and the reason
    the audio side lags when it does."""
    part = sig[(sig["model"] == model) & (sig["clips"] == clips)]
    unit = "clips" if part["seed"].nunique() == 1 else "seeds"
    per_seed = [signal_summary(g) for _, g in part.groupby("seed", sort=False)]
    m = {k: float(np.mean([x[k] for x in per_seed])) for k in per_seed[0]}
    pct = {k: 100 * v for k, v in m.items() if k.startswith(("kept_", "audio_", "active_", "object_"))}
    snd, obj = _paired(part, "kept_sounding_stella", "kept_sounding_random"), _paired(part, "kept_object_stella",
                                                                                        "kept_object_random")
    aud = _paired(part, "kept_active_stella", "kept_active_random")
    reach = lambda x, t: "reached" if x >= t else "missed"
    ratio = m["auc_avm_sounding"] / max(m["auc_random_sounding"], 1e-12)
    ratio_o = m["auc_avm_object"] / max(m["auc_random_object"], 1e-12)
    out = [f"Video ({model}, {clips}): STELLA's kept half holds {pct['kept_sounding_stella']:.1f} % of the sounding "
           f"object's patches while it sounds, a random half {pct['kept_sounding_random']:.1f} % ({_versus(snd, unit)}; "
           f"target {TARGET_KEPT:.0f} %: {reach(pct['kept_sounding_stella'], TARGET_KEPT)}), "
           f"{pct['kept_sounding_area_stella']:.1f} % of its pixels and {pct['kept_sounding_majority_stella']:.1f} % of the "
           f"patches it covers at least half (a patch it only grazes counts as one of its patches above); of the object in every frame, sounding or not, "
           f"{pct['kept_object_stella']:.1f} % (random {pct['kept_object_random']:.1f} %, {_versus(obj, unit)})."]
    if snd["verdict"] == "holds" and snd["difference"] > obj["difference"]:
        out.append("So the AVM points at the object while it sounds, which is what the benchmark's cue marks, "
                   "more than at the object as such in its silent frames.")
    out.append(f"Map: the AVM map's AUC is {m['auc_avm_sounding']:.3f} against the sounding object while it sounds, "
               f"{ratio:.1f}x the random map's {m['auc_random_sounding']:.3f}, and {m['auc_avm_object']:.3f} against "
               f"the object in every frame, {ratio_o:.1f}x the random map's {m['auc_random_object']:.3f} (target "
               f"{TARGET_AUC_RATIO:.0f}x: {reach(ratio, TARGET_AUC_RATIO)}, {reach(ratio_o, TARGET_AUC_RATIO)}).")
    if aud["difference"] != aud["difference"]:
        out.append("Audio: no clip has its sound on in under half of its time tokens, so the audio selection is not measured.")
        return out
    q_all, q_snd, chance = (pct["audio_attention_active"], pct["audio_attention_active_sounding_queries"],
                            pct["active_tokens"])
    att_snd, att_all = attention_versus_chance(part)
    out.append(f"Audio: the kept half of the audio patches holds {pct['kept_active_stella']:.1f} % of the active ones, "
               f"a random half {pct['kept_active_random']:.1f} % ({_versus(aud, unit)}; target {TARGET_KEPT:.0f} %: "
               f"{reach(pct['kept_active_stella'], TARGET_KEPT)}). Eq. 2's audio importance I_a averages the AVM's "
               f"attention Softmax(A_a) over all video queries: the sounding object's queries put {q_snd:.1f} % of it "
               f"on active audio ({_versus(att_snd, unit)}), all video queries together {q_all:.1f} % "
               f"({_versus(att_all, unit)}); chance is {chance:.1f} %, the active patches' share.")
    out.append(audio_attention_sentence(att_snd, att_all, aud["difference"] < snd["difference"]))
    return out


def attention_versus_chance(part: pd.DataFrame) -> tuple[dict, dict]:
    """The AVM's audio attention on active audio minus chance (the active patches' share), % points paired
    per clip (one seed) or per seed: (the sounding object's queries, all video queries), each a
    :func:`stella.report.claims.paired_verdict` result, over every clip of ``part``."""
    return (_paired(part, "audio_attention_active_sounding_queries", "active_tokens", sparse=False),
            _paired(part, "audio_attention_active", "active_tokens", sparse=False))


def attention_reading(sig: pd.DataFrame, model: str, clips: str) -> str:
    """:func:`audio_attention_sentence` of ``model`` on ``clips`` (whether or not the audio selection is measured)."""
    part = sig[(sig["model"] == model) & (sig["clips"] == clips)]
    snd = _paired(part, "kept_sounding_stella", "kept_sounding_random")
    aud = _paired(part, "kept_active_stella", "kept_active_random")
    return audio_attention_sentence(*attention_versus_chance(part), aud["difference"] < snd["difference"])


def audio_attention_sentence(sounding: dict, every: dict, audio_lags: bool) -> str:
    """What the AVM's audio attention has learned, read off the paired intervals against chance of the
    sounding object's queries (``sounding``) and of all video queries (``every``), both
    :func:`stella.report.claims.paired_verdict` results; ``audio_lags``: the audio selection's gain over
    a random half is smaller than the video selection's."""
    if sounding["verdict"] == "holds":
        learned = ("The sounding object's queries attend to the active audio above chance (the interval excludes "
                   "zero): the AVM's audio attention has learned when the sound is on.")
        diluted = every["verdict"] != "holds" or every["difference"] < sounding["difference"] / 2
        if diluted:
            learned += (" Those queries are a minority of the clip's patches, and Eq. 2's average over all queries "
                        f"keeps {every['difference']:+.1f} %p of their {sounding['difference']:+.1f} %p above chance")
            learned += (": this dilution is why the audio selection stays nearer chance than the video selection."
                        if audio_lags else ".")
        return learned
    if sounding["verdict"] == "contradicted":
        return ("The sounding object's queries attend to the active audio below chance (the interval excludes zero "
                "on the other side): the AVM's audio attention points away from the sound.")
    return ("The sounding object's queries attend to the active audio no more than chance within the interval: "
            "the AVM's audio attention has not (measurably) learned when the sound is on.")


# --------------------------------------------------------------------------- chapter 01's sections
def pretraining_section(cfg, results_dir: str | Path, device: str = "cpu") -> list:
    """Chapter 01's pre-training outputs, for ``display(*...)``: the loss curve, its caption and the
    table of what the stage reaches, or one note when the preset computes no stage."""
    stage = pretrain_stage(cfg, results_dir, device)
    if stage is None:
        return [Markdown(stage_note(cfg))]
    fig = plot_pretrain_curve(stage[0])
    plt.close(fig)
    return [fig, caption("The pre-training stage's losses against the step, smoothed over 50 steps: reconstruction "
                         "of the masked audio and video patches (Eq. 8), the contrastive loss (Eq. 9; chance "
                         "log(batch)) and the AVM's matching loss and accuracy (Eq. 11; chance log 2 and 0.5); "
                         "shaded: AVM-only steps, backbone frozen. One stage, drawn with its own fixed seed."),
            show(pretrain_table(stage[1], cfg), caption="What the stage is and what it reaches (losses: mean of its "
                                                        "last 50 steps), beside chance.")]


def unseen_signal(cfg, results_dir: str | Path, device: str = "cpu") -> pd.DataFrame | None:
    """The pre-trained start's per-clip measurements on a task of unseen classes (kept in the store), or
    None when the benchmark has no ground truth (not the synthetic one)."""
    if cfg.data.dataset != "synthetic":
        return None
    return pretrained_signal(cfg, results_dir, clip_sets(cfg, continual=False), device)


def unseen_signal_section(cfg, results_dir: str | Path, device: str = "cpu") -> list:
    """Chapter 01's measurements of the pre-trained start on unseen classes, for ``display(*...)``:
    kept shares, map AUCs and the audio attention, each beside chance and the target, and the
    sentences of :func:`signal_sentences`; one note when the benchmark has no ground truth."""
    sig = unseen_signal(cfg, results_dir, device)
    if sig is None:
        return [Markdown("These measurements need the synthetic benchmark's unseen classes and ground truth; this "
                         f"preset trains on `{cfg.data.dataset}` data.")]
    where = "unseen classes"
    return [show(selection_table(sig, where), caption="Kept shares (%) on unseen classes after pre-training: STELLA's "
                 "selection (LPIS, empty memory), the top-κ rule, a random selection (chance) and the target."),
            show(map_table(sig, where), caption="AUC of the AVM map against the sounding object while it sounds and "
                 "against the object in every frame, beside a random map (chance) and the target."),
            show(audio_attention_table(sig, where), caption="The share (%) of the AVM's video-query attention on "
                 "active audio patches: over all video queries (what Eq. 2 averages), over the sounding object's "
                 "queries only, and chance (the active patches' share of the clip)."),
            show(versus_table(sig, where), caption="The paired differences the sentences below quote: STELLA's kept "
                 "shares minus a random half's and the AVM's audio attention minus chance, with the 95 % interval."),
            Markdown("\n".join(f"- {line}" for line in signal_sentences(sig, "pre-trained start", where)))]
