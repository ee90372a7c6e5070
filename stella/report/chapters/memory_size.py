"""Chapter 05, memory size: avg-recall A by rehearsal memory size (Fig. 5) and its claim.

Section 5.2 on Fig. 5: "Our methods consistently surpass other baselines, underscoring their
effectiveness in adapting to diverse memory constraints." Encoded per memory size as one family
(STELLA and STELLA+ each against each baseline the chapter runs, Holm over the family), on the
mean of both directions' avg-recall A per seed. The paper draws Fig. 5 as a plot only, and states
nothing about how A grows with the memory, so no such claim is made here.
"""
from __future__ import annotations

import pandas as pd

from stella.report import paper_numbers as paper
from stella.report.chapter import Setup, Traits, chapter
from stella.report.claims import ClaimContext, Comparison, per_seed, register, retrieval_scale, versus
from stella.report.runs import gallery_classes, run_config, seed_table

CHAPTER = "05_memory_size"


def defaults(preset: str, p: dict, book: Traits) -> tuple[list[int], list[str]]:
    """ER, DER++, STELLA, STELLA+ at half, one and (unless frugal) twice the preset's memory size."""
    seeds = RECORD.seeds_of("memory", preset, p.pop("n_seeds", None))
    methods = p.pop("methods", None) or ["er", "derpp", "stella", "stella+"]
    if book.quick:
        methods = [m for m in methods if m in ("derpp", "stella+")] or methods[:2]
    m0 = run_config(preset, "er").continual.memory_size
    p["default_memory_size"] = m0
    p["memory_sizes"] = sorted(p.get("memory_sizes") or ([m0 // 2, m0] if book.frugal else [m0 // 2, m0, 2 * m0]))
    return seeds, methods


def planned_runs(nb: Setup) -> list:
    return [(m, s, (f"continual.memory_size={size}",)) for size in nb.options["memory_sizes"]
            for m in nb.methods for s in nb.seeds]


RECORD = chapter(CHAPTER, defaults, seeds={"memory": "sweep"}, runs=planned_runs)


def memory_runs(nb) -> pd.DataFrame:
    """:func:`seed_table` of the chapter's methods at every memory size (``variant`` = the size)."""
    return seed_table(nb.preset, nb.methods, nb.seeds, **nb.run_args(),
                      variants={size: [f"continual.memory_size={size}"] for size in nb.options["memory_sizes"]})


@register(CHAPTER)
def memory_claims(ctx: ClaimContext) -> list[Comparison]:
    nb = ctx.setup(CHAPTER, seeds=False)
    runs = memory_runs(nb)
    scale = retrieval_scale(gallery_classes(ctx.preset, ctx.task_order))
    ours = [m for m in paper.OURS if m in nb.methods]
    base = [m for m in nb.methods if m not in paper.OURS]
    out = []
    for size in nb.options["memory_sizes"]:
        a = per_seed(runs[runs["variant"] == size], "A")
        fam = f"Fig. 5: STELLA and STELLA+ surpass the baselines at memory size {size}"
        out += [versus(f"{paper.label(m)} has a higher A than {paper.label(b)} at memory size {size} (mean of both "
                       "directions)", CHAPTER, fam, a, m, b, 1, label=paper.label, paper="a plot only (Fig. 5)",
                       chance=scale["chance"], ceiling=scale["ceiling"], key=f"fig5.surpass.{size}/{m}-{b}")
                for m in ours for b in base]
    return out
