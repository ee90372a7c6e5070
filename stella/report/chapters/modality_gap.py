"""Chapter 06, the modality gap: the gap after each task (Fig. 6 left, 10b, 12a), its decline (Fig. 10a, 12b)
and the UMAP view of the first task's embeddings (Fig. 6 right, 11).

The gap matrix g[t, i] (gap of task i's evaluation embeddings after task t) is part of every
run's ``results.json``; nothing here trains beyond what :func:`get_run` finds missing.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from stella.data import build_benchmark
from stella.eval import extract_embeddings, gap_decline, modality_gap, umap_2d
from stella.eval.run_eval import gap_matrix
from stella.report import paper_numbers as paper
from stella.report.chapter import Traits, chapter
from stella.report.chapters.retrieval import AS_ONLY
from stella.report.claims import ClaimContext, Comparison, not_tested, register, versus
from stella.report.display import yes_no
from stella.report.paper_numbers import BASELINES, OURS
from stella.report.runs import get_run, load_trained, quiet, run_config

CHAPTER = "06_modality_gap"
METHODS = ("finetune", "er", "derpp", "esmer", "stella", "stella+", "lpis", "rca")   # Fig. 6 / 10 / 12


def defaults(preset: str, p: dict, book: Traits) -> tuple[list[int], list[str]]:
    methods = p.pop("methods", None) or (["finetune", "esmer", "stella"] if book.quick else list(METHODS))
    p.setdefault("umap_methods", ["esmer", "stella"])
    p.setdefault("umap_task", 1)
    return RECORD.seeds_of("gap", preset, p.pop("n_seeds", None)), methods


RECORD = chapter(CHAPTER, defaults, seeds={"gap": "sweep"},
                 runs=lambda nb: [(m, s, ()) for m in dict.fromkeys([*nb.methods, *nb.options["umap_methods"]])
                                  for s in nb.seeds])


def gap_curve(g: np.ndarray) -> np.ndarray:
    """Fig. 6 left from a gap matrix g[t, i]: mean gap over the tasks seen so far (i <= t) per t."""
    g = np.asarray(g, float)
    return np.array([np.nanmean(g[t, :t + 1]) for t in range(g.shape[0])])


def gap_long(g: np.ndarray, **labels) -> pd.DataFrame:
    """Tidy rows ``after task (1-based), gap (mean over seen tasks)`` plus label columns."""
    c = gap_curve(g)
    df = pd.DataFrame({"after task": np.arange(1, len(c) + 1), "gap": c})
    for k, v in labels.items():
        df[k] = v
    return df


def gap_runs(nb, methods) -> dict:
    """(method, seed) -> RunDir for every method and seed of the notebook (training progress silenced)."""
    with quiet():
        return {(m, s): get_run(nb.preset, m, seed=s, overrides=nb.train_overrides, results_dir=nb.results_dir,
                                task_order=nb.task_order) for m in dict.fromkeys(methods) for s in nb.seeds}


def gap_curves(runs: dict, methods) -> pd.DataFrame:
    """Rows ``after task, gap, method, seed``: the mean gap over the tasks seen so far, per run."""
    return pd.concat([gap_long(gap_matrix(rd.load_json("results")), method=m, seed=s)
                      for (m, s), rd in runs.items() if m in methods], ignore_index=True)


def declines(runs: dict, methods) -> pd.DataFrame:
    """Rows ``method, seed, gap decline`` (:func:`stella.eval.gap_decline`)."""
    return pd.DataFrame([{"method": m, "seed": s, "gap decline": gap_decline(gap_matrix(rd.load_json("results")))}
                         for (m, s), rd in runs.items() if m in methods])


def plot_curves(curve: pd.DataFrame, n_seeds: int, preset: str) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    curve = curve.assign(method=curve["method"].map(paper.label))
    sns.lineplot(data=curve, x="after task", y="gap", hue="method", style="method", markers=True, dashes=False,
                 errorbar="sd" if n_seeds > 1 else None, ax=ax)
    ax.set_xticks(sorted(curve["after task"].unique()))
    ax.set_ylabel("modality gap (mean over tasks seen)")
    ax.set_title(f"modality gap after each task ({preset}, {n_seeds} seed(s), band: ±1 sd)", fontsize=9)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    plt.show()


def plot_declines(decl: pd.DataFrame, methods, n_seeds: int) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    decl = decl.assign(method=decl["method"].map(paper.label))
    sns.barplot(data=decl, x="method", y="gap decline", errorbar="sd" if n_seeds > 1 else None, ax=ax,
                order=[paper.label(m) for m in methods])
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("mean of g[i,i] - g[T,i] over i < T")
    ax.set_title("average modality-gap decline (positive: the gap of earlier tasks shrank by the end)", fontsize=9)
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    plt.show()


def curve_table(curve: pd.DataFrame, methods) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(means, stds) over seeds of the gap, one row per method, one column per task ("after task t")."""
    g = curve.groupby(["method", "after task"])["gap"]
    means, stds = (getattr(g, f)().unstack("after task").reindex(methods) for f in ("mean", "std"))
    for t in (means, stds):
        t.columns = [f"after task {c}" for c in t.columns]
    return means, stds


def decline_table(decl: pd.DataFrame, methods) -> tuple[pd.DataFrame, pd.DataFrame]:
    g = decl.groupby("method")[["gap decline"]]
    return g.mean().reindex(methods), g.std().reindex(methods)


def umap_panels(nb, runs: dict) -> pd.DataFrame:
    """UMAP (fitted jointly on both modalities) of the ``umap_task``'s evaluation embeddings by each of
    ``umap_methods``' final models (first seed); returns each model's measured gap on those clips."""
    bench = build_benchmark(run_config(nb.preset, "stella", task_order=nb.task_order))
    task = bench.tasks[nb.options["umap_task"] - 1]
    fig, axes = plt.subplots(1, len(nb.options["umap_methods"]), figsize=(4.2 * len(nb.options["umap_methods"]), 3.8), squeeze=False)
    rows = []
    for ax, m in zip(axes[0], nb.options["umap_methods"]):
        model, _ = load_trained(runs[(m, nb.seeds[0])], device=nb.device)
        emb = extract_embeddings(model, task.eval, device=nb.device)
        xy = umap_2d(emb["z_a"], emb["z_v"], seed=0)
        sns.scatterplot(data=xy, x="x", y="y", hue="modality", style="modality", ax=ax, s=25)
        gap = modality_gap(emb["z_a"], emb["z_v"])
        rows.append({"method": m, "task": task.name, "gap (final model)": gap})
        ax.set_title(f"{paper.label(m)}: task {nb.options['umap_task']} ({task.name}), gap {gap:.3f}", fontsize=9)
        ax.set_xlabel("UMAP 1")
        ax.set_ylabel("UMAP 2")
    fig.tight_layout()
    plt.show()
    return pd.DataFrame(rows)


def umap_sentence(umap: pd.DataFrame, seed: int) -> str:
    ug = umap.set_index("method")["gap (final model)"]
    if not {"esmer", "stella"} <= set(ug.index):
        return ""
    return ("Paper (Fig. 6 right, Fig. 11): STELLA keeps a larger gap on the first task's clips than ESMER. "
            f"Ours: {yes_no(ug['stella'] > ug['esmer'])} (STELLA {ug['stella']:.3f}, ESMER {ug['esmer']:.3f}, "
            f"seed {seed}: one run each, no interval).")


# --------------------------------------------------------------------------- the chapter's claims
def _per_seed_gap(runs: dict, methods) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(seed x method of the mean gap over the task sequence, seed x method of |gap decline|)."""
    curve = gap_curves(runs, methods)
    level = curve.groupby(["seed", "method"])["gap"].mean().unstack("method")
    decl = declines(runs, methods)
    return level, decl.assign(d=decl["gap decline"].abs()).pivot_table(index="seed", columns="method", values="d")


@register(CHAPTER)
def gap_claims(ctx: ClaimContext) -> list[Comparison]:
    """Fig. 6 left ("our methods consistently maintain the highest modality gap"), Fig. 10a ("the
    smallest average modality gap difference"), Fig. 12a (LPIS keeps the highest gap of STELLA's
    parts) and Fig. 12b (RCA's gap declines relatively little), paired over the chapter's seeds.
    "Consistently highest" is read as the highest gap averaged over the tasks' ends; a decline is
    compared by its size |decline| (the paper plots the difference)."""
    nb = ctx.setup(CHAPTER, seeds=False)
    level, decline = _per_seed_gap(gap_runs(nb, nb.methods), nb.methods)
    ours = [m for m in OURS if m in level.columns]
    base = [m for m in level.columns if m in BASELINES or m == "finetune"]
    kw = {"label": paper.label, "unit": "gap", "margin": None, "paper": "a plot only"}
    out = []
    for m in ours:
        out += [versus(f"{paper.label(m)} keeps a larger modality gap than {paper.label(b)} (mean over the tasks' ends)",
                       CHAPTER, "Fig. 6: STELLA and STELLA+ keep the highest modality gap", level, m, b, 1,
                       reading="gap averaged over the ends of the tasks", **kw, key=f"fig6.highest-gap/{m}-{b}")
                for b in base]
    if "stella" in decline.columns:
        out += [versus(f"STELLA's modality gap declines less than {paper.label(b)}'s (|decline|)", CHAPTER,
                       "Fig. 10a: STELLA has the smallest modality-gap decline", decline, "stella", b, -1,
                       reading="size of the average decline", **kw, key=f"fig10a.smallest-decline/{b}") for b in base]
    if {"lpis", "rca", "stella"} <= set(level.columns):
        fam = "Fig. 12: LPIS keeps the highest gap, RCA declines little"
        out += [versus(f"LPIS only keeps a larger gap than {paper.label(o)} (mean over the tasks' ends)", CHAPTER, fam,
                       level, "lpis", o, 1, **kw, key=f"fig12/lpis-gap-{o}") for o in ("rca", "stella")]
        out.append(versus("RCA only's gap declines less than LPIS only's (|decline|)", CHAPTER, fam, decline, "rca",
                          "lpis", -1, **kw, key="fig12/rca-decline-lpis"))
    out.append(not_tested("STELLA keeps the highest modality gap after every Continual-AS task", CHAPTER,
                          "Fig. 10b (Continual-AS): STELLA keeps the highest modality gap", AS_ONLY, paper="a plot only",
                          unit="gap", margin=None, key="fig10b-as.highest-gap/stella"))
    return out
