"""Every claim of the book, from the chapters that declare them, and their summary by family.

Each chapter module declares its claims in :data:`stella.report.claims.REGISTRY`; the chapters that
declare any, in the book's order (:func:`stella.report.chapter.book_order`), are the ones chapter 09
("What reproduced") and the landing page read as one frame: :func:`book_claims`. It never declares a
claim itself.
"""
from __future__ import annotations

import pandas as pd

from stella.report.chapter import book_order, unmet
from stella.report.claims import REGISTRY, VERDICTS, ClaimContext, declared, judge


def claim_chapters() -> list[str]:
    """The chapters that declare claims, in the book's order."""
    return [c for c in book_order() if c in REGISTRY]


def chapter_claims(chapter: str, ctx: ClaimContext) -> pd.DataFrame:
    """The judged claims ``chapter`` declares (Holm within each of its families): what its page shows."""
    return judge(declared(chapter, ctx))


def book_claims(ctx: ClaimContext) -> pd.DataFrame:
    """Every declared claim at ``ctx``, judged (Holm within each family), in the book's chapter order; the
    chapters whose data needs the preset's data lacks (:func:`stella.report.chapter.unmet`) are left out."""
    return judge([c for chapter in claim_chapters() if not unmet(chapter, ctx.preset)
                  for c in declared(chapter, ctx)])


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
