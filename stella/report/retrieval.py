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

from stella.report import paper_numbers as paper
from stella.report.claims import (BASELINES, OURS, ClaimContext, Comparison, continual, per_seed, register,
                                  retrieval_scale, versus)

CHAPTER = "02_retrieval"


def _paper_values(task_order: str, direction: str, value: str) -> dict[str, float]:
    t = paper.retrieval_table(task_order, "continual-vs")
    t = t[(t["direction"] == direction) & (t["metric"] == "avg")]
    return dict(zip(t["method"], t[value]))


def _runs(ctx: ClaimContext, chapter: str, task_order: str, methods) -> tuple[pd.DataFrame, dict]:
    from stella.report.runs import gallery_classes, seed_table

    nb = ctx.setup(chapter, task_order=task_order) if chapter == CHAPTER else ctx.setup(chapter, seeds=False)
    nb_methods = [m for m in methods if m in nb.methods] if chapter == CHAPTER else list(methods)
    runs = seed_table(ctx.preset, nb_methods, nb.seeds, results_dir=ctx.results_dir, task_order=task_order,
                      overrides=nb.train_overrides)
    return runs, retrieval_scale(gallery_classes(ctx.preset, task_order))


def _scale(scale: dict) -> dict:
    return {"chance": scale["chance"], "ceiling": scale["ceiling"]}


@register(CHAPTER)
def table1_claims(ctx: ClaimContext) -> list[Comparison]:
    """Table 1 at the default task order (nothing when the context runs another order)."""
    if ctx.task_order != "default":
        return []
    from stella.report.defaults import TABLE1
    from stella.report.runs import run_config

    runs, scale = _runs(ctx, CHAPTER, "default", TABLE1)
    reading = {"reading": f"the preset's selection.mask_of: {run_config(ctx.preset, 'stella').selection.mask_of}"}
    out = []
    for d in paper.DIRECTIONS:
        a, f = per_seed(runs, "A", d), per_seed(runs, "F", d)
        pa, pf = _paper_values("default", d, "A"), _paper_values("default", d, "F")
        base = [b for b in BASELINES if b in a.columns]
        for m in OURS:
            if m in a.columns:
                fam = f"Table 1: {paper.label(m)} outperforms every baseline (A, {d})"
                out += [versus(f"{paper.label(m)} has a higher A than {paper.label(b)} ({d})", CHAPTER, fam, a, m, b, 1,
                               pa[m], pa[b], paper.label, **_scale(scale), **reading) for b in base]
        if set(OURS) <= set(a.columns):
            out.append(versus(f"STELLA+ has a higher A than STELLA ({d})", CHAPTER, "Table 1: STELLA+ above STELLA (A)",
                              a, "stella+", "stella", 1, pa["stella+"], pa["stella"], paper.label, **_scale(scale)))
        if "stella" in f.columns:
            fam = f"Table 1: STELLA forgets less than every baseline (F, {d})"
            out += [versus(f"STELLA has a lower F than {paper.label(b)} ({d})", CHAPTER, fam, f, "stella", b, -1,
                           pf["stella"], pf[b], paper.label, unit="%p of F", **reading) for b in base]
        cont = continual(a.columns)
        if "multitask" in a.columns:
            fam = f"Table 1: Multitask is the upper bound (A, {d})"
            out += [versus(f"Multitask has a higher A than {paper.label(m)} ({d})", CHAPTER, fam, a, "multitask", m, 1,
                           pa["multitask"], pa[m], paper.label, **_scale(scale)) for m in cont]
        if "finetune" in a.columns:
            fam = f"Table 1: Finetune is the lower bound (A, {d})"
            out += [versus(f"Finetune has a lower A than {paper.label(m)} ({d})", CHAPTER, fam, a, "finetune", m, -1,
                           pa["finetune"], pa[m], paper.label, **_scale(scale)) for m in cont if m != "finetune"]
    return out


@register(CHAPTER)
def table7_claims(ctx: ClaimContext) -> list[Comparison]:
    """Table 7: under the shuffled task order, STELLA is competitive or better than every baseline
    (non-inferiority within the margin), per direction, on its own seeds (:data:`SEEDS` "02_shuffled")."""
    from stella.report.claims import MARGIN

    runs, scale = _runs(ctx, "02_shuffled", "shuffled", ("stella", *BASELINES))
    out = []
    for d in paper.DIRECTIONS:
        a, pa = per_seed(runs, "A", d), _paper_values("shuffled", d, "A")
        fam = f"Table 7: STELLA competitive or better than every baseline, shuffled order (A, {d})"
        out += [versus(f"STELLA's A is at most {MARGIN:g} %p below {paper.label(b)}'s, shuffled order ({d})", CHAPTER,
                       fam, a, "stella", b, 1, pa["stella"], pa[b], paper.label, kind="non-inferiority",
                       reading="task order: shuffled", **_scale(scale)) for b in BASELINES if b in a.columns]
    return out


AS_ONLY = "the embedded benchmark has one task grouping (the Continual-VS role); it has no Continual-AS counterpart"


@register(CHAPTER)
def continual_as_claims(ctx: ClaimContext) -> list[Comparison]:
    """Section 5.2's Continual-AS sentence ("STELLA+ exhibits prominent performance advantages, with
    2.59 %p and 3.69 %p"): not tested, with the reason."""
    from stella.report.claims import not_tested

    return [not_tested(f"STELLA+ has a higher A than the best baseline on Continual-AS ({d})", CHAPTER,
                       "Table 1 (Continual-AS): STELLA+ outperforms every baseline", AS_ONLY,
                       paper=f"+{paper.CLAIMS['as_gain_stella+'][d]:.2f} %p over the best baseline")
            for d in paper.DIRECTIONS]
