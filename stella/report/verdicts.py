"""Every claim of the book, from the chapters that declare them, and their summary by family.

Each chapter's report module declares its claims in :data:`stella.report.claims.REGISTRY` (importing
it registers them); this module imports them all, in the book's order, so that chapter 09 ("What
reproduced") and the landing page read one frame: :func:`book_claims`. It never declares a claim
itself, and no chapter module imports it (the registry has no import circle).
"""
from __future__ import annotations

import pandas as pd

from stella.report import ablations, controls, downstream, efficiency_claims, gap, localization, memory_size, retrieval  # noqa: F401
from stella.report.claims import REGISTRY, VERDICTS, ClaimContext, declared, judge

# The chapters that declare claims, in the book's order.
CHAPTERS = ("02_retrieval", "03_efficiency", "04_ablations", "04b_controls", "05_memory_size", "06_modality_gap",
            "07_attention_localization", "08_downstream")


def chapter_claims(chapter: str, ctx: ClaimContext) -> pd.DataFrame:
    """The judged claims ``chapter`` declares (Holm within each of its families): what its page shows."""
    return judge(declared(chapter, ctx))


def book_claims(ctx: ClaimContext) -> pd.DataFrame:
    """Every declared claim at ``ctx``, judged (Holm within each family), in the book's chapter order."""
    missing = [c for c in CHAPTERS if c not in REGISTRY]
    if missing:
        raise RuntimeError(f"chapters without declared claims: {missing}")
    return judge([c for chapter in CHAPTERS for c in declared(chapter, ctx)])


def family_table(claims: pd.DataFrame) -> pd.DataFrame:
    """One row per family: its chapter, how many comparisons, how many of each verdict, and the
    family's verdict read as the paper states it ("every comparison holds" for a family of orderings)."""
    rows = []
    for (chapter, family), part in claims.groupby(["chapter", "family"], sort=False):
        counts = part["verdict"].value_counts()
        tested = part[part["verdict"] != "not tested"]
        if tested.empty:
            overall = "not tested"
        elif (tested["verdict"] == "holds").all() and len(tested) == len(part):
            overall = "holds"
        elif (tested["verdict"] == "contradicted").any():
            overall = "contradicted"
        elif (tested["verdict"] == "equivalent").all():
            overall = "equivalent"
        else:
            overall = "inconclusive"
        rows.append({"chapter": chapter, "family": family, "comparisons": len(part),
                     **{v: int(counts.get(v, 0)) for v in VERDICTS}, "family verdict": overall})
    return pd.DataFrame(rows)
