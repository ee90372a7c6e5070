"""The short summary at the top of the long chapters (01, 02, 07): a few sentences, each computed from the
numbers it states, with every comparison worded by its interval.

A chapter computes its summary in a cell tagged ``page-summary`` (anywhere in the notebook: usually
last, once everything is measured); the book driver pastes that cell's output under the chapter's
title (:func:`stella.builder.pages.results_first`). Each function returns the lines; :func:`in_short`
shows them as one Markdown block.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from stella.report import paper_numbers as paper


def in_short(lines: Sequence[str]):
    """The summary as Markdown: "**In short.**" and one bullet per line."""
    from IPython.display import Markdown

    return Markdown("**In short.**\n\n" + "\n".join(f"- {line}" for line in lines if line))


def _pair(means: pd.DataFrame, method: str, value: str = "A", metric: str = "avg") -> str:
    """"a / b" of ``method``'s A→V and V→A ``value`` in a wide retrieval table."""
    return " / ".join(f"{means.at[method, (d, metric, value)]:.1f}" for d in paper.DIRECTIONS)


def retrieval_summary(means: pd.DataFrame, refs: pd.DataFrame, claims: pd.DataFrame, rho: pd.DataFrame,
                      preset: str, n_seeds: int) -> list[str]:
    """Chapter 02: the upper and lower bounds against chance and the ceiling, the best continual method and
    STELLA, the verdicts of the paper's orderings and the rank correlation with the paper's table.

    ``means``: the wide table of :func:`stella.report.tables.wide_mean_std` (columns ``(direction, metric,
    A|F)``, one row per method); ``refs``: :func:`stella.report.claims.reference_recalls`; ``claims``: the
    chapter's claims frame (``verdict``); ``rho``: :func:`stella.report.tables.rank_correlation`. The
    continual methods are ranked; a joint method (Multitask, the upper bound) is not."""
    from stella.continual import METHODS

    chance, ceiling = refs["avg"].iloc[0], refs["avg"].iloc[1]
    out = [f"Average recall A (A→V / V→A, %, mean over {n_seeds} seed(s), {preset} preset) lies between chance "
           f"{chance:.1f} and the ceiling {ceiling:.1f}" + "".join(
               f"; {paper.label(m)} reaches {_pair(means, m)}" for m in ("multitask", "finetune") if m in means.index)
           + "."]
    ranked = [m for m in means.index if m in METHODS and not METHODS[m].joint]
    if ranked:
        mean_a = sum(means[(d, "avg", "A")] for d in paper.DIRECTIONS).reindex(ranked) / len(paper.DIRECTIONS)
        best = mean_a.idxmax()
        least = sum(means[(d, "avg", "F")] for d in paper.DIRECTIONS).reindex(ranked).idxmin()
        ours = [m for m in ("stella", "stella+") if m in ranked]
        out.append(f"The highest mean A among the continual methods is {paper.label(best)}'s ({_pair(means, best)})"
                   + "".join(f", {paper.label(m)}'s is {_pair(means, m)}" for m in ours if m != best)
                   + f"; the lowest mean forgetting is {paper.label(least)}'s (F {_pair(means, least, 'F')}); "
                   "the claims below say which differences exceed the seed noise.")
    n = claims["verdict"].value_counts()
    h, c, e, i, t = (int(n.get(v, 0)) for v in ("holds", "contradicted", "equivalent", "inconclusive", "not tested"))
    out.append(f"Of the paper's {len(claims) - t} tested comparisons on these runs ({claims['family'].nunique()} "
               f"families), {h} {'holds' if h == 1 else 'hold'}, {c} {'is' if c == 1 else 'are'} contradicted, {e} "
               f"{'is' if e == 1 else 'are'} equivalent within the margin and {i} {'is' if i == 1 else 'are'} "
               "inconclusive (paired over seeds, Holm within each family; the table at the end)"
               + (f"; {t} {'is' if t == 1 else 'are'} not tested." if t else "."))
    r = rho.set_index("direction")["Spearman rank correlation"]
    if r.notna().any():
        out.append(f"The methods' order by A agrees with the paper's with a Spearman rank correlation of "
                   + " and ".join(f"{r[d]:+.2f} ({d})" for d in paper.DIRECTIONS if d in r.index)
                   + f" over {int(rho['methods'].iloc[0])} methods.")
    return out


def benchmark_summary(tasks: pd.DataFrame, sparsity: pd.DataFrame, sig: pd.DataFrame | None = None,
                      where: str = "unseen classes") -> list[str]:
    """Chapter 01: the benchmark's size, how sparse its correspondence is, and what the pre-trained start
    finds on ``where``, quoting the cells of the chapter's tables (mean ± the 95 % interval over clips)
    and ending with :func:`stella.report.signal_tables.audio_attention_sentence`'s reading.

    ``tasks``: :func:`stella.report.benchmark_tables.tasks_frame`; ``sparsity``: its ``sparsity_frame``;
    ``sig``: the pre-trained start's per-clip measurements (:func:`stella.report.signal_tables.unseen_signal`),
    None when the benchmark has no ground truth."""
    from stella.report import signal_tables as S

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


def localization_summary(selection: pd.DataFrame, maps: pd.DataFrame, loc_sentences: Sequence[str],
                         drift_sentence: str) -> list[str]:
    """Chapter 07: every model's kept share and AVM-map AUC on the continual classes (the pre-trained
    start, STELLA's and each other measured method's final model), then the localisation and drift
    comparisons (:func:`stella.report.localization.localization_sentences`, ``drift_sentence``)."""
    from stella.report.signal_tables import KEPT, TRUTHS

    out = []
    models = [m for m in selection["model"] if m not in ("a random selection (chance)", "target")
              and not m.endswith("top-κ rule")]
    sel, mp = selection.set_index("model"), maps.set_index("model")
    snd, col = KEPT["kept_sounding"], f"AVM map AUC, {TRUTHS['sounding']}"
    if models:
        out.append("Kept share of the sounding object's patches under STELLA's selection: "
                   + "; ".join(f"{m} {sel.at[m, snd]} %" for m in models)
                   + f"; a random half {sel.at['a random selection (chance)', snd]} %.")
        out.append("AUC of the AVM map against the sounding object while it sounds: "
                   + "; ".join(f"{m} {mp.at[m, col]}" for m in models if m in mp.index)
                   + f"; a random map {mp.at['a random map (chance)', col]}.")
    out += [s.removeprefix("Ours, ").capitalize()[0] + s.removeprefix("Ours, ")[1:]
            for s in loc_sentences if not s.startswith("Paper")][:2]
    if drift_sentence:
        out.append(drift_sentence.split("Ours: ", 1)[-1])
    return out
