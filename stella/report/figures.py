"""Figures of results (chapters 02, 03, 04, 05, 08 and the landing page): each draws one figure.

Every chapter's function draws and shows its figure (so a caption displayed after it follows it) and
leaves the caption to :func:`stella.report.display.caption`, which states what is drawn and from how
many seeds. The book shows a figure at most 676 px wide, so text of ``pt`` points in a figure ``w`` inches
wide reads ``pt * 676 / (72 * w)`` px when ``w`` exceeds the column: widths and font sizes here keep every
text at 9 px or more (:func:`stella.builder.checks.figure_text` measures it). :func:`verdict_bars` (the landing page) returns its figure unshown, for ``myst_nb.glue``.
"""
from __future__ import annotations

import io
import re
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Image
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from stella.report import paper_numbers as paper
from stella.report.claims import VERDICTS
from stella.report.display import VERDICT_CSS
from stella.report.figure_text import tag_png

# The verdict colours of the claims tables (display.VERDICT_CSS), for figures.
VERDICT_COLORS = {v: css.split(";")[0].split(":")[1].strip() for v, css in VERDICT_CSS.items()}


def retrieval_bars(means: pd.DataFrame, stds: pd.DataFrame, paper_means: pd.DataFrame, methods: Sequence[str],
                   ours_title: str, paper_title: str):
    """Avg-recall A per method and direction: ours (error bars = std over seeds) beside the paper's.
    ``means`` / ``stds`` / ``paper_means``: wide tables with ``(direction, "avg", "A")`` columns."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    x = np.arange(len(methods))
    for ax, (tab, err, who) in zip(axes, [(means, stds, ours_title), (paper_means, None, paper_title)]):
        for k, d in enumerate(paper.DIRECTIONS):
            vals = tab[(d, "avg", "A")].reindex(methods)
            e = None if err is None else err[(d, "avg", "A")].reindex(methods).fillna(0)
            ax.bar(x + (k - 0.5) * 0.4, vals, 0.4, yerr=e, label=d, capsize=2)
        ax.set_xticks(x, [paper.label(m) for m in methods], rotation=45, ha="right")
        ax.set_ylabel("avg recall A (%)")
        ax.set_title(who)
        ax.legend()
    fig.suptitle("Average zero-shot retrieval A (mean of R@1/5/10) per method")
    fig.tight_layout()
    plt.show()


def efficiency_bars(eff: pd.DataFrame):
    """Peak training memory stacked by part (activations, parameters, optimiser, extras) and throughput."""
    view = eff.set_index("method")
    parts = ["saved_bytes", "param_bytes", "optimizer_bytes", "extra_bytes"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.8))
    bottom = np.zeros(len(view))
    names = [paper.label(m) for m in view.index]
    for p in parts:
        ax1.bar(names, view[p] / 2**20, bottom=bottom, label=p.replace("_bytes", ""))
        bottom += view[p].to_numpy() / 2**20
    ax1.set_ylabel("MiB")
    ax1.set_title("peak training memory, by part")
    ax1.legend(fontsize=9)
    ax1.tick_params(axis="x", rotation=45)
    ax2.bar(names, view["throughput"], color="tab:green")
    ax2.set_ylabel("samples / s")
    ax2.set_title("throughput")
    ax2.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    plt.show()


def sweep_panels(sweeps: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]]):
    """Chapter 04: STELLA's avg-recall A against the chunk size and beta (error bars = std over seeds)
    and by audio selection mode (bars). ``sweeps``: name -> (means, stds) of :func:`af_table` by variant."""
    fig, axes = plt.subplots(1, 3, figsize=(9.5, 3.4))
    for ax, (name, xl) in zip(axes, [("chunk_size", "time-chunk size L_c"), ("beta", "AVM temperature β")]):
        tab, err = sweeps[name]
        for d in paper.DIRECTIONS:
            ax.errorbar(tab.index.astype(float), tab[f"{d} A"], yerr=err[f"{d} A"].fillna(0), marker="o",
                        label=f"{d} A", capsize=3)
        ax.set_xlabel(xl)
        ax.set_ylabel("avg recall A (%)")
        ax.legend()
    ax = axes[2]
    modes, mode_err = sweeps["audio_mode"]
    x = np.arange(len(modes))
    for k, d in enumerate(paper.DIRECTIONS):
        ax.bar(x + (k - 0.5) * 0.4, modes[f"{d} A"], 0.4, yerr=mode_err[f"{d} A"].fillna(0), capsize=3, label=f"{d} A")
    ax.set_xticks(x, [paper.FIG9B_LABELS.get(v, v) for v in modes.index])
    ax.set_ylabel("avg recall A (%)")
    ax.legend()
    fig.tight_layout()
    plt.show()


def memory_curves(means: pd.DataFrame, stds: pd.DataFrame, methods: Sequence[str], sizes: Sequence[int]):
    """Fig. 5: avg-recall A against the rehearsal memory size, one panel per direction.
    ``means`` / ``stds``: :func:`af_table` by ``("method", "variant")`` (variant = memory size)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, d in zip(axes, paper.DIRECTIONS):
        for m in methods:
            a, e = means.loc[m, f"{d} A"].reindex(sizes), stds.loc[m, f"{d} A"].reindex(sizes)
            ax.errorbar(sizes, a, yerr=e.fillna(0), marker="o", capsize=3, label=paper.label(m))
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.set_xlabel("rehearsal memory size (instances)")
        ax.set_title(d)
        ax.legend(fontsize=9)
    axes[0].set_ylabel("avg recall A (%)")
    fig.tight_layout()
    plt.show()


def downstream_bars(scores: Mapping[str, pd.DataFrame], methods: Sequence[str]):
    """Chapter 08: per method the classification probe, event localisation probe and unseen-class
    retrieval after fine-tuning: bars the mean over seeds, error bars the std over seeds.
    ``scores``: :func:`stella.report.chapters.downstream.per_seed_scores` (rows ``method, seed, value``)."""
    titles = {"classification": "classification accuracy (%)", "event localisation": "event localisation accuracy (%)",
              "unseen retrieval": "unseen-class retrieval, mean R@k (%)"}
    fig, axes = plt.subplots(1, len(scores), figsize=(3.2 * len(scores), 3.6), squeeze=False)
    names = [paper.label(m) for m in methods]
    for ax, (what, rows), colour in zip(axes[0], scores.items(), ("tab:blue", "tab:orange", "tab:green")):
        g = rows.groupby("method")["value"]
        ax.bar(names, g.mean().reindex(methods), yerr=g.std().reindex(methods).fillna(0), capsize=2, color=colour)
        ax.set_title(titles.get(what, what), fontsize=10)
        ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    plt.show()


def png(fig, dpi: int = 150):
    """``fig`` as an IPython PNG image, for ``myst_nb.glue`` (a Figure made without pyplot has no PNG formatter),
    its smallest font size recorded in the PNG (:func:`stella.report.figure_text.tag_png`)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return Image(data=tag_png(fig, buf.getvalue()), format="png")


def verdict_bars(families: pd.DataFrame, titles: Mapping[str, str] | None = None, width: float = 8.0):
    """The landing page's figure: one horizontal bar per family of claims
    (:func:`stella.report.verdicts.family_table`), its comparisons stacked by verdict in the tables'
    colours, grouped under each chapter's title. Returns the Figure, not shown (for ``myst_nb.glue``)."""
    titles = titles or {}
    labels, rows = [], []
    for chapter, part in families.groupby("chapter", sort=False):
        labels.append(titles.get(chapter, chapter))
        rows.append(None)
        for _, r in part.iterrows():
            labels.append(re.sub(r"^(Table|Fig\.) [^:]*: ", "", r["family"]))
            rows.append(r)
    fig = Figure(figsize=(width, 0.8 + 0.24 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    for y, r in enumerate(rows):
        if r is None:
            ax.axhspan(y - 0.5, y + 0.5, color="0.93", lw=0)
            continue
        left = 0
        for v in VERDICTS:
            if r[v]:
                ax.barh(y, r[v], left=left, color=VERDICT_COLORS.get(v, "0.8"), height=0.7)
                left += r[v]
    ax.set_yticks(range(len(rows)), labels, fontsize=9)
    for tick, r in zip(ax.get_yticklabels(), rows):
        tick.set_fontweight("bold" if r is None else "normal")
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("comparisons in the family", fontsize=9)
    ax.tick_params(axis="x", labelsize=9)
    ax.tick_params(axis="y", length=0)

    fig.legend(handles=[Patch(color=VERDICT_COLORS.get(v, "0.8"), label=v) for v in VERDICTS],
               loc="outside lower center", ncol=len(VERDICTS), fontsize=9, frameon=False)
    return fig
