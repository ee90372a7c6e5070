"""Figures of results (chapters 02, 03, 04, 05, 08): each draws one figure from the chapter's tables.

Every function draws and shows its figure (so a caption displayed after it follows it) and leaves
the caption to :func:`stella.report.display.caption`, which states what is drawn and from how many seeds.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from stella.report import paper_numbers as paper


def retrieval_bars(means: pd.DataFrame, stds: pd.DataFrame, paper_means: pd.DataFrame, methods: Sequence[str],
                   ours_title: str, paper_title: str):
    """Avg-recall A per method and direction: ours (error bars = std over seeds) beside the paper's.
    ``means`` / ``stds`` / ``paper_means``: wide tables with ``(direction, "avg", "A")`` columns."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
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
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.8))
    bottom = np.zeros(len(view))
    names = [paper.label(m) for m in view.index]
    for p in parts:
        ax1.bar(names, view[p] / 2**20, bottom=bottom, label=p.replace("_bytes", ""))
        bottom += view[p].to_numpy() / 2**20
    ax1.set_ylabel("MiB")
    ax1.set_title("peak training memory, by part")
    ax1.legend(fontsize=8)
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
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    for ax, (name, xl) in zip(axes, [("chunk_size", "time-chunk size L_c"), ("beta", "AVM temperature β")]):
        tab, err = sweeps[name]
        for d in paper.DIRECTIONS:
            ax.errorbar(tab.index.astype(float), tab[f"{d} A"], yerr=err[f"{d} A"].fillna(0), marker="o",
                        label=f"{d} A", capsize=3)
        ax.set_xlabel(xl)
        ax.set_ylabel("avg recall A (%)")
        ax.legend()
    ax = axes[2]
    modes = sweeps["audio_mode"][0]
    x = np.arange(len(modes))
    for k, d in enumerate(paper.DIRECTIONS):
        ax.bar(x + (k - 0.5) * 0.4, modes[f"{d} A"], 0.4, label=f"{d} A")
    ax.set_xticks(x, [paper.FIG9B_LABELS.get(v, v) for v in modes.index])
    ax.set_ylabel("avg recall A (%)")
    ax.legend()
    fig.tight_layout()
    plt.show()


def memory_curves(means: pd.DataFrame, stds: pd.DataFrame, methods: Sequence[str], sizes: Sequence[int]):
    """Fig. 5: avg-recall A against the rehearsal memory size, one panel per direction.
    ``means`` / ``stds``: :func:`af_table` by ``("method", "variant")`` (variant = memory size)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    for ax, d in zip(axes, paper.DIRECTIONS):
        for m in methods:
            a, e = means.loc[m, f"{d} A"].reindex(sizes), stds.loc[m, f"{d} A"].reindex(sizes)
            ax.errorbar(sizes, a, yerr=e.fillna(0), marker="o", capsize=3, label=paper.label(m))
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.set_xlabel("rehearsal memory size (instances)")
        ax.set_title(d)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("avg recall A (%)")
    fig.tight_layout()
    plt.show()


def downstream_bars(classification: pd.Series, events: pd.Series, retrieval: pd.Series, methods: Sequence[str]):
    """Chapter 08: per method the classification probe, event localisation probe and unseen-class
    retrieval after fine-tuning (means over seeds)."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    names = [paper.label(m) for m in methods]
    axes[0].bar(names, classification.reindex(methods))
    axes[0].set_title("classification accuracy (%)")
    axes[1].bar(names, events.reindex(methods), color="tab:orange")
    axes[1].set_title("event localisation accuracy (%)")
    axes[2].bar(names, retrieval.reindex(methods), color="tab:green")
    axes[2].set_title("unseen-class retrieval, mean R@k (%)")
    for ax in axes:
        ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    plt.show()
