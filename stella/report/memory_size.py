"""Chapter 05: avg-recall A by rehearsal memory size (Fig. 5) and its claim.

Section 5.2 on Fig. 5: "Our methods consistently surpass other baselines, underscoring their
effectiveness in adapting to diverse memory constraints." Encoded per memory size as one family
(STELLA and STELLA+ each against each baseline the chapter runs, Holm over the family), on the
mean of both directions' avg-recall A per seed. The paper draws Fig. 5 as a plot only, and states
nothing about how A grows with the memory, so no such claim is made here.
"""
from __future__ import annotations

import pandas as pd

from stella.report import paper_numbers as paper
from stella.report.claims import ClaimContext, Comparison, per_seed, register, retrieval_scale, versus
from stella.report.runs import seed_table

CHAPTER = "05_memory_size"


def memory_runs(nb) -> pd.DataFrame:
    """:func:`seed_table` of the chapter's methods at every memory size (``variant`` = the size)."""
    return seed_table(nb.preset, nb.methods, nb.seeds, **nb.run_args(),
                      variants={size: [f"continual.memory_size={size}"] for size in nb.memory_sizes})


@register(CHAPTER)
def memory_claims(ctx: ClaimContext) -> list[Comparison]:
    from stella.report.runs import gallery_classes

    nb = ctx.setup(CHAPTER, seeds=False)
    runs = memory_runs(nb)
    scale = retrieval_scale(gallery_classes(ctx.preset, ctx.task_order))
    ours = [m for m in paper.OURS if m in nb.methods]
    base = [m for m in nb.methods if m not in paper.OURS]
    out = []
    for size in nb.memory_sizes:
        a = per_seed(runs[runs["variant"] == size], "A")
        fam = f"Fig. 5: STELLA and STELLA+ surpass the baselines at memory size {size}"
        out += [versus(f"{paper.label(m)} has a higher A than {paper.label(b)} at memory size {size} (mean of both "
                       "directions)", CHAPTER, fam, a, m, b, 1, label=paper.label, paper="a plot only (Fig. 5)",
                       chance=scale["chance"], ceiling=scale["ceiling"]) for m in ours for b in base]
    return out
