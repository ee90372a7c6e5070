"""The lab path ("Teaching with this book"): the exercises as data, their outcomes computed from the run store.

Each :class:`Exercise` is one papermill command of ``notebooks/lab.ipynb`` (``-p exercise KEY``), a question
to answer before running it, and what it measures: A or F (A→V avg recall, section 5.1) of training runs
(``arms``, one per method or memory size, compared per seed) and/or what the pre-trained AVM and
STELLA's selection find on a task of classes no stage has trained on (``signal``, per clip, from
:func:`stella.report.signal_tables.pretrained_signal`, the measurements chapter 01 keeps in the store).
The book's lab page runs every exercise over the book's seeds; a student's command runs one exercise
over one seed (``-p n_seeds`` for more), with the same configs, so the same seed gives the same runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from stella.continual.pretrain import pretrained_models
from stella.eval.attention import clip_attention_maps, plot_attention
from stella.eval.localization import iou_auc
from stella.eval.signal import sounding_mask
from stella.report.chapter import Setup, Traits, chapter
from stella.report.chapters.ablations import table3_claims
from stella.report.chapters.retrieval import table1_claims
from stella.report.claims import MARGIN, ClaimContext, Comparison, judge, row
from stella.report.display import caption
from stella.report.figure_text import MAX_WIDTH
from stella.report.runs import quiet, run_config, seed_table, seeds_for
from stella.report.signal_tables import clip_sets, pretrained_signal
from stella.report.stats import paired_verdict

DECLARATIONS = {"table1": table1_claims, "table3": table3_claims}   # the chapters' families a lab contrast reads

NOTEBOOK = "notebooks/lab.ipynb"
SIGNAL_CLIPS = "unseen classes"


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: a method, optionally with its memory scaled to a fraction of the preset's."""

    label: str
    method: str
    memory_scale: float | None = None

    def overrides(self, preset: str) -> tuple[str, ...]:
        if self.memory_scale is None:
            return ()
        return (f"continual.memory_size={self.memory_size(preset)}",)

    def memory_size(self, preset: str) -> int:
        m0 = run_config(preset, self.method).continual.memory_size
        return max(1, int(round(m0 * (1.0 if self.memory_scale is None else self.memory_scale))))


@dataclass(frozen=True)
class Exercise:
    """``key`` is the papermill value; ``arms`` are compared on ``value`` (A or F, A→V avg) per seed with each
    pair of ``contrasts`` (first minus second), and the text also on ``also``; ``signal`` ("selection" or "map") adds the per-clip
    measurement of the pre-trained start on unseen classes; ``seconds`` is the command's measured CPU time
    (user + sys, ``/usr/bin/time``) at the cpu preset with one thread, each exercise in a fresh store holding
    only the pre-training stage: about its wall time on an idle 2-core laptop."""

    key: str
    title: str
    objective: str
    question: str
    chapter: str
    seconds: float
    arms: tuple[Arm, ...] = ()
    value: str = "A"
    also: str | None = None
    contrasts: tuple[tuple[int, int], ...] = ()
    signal: str | None = None
    extra: str = ""
    judged_by: tuple[tuple[str, int, int, str, int], ...] = ()  # (measure, i, j, chapter claim key, its sign)

    def ask(self, preset: str) -> str:
        """The question with the preset's numbers filled in."""
        cfg = run_config(preset, "stella")
        return self.question.format(pretrain_classes=cfg.pretrain.classes, memory=cfg.continual.memory_size,
                                    rho=f"{cfg.selection.rho_v:g}")

    def command(self) -> str:
        return f"papermill {NOTEBOOK} lab-{self.key}.ipynb -p exercise {self.key}"

    def runs(self, preset: str, seeds) -> list[tuple[str, int, tuple[str, ...]]]:
        """(method, seed, overrides) of every training run the exercise reads."""
        return [(a.method, s, a.overrides(preset)) for a in self.arms for s in seeds]


EXERCISES: tuple[Exercise, ...] = (
    Exercise("attention", "What the AVM attends to on a class it has never seen",
             "explain what the AVM's cross-attention (Eq. 1-2) measures, and check it against ground truth",
             "The AVM was pre-trained on {pretrain_classes} classes. On a clip of a class it has never seen, will its attention map "
             "find the object that makes the sound? How much better than a random map (AUC against the sounding "
             "object while it sounds), 1x, 2x, 5x?",
             "01_benchmark", 12, signal="map",
             extra="The command also draws the map on one unseen clip: compare the red area with the white outline."),
    Exercise("forgetting", "Forgetting with and without rehearsal",
             "read an accuracy matrix, compute A and F from it, and see catastrophic forgetting and what rehearsal does",
             "Finetune trains on each task in turn; ER and DER++ also replay clips kept in a memory of {memory} clips. "
             "Which forgets more, and by how many %p of F? Does rehearsal also raise A?",
             "02_retrieval", 73, arms=(Arm("Finetune", "finetune"), Arm("ER", "er"), Arm("DER++", "derpp")),
             value="F", also="A", contrasts=((0, 1), (0, 2)),
             judged_by=(("A", 0, 1, "table1.finetune-lower.A→V/er", -1),
                        ("A", 0, 2, "table1.finetune-lower.A→V/derpp", -1)),
             extra="Open chapter 02's section \"The accuracy matrix, drawn\" to see where F comes from."),
    Exercise("memory", "How much memory does rehearsal need?",
             "relate the rehearsal memory's size to what the model retains",
             "ER replays clips from a memory. With no memory (Finetune), a quarter of the default memory and the "
             "default memory, how does A change: steadily, or most of the gain from the first few clips?",
             "05_memory_size", 81, arms=(Arm("no memory (Finetune)", "finetune"), Arm("ER, 1/4 memory", "er", 0.25),
                                          Arm("ER, full memory", "er")),
             value="A", contrasts=((1, 0), (2, 1))),
    Exercise("selection", "STELLA's patch selection against a random one at the same budget",
             "explain LPIS (Eq. 2, 5) and test a claim with a paired comparison over seeds",
             "Both keep the same share of the patches (ρ = {rho}), STELLA the ones the AVM points at, Random any. (a) Which keeps "
             "more of the sounding object? (b) Which reaches the higher A after the four tasks, and would one seed "
             "tell you?",
             "04_ablations", 49, arms=(Arm("Random", "random"), Arm("STELLA", "stella")), value="A",
             contrasts=((1, 0),), signal="selection", judged_by=(("A", 1, 0, "table3.stella-above.A→V/random", 1),)),
)
BY_KEY = {e.key: e for e in EXERCISES}


def defaults(preset: str, p: dict, book: Traits) -> tuple[list[int], list[str]]:
    """Every exercise over the book's seeds, or one exercise (``exercise``) over one seed unless ``n_seeds``."""
    one = p.get("exercise")
    p["exercises"] = [one] if one else [e.key for e in EXERCISES]
    seeds = seeds_for(preset, p.pop("n_seeds", None) or 1) if one else RECORD.seeds_of("outcomes", preset,
                                                                                         p.pop("n_seeds", None))
    return seeds, list(dict.fromkeys(a.method for e in EXERCISES if e.key in p["exercises"] for a in e.arms))


def planned_runs(nb: Setup) -> list:
    return [r for key in nb.options["exercises"] for r in BY_KEY[key].runs(nb.preset, nb.seeds)]


RECORD = chapter("lab", defaults, seeds={"outcomes": "main"}, runs=planned_runs)


def number(ex: Exercise) -> int:
    """The exercise's number on the lab page (1-based)."""
    return EXERCISES.index(ex) + 1


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


@dataclass
class Outcome:
    """What one exercise measured: ``values`` (one row per arm and seed: ``arm``, ``seed``, ``value``), the
    per-clip ``signal`` (columns ``clip``, ``ours``, ``reference``; ``ours`` is STELLA or the AVM map), the
    paired ``contrasts`` and the sentences that state them."""

    exercise: Exercise
    values: pd.DataFrame = field(default_factory=pd.DataFrame)
    contrasts: list[dict] = field(default_factory=list)
    signal: pd.DataFrame | None = None
    sentences: list[str] = field(default_factory=list)
    measures: pd.DataFrame = field(default_factory=pd.DataFrame)     # arm, seed and every measure the sentences quote


SIDE = {"holds": "above zero", "contradicted": "below zero", "inconclusive": "not distinguishable from zero",
        "equivalent": f"within ±{MARGIN:g} %p of zero", "not tested": "not tested"}


def _spread(v: np.ndarray) -> str:
    v = np.asarray(v, float)
    return "1 seed" if len(v) == 1 else f"{v.min():.1f} to {v.max():.1f} over {len(v)} seeds"


def _contrast_sentence(c: dict, unit: str = "%p") -> str:
    """One contrast as the chapters state it: the mean difference, its interval, the Holm-corrected verdict."""
    d = c["diffs"]
    if c["verdict"] == "not tested":
        return f"{c['name']}: {np.mean(d):+.1f} {unit} over {len(d)} seed(s): not tested (fewer than two seeds)"
    return (f"{c['name']}: {np.mean(d):+.1f} {unit} per seed (from {d.min():+.1f} to {d.max():+.1f}; 95 % interval "
            f"[{c['ci_low']:+.1f}, {c['ci_high']:+.1f}]; {c['holm']}: {SIDE[c['verdict']]})")


def _chapter_row(claims: pd.DataFrame, key: str, sign: int) -> dict:
    """The chapter's judged row of ``key``, oriented as the lab's contrast (``sign`` −1: the chapter states it the
    other way round)."""
    r = row(claims, key)
    lo, hi = (r["ci_low"], r["ci_high"]) if sign > 0 else (-r["ci_high"], -r["ci_low"])
    flip = {"holds": "contradicted", "contradicted": "holds"}
    chapter = claims.loc[claims["key"] == key, "chapter"].iloc[0].split("_")[0]
    return {"ci_low": lo, "ci_high": hi, "verdict": r["verdict"] if sign > 0 else flip.get(r["verdict"], r["verdict"]),
            "p": r["p_holm"], "holm": f"Holm over chapter {chapter}'s family of {int(r['family_size'])}, "
                                      f"p = {r['p_holm']:.3f}"}


def run_outcome(ex: Exercise, preset: str, seeds, run_args: dict, ctx: ClaimContext | None = None) -> Outcome:
    """Per seed: each arm's ``ex.value`` (and ``ex.also``; A→V avg, %) and each contrast's paired difference,
    judged by the book's one rule (:func:`stella.report.claims.judge`, Holm over the exercise's contrasts of one
    measure); a contrast a chapter judges (``ex.judged_by``) takes the chapter's verdict at ``ctx``."""
    frames = []
    for arm in ex.arms:
        rows = seed_table(preset, [arm.method], seeds, **{**run_args, "overrides": [*run_args.get("overrides", ()),
                                                                                 *arm.overrides(preset)]})
        rows = rows[(rows["direction"] == "A→V") & (rows["metric"] == "avg")]
        frames.append(pd.DataFrame({"arm": arm.label, "seed": rows["seed"].to_numpy(), "A": rows["A"].to_numpy(float),
                                    "F": rows["F"].to_numpy(float)}))
    table = pd.concat(frames, ignore_index=True)
    out = Outcome(ex, table[["arm", "seed", ex.value]].rename(columns={ex.value: "value"}))
    measures = [ex.value, *([ex.also] if ex.also else [])]
    out.measures = table[["arm", "seed", *measures]]
    pers = {m: table.pivot(index="seed", columns="arm", values=m) for m in measures}
    judged = judge([Comparison(f"{ex.arms[i].label} minus {ex.arms[j].label} ({m})", "lab", f"exercise {ex.key}: {m}",
                               pers[m][ex.arms[i].label], pers[m][ex.arms[j].label], 1, unit="%p",
                               key=f"lab.{ex.key}.{m}/{i}-{j}") for m in measures for i, j in ex.contrasts])
    by_contrast = {(m, i, j): (key, sign) for m, i, j, key, sign in ex.judged_by}
    decided = {}
    if ctx is not None and len(seeds) > 1:        # the declarations that hold each family (Holm is within a family)
        for key in dict.fromkeys(k.split(".")[0] for k, _ in by_contrast.values()):
            decided[key] = judge(DECLARATIONS[key](ctx))
    for k, measure in enumerate(measures):
        per = pers[measure]
        out.sentences.append("; ".join(f"{a.label}{f' ({a.memory_size(preset)} clips)' if a.memory_scale else ''} "
                                       f"{measure} = {per[a.label].mean():.1f} % ({_spread(per[a.label])})"
                                       for a in ex.arms) + " (A→V avg recall, mean over seeds).")
        for i, j in ex.contrasts:
            first, second = ex.arms[i].label, ex.arms[j].label
            r = row(judged, f"lab.{ex.key}.{measure}/{i}-{j}")
            c = {"name": f"{'' if k == 0 else measure + ', '}{first} minus {second}",
                 "diffs": (per[first] - per[second]).to_numpy(), "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                 "verdict": r["verdict"], "p": r["p_holm"],
                 "holm": f"Holm over the exercise's {int(r['family_size'])} contrast(s), p = {r['p_holm']:.3f}"}
            if (measure, i, j) in by_contrast and decided:
                key, sign = by_contrast[(measure, i, j)]
                c.update(_chapter_row(decided[key.split(".")[0]], key, sign))
            out.contrasts.append(c)
            out.sentences.append(_contrast_sentence(c))
    return out


def _boot_ratio(ours: np.ndarray, ref: np.ndarray, draws: int = 1000) -> tuple[float, float]:
    """95 % percentile bootstrap interval over clips of AUC(ours) / AUC(ref) (seeded)."""
    rng = np.random.default_rng(0)
    n = len(ours)
    ratios = []
    for _ in range(draws):
        k = rng.integers(0, n, n)
        ratios.append(iou_auc(ours[k]) / max(iou_auc(ref[k]), 1e-12))
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def signal_outcome(ex: Exercise, preset: str, results_dir: str, device: str = "cpu") -> Outcome:
    """The pre-trained start on every clip of a task of unseen classes: STELLA's kept share of the sounding
    object against a random half (``selection``), or the AVM map's AUC against a random map's (``map``)."""
    cfg = run_config(preset, "stella")
    out = Outcome(ex)
    if cfg.data.dataset != "synthetic":
        out.sentences.append(f"This part needs the synthetic benchmark's unseen classes and ground truth; the "
                             f"`{preset}` preset trains on `{cfg.data.dataset}` data.")
        return out
    sig = pretrained_signal(cfg, results_dir, clip_sets(cfg, continual=False), device)
    sig = sig[sig["clips"] == SIGNAL_CLIPS].reset_index(drop=True)
    if ex.signal == "selection":
        sig = sig.dropna(subset=["kept_sounding_stella", "kept_sounding_random"])
        ours, ref = 100 * sig["kept_sounding_stella"].to_numpy(float), 100 * sig["kept_sounding_random"].to_numpy(float)
        v = paired_verdict(ours, ref)
        out.sentences.append(
            f"On {len(sig)} clips of unseen classes, STELLA's kept half of the video patches holds {ours.mean():.1f} % of "
            f"the sounding object's patches while it sounds, a random half {ref.mean():.1f} %: {v['difference']:+.1f} %p "
            f"per clip (95 % interval over clips [{v['ci_low']:+.1f}, {v['ci_high']:+.1f}]; clips from "
            f"{(ours - ref).min():+.0f} to {(ours - ref).max():+.0f} %p).")
    else:
        sig = sig.dropna(subset=["iou_avm_sounding", "iou_random_sounding"])
        ours, ref = sig["iou_avm_sounding"].to_numpy(float), sig["iou_random_sounding"].to_numpy(float)
        lo, hi = _boot_ratio(ours, ref)
        a, r = iou_auc(ours), iou_auc(ref)
        out.sentences.append(
            f"On {len(sig)} clips of unseen classes, the AVM map's AUC against the sounding object while it sounds is "
            f"{a:.3f}, a random map's {r:.3f}: {a / max(r, 1e-12):.1f}x (95 % bootstrap interval over clips "
            f"{lo:.1f}x to {hi:.1f}x).")
    out.signal = pd.DataFrame({"clip": np.arange(len(sig)), "ours": ours, "reference": ref})
    return out


def outcomes(nb) -> list[Outcome]:
    """The outcome of every exercise of ``nb.options["exercises"]`` over ``nb.seeds`` (runs missing from the store are trained)."""
    result = []
    for key in nb.options["exercises"]:
        ex = BY_KEY[key]
        out = run_outcome(ex, nb.preset, nb.seeds, nb.run_args(), ClaimContext.of(nb)) if ex.arms else Outcome(ex)
        if ex.signal:
            sig = signal_outcome(ex, nb.preset, nb.results_dir, nb.device)
            out.signal, out.sentences = sig.signal, out.sentences + sig.sentences
        result.append(out)
    return result


def outcome_tables(o: Outcome) -> str:
    """The numbers the expected outcome's sentences quote, as Markdown tables: each arm's mean and range over seeds,
    and each contrast's mean, range, 95 % interval, Holm-corrected p and reading. "" for an exercise without arms."""
    if o.measures.empty:
        return ""
    arms = ["| arm | measure | mean (%) | lowest seed | highest seed | seeds |", "|---|---|---|---|---|---|"]
    for m in o.measures.columns[2:]:
        arms += [f"| {arm} | {m} | {v.mean():.1f} | {v.min():.1f} | {v.max():.1f} | {len(v)} |"
                 for arm, v in o.measures.groupby("arm", sort=False)[m]]
    rows = ["| contrast | mean (%p) | lowest seed | highest seed | 95 % interval | Holm-corrected p | reading |",
            "|---|---|---|---|---|---|---|"]
    for c in o.contrasts:
        d = c["diffs"]
        ci = "—" if c["ci_low"] != c["ci_low"] else f"[{c['ci_low']:+.1f}, {c['ci_high']:+.1f}]"
        rows.append(f"| {c['name']} | {np.mean(d):+.1f} | {d.min():+.1f} | {d.max():+.1f} | {ci} | {c['p']:.3f} | "
                    f"{SIDE[c['verdict']]} |")
    return "\n".join(arms) + "\n\n" + "\n".join(rows) + "\n\n"


def exercises_markdown(outs: list[Outcome], preset: str, n_seeds: int) -> str:
    """Every exercise as MyST: objective, command, question and time, then the expected outcome folded
    in a dropdown (predict first), its numbers computed from ``outs``."""
    parts = []
    for o in outs:
        e, k = o.exercise, number(o.exercise)
        how = f"{n_seeds} seed{'s' if n_seeds != 1 else ''} of the runs" if e.arms else ""
        if e.signal:
            how += (" and " if how else "") + "the pre-trained start on a task of unseen classes"
        parts.append(
            f"### Exercise {k}: {e.title}\n\n*Objective:* {e.objective}.\n\n"
            f"```bash\n{e.command()}\n```\n\n"
            f"It takes about {duration(e.seconds)} on a 2-core laptop at the `cpu` preset with one thread per run "
            "(measured CPU time), once the pre-training stage is in the store. Then read `lab-" + e.key + ".ipynb`, "
            "and chapter "
            f"{{doc}}`{e.chapter}` for more.\n\n"
            f"**Predict first.** {e.ask(preset)}\n\n"
            f":::{{dropdown}} Expected outcome ({preset} preset, {how})\n"
            + outcome_tables(o) + "\n".join(f"- {s}" for s in o.sentences) + (f"\n\n{e.extra}" if e.extra else "") + "\n:::\n")
    return "\n".join(parts)


def outcome_figure(outs: list[Outcome]):
    """One panel per exercise: each arm's per-seed value (dots) and mean (bar), or the per-clip signal
    (ours against the reference, one line per clip); the figure, shown."""
    panels = sum(bool(o.exercise.arms) + (o.signal is not None) for o in outs)
    if not panels:
        return None
    cols = min(panels, 3)
    rows = -(-panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(min(3.2 * cols + 0.5, MAX_WIDTH), 3.5 * rows), squeeze=False)
    for ax in axes.flat[panels:]:
        ax.axis("off")
    ax_iter = iter(axes.flat)
    for o in outs:
        e, k = o.exercise, number(o.exercise)
        if e.arms:
            ax = next(ax_iter)
            for x, arm in enumerate(e.arms):
                v = o.values.loc[o.values["arm"] == arm.label, "value"].to_numpy()
                ax.bar(x, v.mean(), color=f"C{x}", alpha=0.35)
                ax.scatter(np.full(len(v), x) + np.linspace(-0.15, 0.15, len(v)), v, color=f"C{x}", s=14, zorder=3)
            ax.set_xticks(range(len(e.arms)), [a.label.replace(", ", ",\n").replace(" (", "\n(") for a in e.arms],
                          fontsize=9)
            ax.set_ylabel(f"{e.value}, A→V avg recall (%)", fontsize=9)
            ax.set_title(f"Exercise {k}: {e.key}", fontsize=10)
        if o.signal is not None:
            ax = next(ax_iter)
            s = o.signal
            label = "STELLA vs random half: kept share of\nthe sounding object (%)" if e.signal == "selection" \
                else "AVM vs random map: IoU with the sounding\nobject per clip (the AUC sums these up)"
            for r in s.itertuples():
                ax.plot([0, 1], [r.reference, r.ours], color="0.6", linewidth=0.6, alpha=0.5)
            ax.scatter(np.zeros(len(s)), s["reference"], color="0.4", s=8)
            ax.scatter(np.ones(len(s)), s["ours"], color="tab:red", s=8)
            ax.set_xticks([0, 1], ["random", "STELLA" if e.signal == "selection" else "AVM map"])
            ax.set_xlim(-0.4, 1.4)
            ax.set_ylabel(label, fontsize=9)
            ax.set_title(f"Exercise {k}: {e.key}, per clip", fontsize=10)
    fig.tight_layout()
    plt.show()
    return fig


def figure_caption(outs: list[Outcome], n_seeds: int) -> str:
    bits = []
    for o in outs:
        k = number(o.exercise)
        if o.exercise.arms:
            bits.append(f"exercise {k}: {o.exercise.value} of each run (dots: {n_seeds} seed(s); bars: their mean)")
        if o.signal is not None:
            bits.append(f"exercise {k}: each of {len(o.signal)} unseen clips (a grey line joins its two values)")
    return "The expected outcomes drawn: " + "; ".join(bits) + "."


def unseen_clip_map(preset: str, results_dir: str, device: str = "cpu", clip: int | None = None):
    """The pre-trained AVM's map (Eq. 2 at β = 1) over the frames of one unseen clip whose sound is on
    in some but not all frames (or clip ``clip``), the sounding object outlined; the figure, shown
    (None for a benchmark without unseen classes and ground truth)."""
    cfg = run_config(preset, "stella")
    if cfg.data.dataset != "synthetic":
        return None
    ds = clip_sets(cfg, continual=False)[SIGNAL_CLIPS]
    with quiet():
        model, avm = pretrained_models(cfg, results_dir, device)
    if clip is None:
        clip = next((i for i in range(len(ds)) if 0 < float(ds[i]["active"].float().mean()) < 0.5), 0)
    item = ds[clip]
    with torch.no_grad():
        amap = clip_attention_maps(model, item["audio"][None].to(device), item["video"][None].to(device),
                                   cfg.video_grid, "avm", avm)[0]
    sounding = sounding_mask(item["mask"][None], item["active"][None])[0]
    fig = plot_attention(item["video"], amap.cpu(), sounding)
    plt.show()
    display(caption(f"The pre-trained AVM's attention map (Eq. 2 importance of the video patches at β = 1, red high) "
                    f"over the {cfg.data.num_frames} frames of clip {clip} of the unseen classes, a class no stage has "
                    "trained on; white outline: the sounding object in the frames where its sound is on."))
    return fig
