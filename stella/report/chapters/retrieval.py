"""Chapter 02's claims: Table 1 (default task order) and Table 7 (shuffled task order).

Table 1, section 5.2: "both STELLA and STELLA+ outperform other baselines" in average A of both
directions; the table also ranks STELLA+ above STELLA, STELLA's F below every baseline's, Multitask
above and Finetune below every continual method. Each is one family (one row per other method,
Holm over the family), per direction, on the avg-recall A (F for forgetting).

Table 7, appendix E: "Our method shows competitive or better performance compared to other
baselines" under a shuffled task order: a non-inferiority claim (STELLA's A no more than
:data:`stella.report.claims.MARGIN` below each baseline's), not a superiority claim.
"""
from __future__ import annotations

import pandas as pd

from stella.continual import METHODS
from stella.report import paper_numbers as paper
from stella.report.chapter import Setup, Traits, chapter
from stella.report.chapters.retrieval_matrices import matrix_section  # noqa: F401  (the page draws it: R.matrix_section)
from stella.report.claims import (BASELINES, MARGIN, OURS, ClaimContext, Comparison, continual, not_tested, per_seed,
                                  register, retrieval_scale, versus)
from stella.report.runs import gallery_classes, run_config, seed_table

CHAPTER = "02_retrieval"
TABLE7_METHODS = ("stella", *BASELINES)        # Table 7: STELLA and the baselines under the shuffled task order
SHUFFLED = ("data.task_order=shuffled",)


def defaults(preset: str, p: dict, book: Traits) -> tuple[list[int], list[str]]:
    return RECORD.seeds_of("table1", preset, p.pop("n_seeds", None)), p.pop("methods", None) or list(paper.TABLE1)


def table7_seeds(preset: str) -> list[int]:
    """The seeds of Table 7's runs (shuffled task order): the preset's sweep tier."""
    return RECORD.seeds_of("table7", preset)


def planned_runs(nb: Setup) -> list:
    """Table 1's runs, and Table 7's (shuffled task order) for its claims."""
    return ([(m, s, ()) for m in nb.methods for s in nb.seeds] +
            [(m, s, SHUFFLED) for m in TABLE7_METHODS for s in table7_seeds(nb.preset)])


RECORD = chapter(CHAPTER, defaults, seeds={"table1": "main", "table7": "sweep"}, runs=planned_runs)


def paper_values(task_order: str, direction: str, value: str) -> dict[str, float]:
    """The paper's avg-recall ``value`` (A or F) per method of Table 1 (default order) or Table 7 (shuffled)."""
    t = paper.retrieval_table(task_order, "continual-vs")
    t = t[(t["direction"] == direction) & (t["metric"] == "avg")]
    return dict(zip(t["method"], t[value]))


def _runs(ctx: ClaimContext, task_order: str, methods, seeds=None) -> tuple[pd.DataFrame, dict]:
    nb = ctx.setup(CHAPTER, task_order=task_order, seeds=seeds is None)
    runs = seed_table(ctx.preset, [m for m in methods if m in nb.methods] if seeds is None else list(methods),
                      nb.seeds if seeds is None else seeds, results_dir=ctx.results_dir, task_order=task_order,
                      overrides=nb.train_overrides)
    return runs, retrieval_scale(gallery_classes(ctx.preset, task_order))


def _scale(scale: dict) -> dict:
    return {"chance": scale["chance"], "ceiling": scale["ceiling"]}


@register(CHAPTER)
def table1_claims(ctx: ClaimContext) -> list[Comparison]:
    """Table 1 at the default task order (nothing when the context runs another order)."""
    if ctx.task_order != "default":
        return []
    runs, scale = _runs(ctx, "default", paper.TABLE1)
    reading = {"reading": f"the preset's selection.mask_of: {run_config(ctx.preset, 'stella').selection.mask_of}"}
    out = []
    for d in paper.DIRECTIONS:
        a, f = per_seed(runs, "A", d), per_seed(runs, "F", d)
        pa, pf = paper_values("default", d, "A"), paper_values("default", d, "F")
        base = [b for b in BASELINES if b in a.columns]
        for m in OURS:
            if m in a.columns:
                fam = f"Table 1: {paper.label(m)} outperforms every baseline (A, {d})"
                out += [versus(f"{paper.label(m)} has a higher A than {paper.label(b)} ({d})", CHAPTER, fam, a, m, b, 1,
                               pa[m], pa[b], paper.label, **_scale(scale), **reading,
                               key=f"table1.outperforms.{m}.{d}/{b}") for b in base]
        if set(OURS) <= set(a.columns):
            out.append(versus(f"STELLA+ has a higher A than STELLA ({d})", CHAPTER, "Table 1: STELLA+ above STELLA (A)",
                              a, "stella+", "stella", 1, pa["stella+"], pa["stella"], paper.label, **_scale(scale),
                              key=f"table1.plus-above-stella/{d}"))
        if "stella" in f.columns:
            fam = f"Table 1: STELLA forgets less than every baseline (F, {d})"
            out += [versus(f"STELLA has a lower F than {paper.label(b)} ({d})", CHAPTER, fam, f, "stella", b, -1,
                           pf["stella"], pf[b], paper.label, unit="%p of F", **reading,
                           key=f"table1.forgets-less.{d}/{b}") for b in base]
        cont = continual(a.columns)
        if "multitask" in a.columns:
            fam = f"Table 1: Multitask is the upper bound (A, {d})"
            out += [versus(f"Multitask has a higher A than {paper.label(m)} ({d})", CHAPTER, fam, a, "multitask", m, 1,
                           pa["multitask"], pa[m], paper.label, **_scale(scale), key=f"table1.multitask-upper.{d}/{m}")
                    for m in cont]
        if "finetune" in a.columns:
            fam = f"Table 1: Finetune is the lower bound (A, {d})"
            out += [versus(f"Finetune has a lower A than {paper.label(m)} ({d})", CHAPTER, fam, a, "finetune", m, -1,
                           pa["finetune"], pa[m], paper.label, **_scale(scale), key=f"table1.finetune-lower.{d}/{m}")
                    for m in cont if m != "finetune"]
    return out


@register(CHAPTER)
def table7_claims(ctx: ClaimContext) -> list[Comparison]:
    """Table 7: under the shuffled task order, STELLA is competitive or better than every baseline
    (non-inferiority within the margin), per direction, on its own seeds (:func:`table7_seeds`)."""
    runs, scale = _runs(ctx, "shuffled", TABLE7_METHODS, table7_seeds(ctx.preset))
    out = []
    for d in paper.DIRECTIONS:
        a, pa = per_seed(runs, "A", d), paper_values("shuffled", d, "A")
        fam = f"Table 7: STELLA competitive or better than every baseline, shuffled order (A, {d})"
        out += [versus(f"STELLA's A is at most {MARGIN:g} %p below {paper.label(b)}'s, shuffled order ({d})", CHAPTER,
                       fam, a, "stella", b, 1, pa["stella"], pa[b], paper.label, kind="non-inferiority",
                       reading="task order: shuffled", **_scale(scale), key=f"table7.competitive.{d}/{b}")
                for b in BASELINES if b in a.columns]
    return out


AS_ONLY = "the embedded benchmark has one task grouping (the Continual-VS role); it has no Continual-AS counterpart"


@register(CHAPTER)
def continual_as_claims(ctx: ClaimContext) -> list[Comparison]:
    """Section 5.2's Continual-AS sentence ("STELLA+ exhibits prominent performance advantages, with
    2.59 %p and 3.69 %p"): not tested, with the reason."""
    return [not_tested(f"STELLA+ has a higher A than the best baseline on Continual-AS ({d})", CHAPTER,
                       "Table 1 (Continual-AS): STELLA+ outperforms every baseline", AS_ONLY,
                       paper=f"+{paper.CLAIMS['as_gain_stella+'][d]:.2f} %p over the best baseline",
                       key=f"table1-as.plus-outperforms/{d}")
            for d in paper.DIRECTIONS]


def _pair(means: pd.DataFrame, method: str, value: str = "A", metric: str = "avg") -> str:
    """"a / b" of ``method``'s A→V and V→A ``value`` in a wide retrieval table, as the tables show them."""
    return " / ".join(f"{means.at[method, (d, metric, value)]:.2f}" for d in paper.DIRECTIONS)


def _leaders(means: pd.DataFrame, ranked: list[str], value: str, best) -> str:
    """Per direction, the ranked method the tables mark best on ``value`` (``best``: idxmax or idxmin), with its value."""
    parts = []
    for d in paper.DIRECTIONS:
        col = means[(d, "avg", value)].reindex(ranked)
        m = best(col)
        parts.append(f"{paper.label(m)}'s in {d} ({col[m]:.2f})")
    return " and ".join(parts)


def page_summary(means: pd.DataFrame, refs: pd.DataFrame, claims: pd.DataFrame, rho: pd.DataFrame,
                 preset: str, n_seeds: int) -> list[str]:
    """Chapter 02: the upper and lower bounds against chance and the ceiling, the best continual method per
    direction (the table's bold) and STELLA, the verdicts of the paper's orderings and the rank correlation with
    the paper's table; every number as a table of the page shows it.

    ``means``: the wide table of :func:`stella.report.tables.wide_mean_std` (columns ``(direction, metric,
    A|F)``, one row per method); ``refs``: :func:`stella.report.claims.reference_recalls`; ``claims``: the
    chapter's claims frame (``verdict``); ``rho``: :func:`stella.report.tables.rank_correlation`. The
    continual methods are ranked; a joint method (Multitask, the upper bound) is not."""
    chance, ceiling = refs["avg"].iloc[0], refs["avg"].iloc[1]
    out = [f"Average recall A (A→V / V→A, %, mean over {n_seeds} seed(s), {preset} preset) lies between chance "
           f"{chance:.2f} and the ceiling {ceiling:.2f}" + "".join(
               f"; {paper.label(m)} reaches {_pair(means, m)}" for m in ("multitask", "finetune") if m in means.index)
           + "."]
    ranked = [m for m in means.index if m in METHODS and not METHODS[m].joint]
    if ranked:
        ours = [m for m in ("stella", "stella+") if m in ranked]
        out.append(f"Among the continual methods the highest A is {_leaders(means, ranked, 'A', pd.Series.idxmax)}"
                   + "".join(f"; {paper.label(m)}'s A is {_pair(means, m)}" for m in ours)
                   + f"; the lowest F is {_leaders(means, ranked, 'F', pd.Series.idxmin)}"
                   + "".join(f"; {paper.label(m)}'s F is {_pair(means, m, 'F')}" for m in ours)
                   + ". The claims below say which differences exceed the seed noise.")
    n = claims["verdict"].value_counts()
    h, c, e, i, t = (int(n.get(v, 0)) for v in ("holds", "contradicted", "equivalent", "inconclusive", "not tested"))
    out.append(f"Of the paper's {len(claims) - t} tested comparisons on these runs ({claims['family'].nunique()} "
               f"families), {h} {'holds' if h == 1 else 'hold'}, {c} {'is' if c == 1 else 'are'} contradicted, {e} "
               f"{'is' if e == 1 else 'are'} equivalent within the margin and {i} {'is' if i == 1 else 'are'} "
               "inconclusive (paired over seeds, Holm within each family; the table at the end)"
               + (f"; {t} {'is' if t == 1 else 'are'} not tested." if t else "."))
    r = rho.set_index("direction")["Spearman rank correlation"]
    if r.notna().any():
        out.append("The methods' order by A agrees with the paper's with a Spearman rank correlation of "
                   + " and ".join(f"{r[d]:+.2f} ({d})" for d in paper.DIRECTIONS if d in r.index)
                   + f" over {int(rho['methods'].iloc[0])} methods.")
    return out
