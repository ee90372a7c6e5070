"""The accuracy matrix acc[t, i] drawn: a heatmap per method with A and F read off it, and forgetting over time.

Section 5.1 defines both continual-learning numbers of Table 1 on one matrix: acc[t, i] is the
retrieval recall on task i's evaluation clips after training on task t (rows: tasks learned,
columns: tasks evaluated), A = mean_i acc[T, i] is the mean of its last row and
F = 1/(T-1) sum_{i<T} max_{i<=t<T} (acc[t, i] - acc[T, i]) the mean drop of each earlier column
from its best value to its last row (:mod:`stella.eval.metrics`). Each run keeps every evaluation
in ``results.json`` (:mod:`stella.eval.run_eval`); :func:`run_matrices` reads one matrix per seed.

- :func:`read_off`: A and F of a matrix, and which entries they use (the last row, each column's best).
- :func:`accuracy_heatmaps`: one panel per method of the seed-mean matrix, A's row framed, F's maxima marked.
- :func:`forgetting_curves`: each earlier task's recall as the later tasks are learned, per method, mean ± std.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from stella.continual import METHODS
from stella.eval.metrics import average_accuracy, forgetting
from stella.eval.retrieval import accuracy_matrices
from stella.eval.run_eval import retrieval_frame
from stella.report import paper_numbers as paper
from stella.report.display import caption
from stella.report.figure_text import MAX_WIDTH
from stella.report.runs import get_run

RECALLS = ("R@1", "R@5", "R@10")


def run_matrix(results: list[dict], direction: str = "A→V", metric: str = "avg") -> np.ndarray:
    """acc (T, T) in % of one run's ``results.json`` rows for ``direction`` and ``metric``."""
    mats = accuracy_matrices(retrieval_frame(results))
    if (direction, metric) not in mats:
        raise ValueError(f"no ({direction!r}, {metric!r}) rows in the run's results (have: {sorted(mats)})")
    return mats[(direction, metric)]


def run_matrices(preset: str, methods: Iterable[str], seeds: Iterable[int], direction: str = "A→V",
                 metric: str = "avg", results_dir: str = "results", task_order: str | None = None,
                 overrides: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """method -> acc (S, T, T), one matrix per seed, from the store (a missing run is trained).
    Joint methods (Multitask: one stream task, evaluated once) have no matrix and are left out."""
    out = {}
    for m in methods:
        if METHODS[m].joint:
            continue
        out[m] = np.stack([run_matrix(get_run(preset, m, s, overrides, results_dir, task_order).load_json("results"),
                                      direction, metric) for s in seeds])
    return out


def read_off(acc: np.ndarray) -> dict:
    """A, F and where they come from: ``last`` (acc[T, :], A's row), ``best`` (per earlier column i,
    the row t in [i, T-1) of its best value) and ``drops`` (best - last per earlier column, F's terms)."""
    a = np.asarray(acc, dtype=float)
    T = a.shape[0]
    best = np.array([i + int(np.argmax(a[i:T - 1, i])) for i in range(T - 1)], dtype=int)
    drops = np.array([a[best[i], i] - a[T - 1, i] for i in range(T - 1)])
    return {"A": average_accuracy(a), "F": forgetting(a) if T > 1 else float("nan"), "last": a[-1].copy(),
            "best": best, "drops": drops}


def table_forgetting(recalls: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, float]:
    """The tables' F of the avg recall per method: for each seed the mean of the F of R@1, R@5 and R@10 (as the
    paper's Table 1 prints it, :func:`stella.eval.retrieval.summarize`), then the mean over seeds.
    ``recalls``: metric -> method -> (S, T, T)."""
    methods = next(iter(recalls.values())).keys()
    return {m: float(np.mean([np.mean([forgetting(recalls[k][m][s]) for k in recalls])
                              for s in range(len(recalls[next(iter(recalls))][m]))])) for m in methods}


def af_read_off(matrices: Mapping[str, np.ndarray], table_f: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Per method: A and F read off the seed-mean matrix, A as the tables report it (the mean over seeds, equal
    since A is linear) and, given ``table_f`` (:func:`table_forgetting`), the tables' F. F read off the drawn
    matrix is at most the tables' F: a maximum of means never exceeds the mean of maxima."""
    rows = []
    for m, stack in matrices.items():
        mean = read_off(stack.mean(0))
        rows.append({"method": m, "seeds": len(stack), "A (mean matrix)": mean["A"], "F (mean matrix)": mean["F"],
                     "A (tables)": float(np.mean([read_off(s)["A"] for s in stack])),
                     "F (tables)": float("nan") if table_f is None else table_f[m]})
    return pd.DataFrame(rows)


def accuracy_heatmaps(matrices: Mapping[str, np.ndarray], direction: str = "A→V", cols: int = 3,
                      panel: float = 2.6):
    """One heatmap per method of its seed-mean acc[t, i] (rows: after task t, columns: task i), in %.

    Entries above the diagonal (a task evaluated before it is learned) are pale: A and F never
    read them. The last row is framed (A = its mean); in each earlier column the best value up to
    the second-last row is circled (F = the mean of circled - last). Each panel's title states the
    A and F read off the drawn matrix. Returns the figure, shown."""
    names = list(matrices)
    if not names:
        raise ValueError("accuracy_heatmaps: no matrices")
    means = {m: np.asarray(matrices[m], dtype=float).mean(0) for m in names}
    vmax = max(float(np.nanmax(a)) for a in means.values())
    cols = min(cols, len(names), int((MAX_WIDTH - 0.9) // panel))     # the book's column: text stays readable
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(panel * cols + 0.9, panel * rows + 0.5), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for k, (ax, m) in enumerate(zip(axes.flat, names)):
        a = means[m]
        T = a.shape[0]
        im = ax.imshow(a, cmap="viridis", vmin=0.0, vmax=vmax)
        ax.imshow(np.where(np.triu(np.ones_like(a), 1) > 0, 1.0, np.nan), cmap="Greys", vmin=0, vmax=1.4, alpha=0.75)
        r = read_off(a)
        for t in range(T):
            for i in range(T):
                pale = i > t
                ax.text(i, t, f"{a[t, i]:.0f}", ha="center", va="center", fontsize=9,
                        color="0.45" if pale else ("black" if a[t, i] > 0.6 * vmax else "white"))
        ax.add_patch(plt.Rectangle((-0.5, T - 1.5), T, 1, fill=False, edgecolor="tab:red", linewidth=2))
        for i, t in enumerate(r["best"]):
            ax.add_patch(plt.Circle((i, t), 0.42, fill=False, edgecolor="tab:orange", linewidth=1.6))
        ax.set_xticks(range(T), [str(i + 1) for i in range(T)])
        ax.set_yticks(range(T), [str(t + 1) for t in range(T)])
        ax.set_xlabel("task evaluated i")
        if k % cols == 0:
            ax.set_ylabel("after learning task t")
        ax.set_title(f"{paper.label(m)}\nA = {r['A']:.1f}, F = {r['F']:.1f}", fontsize=10)
    fig.colorbar(im, ax=axes, shrink=0.8, label=f"{direction} avg recall (%)")
    plt.show()
    return fig


def forgetting_curves(matrices: Mapping[str, np.ndarray], direction: str = "A→V",
                      reference: Mapping[str, float] | None = None, panel: float = 2.5):
    """Each earlier task's recall as later tasks are learned: one panel per task i < T, x = tasks learned
    (t = i .. T), one line per method, the mean over seeds with a ±1 std band. ``reference`` adds
    horizontal lines (label -> recall %: the first dashed, the second dotted). Returns the figure, shown."""
    names = list(matrices)
    if not names:
        raise ValueError("forgetting_curves: no matrices")
    T = np.asarray(matrices[names[0]]).shape[-1]
    if T < 2:
        raise ValueError("forgetting_curves: needs at least 2 tasks")
    fig, axes = plt.subplots(1, T - 1, figsize=(min(panel * (T - 1) + 0.8, MAX_WIDTH), panel + 1.1), sharey=True,
                             squeeze=False, layout="constrained")
    for i, ax in enumerate(axes[0]):
        x = np.arange(i, T) + 1
        for k, m in enumerate(names):
            stack = np.asarray(matrices[m], dtype=float)[:, i:, i]
            mu, sd = stack.mean(0), stack.std(0, ddof=1) if len(stack) > 1 else np.zeros(stack.shape[1])
            ax.plot(x, mu, marker="o", color=f"C{k}", label=paper.label(m))
            ax.fill_between(x, mu - sd, mu + sd, color=f"C{k}", alpha=0.15, linewidth=0)
        for j, (lab, v) in enumerate((reference or {}).items()):
            ax.axhline(v, color="0.35", linestyle=("--", ":", "-.")[j % 3], linewidth=1.2, label=lab if i == 0 else None)
        ax.set_xticks(range(1, T + 1))
        ax.set_xlim(0.7, T + 0.3)
        ax.set_xlabel("tasks learned so far")
        ax.set_title(f"recall on task {i + 1}", fontsize=10)
    axes[0, 0].set_ylabel(f"{direction} avg recall (%)")
    handles = axes[0, 0].get_legend_handles_labels()
    fig.legend(*handles, loc="outside lower center", ncol=min(len(handles[0]), 5), frameon=False, fontsize=9)
    plt.show()
    return fig


def curve_sentence(matrices: Mapping[str, np.ndarray], task: int = 0) -> str:
    """How much of task ``task``'s best recall each method keeps at the end, as a sentence (numbers computed)."""
    parts = []
    for m, stack in matrices.items():
        col = np.asarray(stack, dtype=float).mean(0)[:, task]
        peak = col[task:].max()
        parts.append(f"{paper.label(m)} {col[task]:.1f} % right after learning it, {col[-1]:.1f} % at the end "
                     f"({col[-1] - peak:+.1f} %p from its best)")
    return f"Task {task + 1}'s recall (mean over seeds): " + "; ".join(parts) + "."


def heatmap_caption(read: pd.DataFrame, direction: str = "A→V") -> str:
    """The heatmaps' caption, with the F read off each mean matrix beside the tables' F (:func:`af_read_off`)."""
    pairs = ", ".join(f"{paper.label(r['method'])} {r['F (mean matrix)']:.1f} against {r['F (tables)']:.1f}"
                      for _, r in read.iterrows())
    return (f"The accuracy matrix acc[t, i] of each method, {direction} avg recall in %, the mean over seeds: row t "
            "is the evaluation after learning task t, column i the task evaluated. Pale entries (a task evaluated "
            "before it is learned) enter neither number. A is the mean of the framed last row; F is the mean, over "
            "every column but the last, of the drop from the circled best value to the last row. Read off the drawn "
            "matrix, A equals the tables' A, while F is at most the tables' F "
            f"({pairs}): the tables' F of the avg recall is the mean of the F of R@1, R@5 and R@10 (as the paper's "
            "Table 1 prints it), averaged over the seeds, and a maximum of means never exceeds the mean of maxima.")


def curves_caption(curves: Mapping[str, np.ndarray], direction: str = "A→V") -> str:
    names = [paper.label(m) for m in curves]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    return (f"Each earlier task's {direction} avg recall (%) as the later tasks are learned, for {listed}: the mean "
            "over seeds, the band ±1 std over seeds; dashed: chance (a random ranking of the gallery), dotted: the "
            "ceiling (perfect class knowledge). " + curve_sentence(curves))


def matrix_section(preset: str, nb, scale: Mapping[str, float], heat: Iterable[str] = ("finetune", "er", "derpp", "stella"),
                   curves: Iterable[str] = ("finetune", "derpp", "stella"), direction: str = "A→V") -> None:
    """Chapter 02's section: the heatmaps of ``heat`` and the forgetting curves of ``curves`` (the methods of
    ``nb.methods`` among them, ``nb``'s seeds and store), each followed by its computed caption.
    ``scale`` holds ``chance`` and ``ceiling`` (:func:`stella.report.claims.retrieval_scale`)."""
    mats = run_matrices(preset, [m for m in heat if m in nb.methods], nb.seeds, direction, **nb.run_args())
    if not mats:
        return
    accuracy_heatmaps(mats, direction)
    recalls = {k: run_matrices(preset, list(mats), nb.seeds, direction, k, **nb.run_args()) for k in RECALLS}
    display(caption(heatmap_caption(af_read_off(mats, table_forgetting(recalls)), direction), nb.n))
    lines = {m: mats[m] for m in curves if m in mats} or mats
    forgetting_curves(lines, direction, reference={"chance": scale["chance"], "ceiling": scale["ceiling"]})
    display(caption(curves_caption(lines, direction), nb.n))
