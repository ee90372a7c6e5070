"""What the book reproduces, summarised: the claims of chapter 09 for the landing page.

``what_reproduced(nb)`` is :func:`stella.report.claims.book_claims` at a notebook's settings,
computed once and kept in the run store, so chapter 09 ("What reproduced") and the landing page
show the same verdicts (the Table 2 ratios are measured once, not once per page). The rest turns
that claims frame into what the landing page shows: ``headline`` (how many claims hold, are
contradicted or inconclusive, at which preset and seeds, and how far the best model is above
chance), ``claim_index`` (a Markdown table whose every claim links to its chapter) and
``forest_caption`` (what :func:`stella.report.figures.claims_forest` draws, from how many seeds,
against which chance level).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from stella.report import claims as C
from stella.report import paper_numbers as paper
from stella.report.figures import VERDICT_COLORS

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def report_digest() -> str:
    """A digest of the package's report code: a cached claims frame is recomputed when it changes."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def what_reproduced(nb) -> pd.DataFrame:
    """:func:`book_claims` at the settings of ``nb`` (a :func:`notebook_setup` of chapter 09 or of the
    landing page), kept beside the STELLA run of the first seed (:func:`cached_frame`): the first page
    that asks computes it (training what the store lacks, measuring Table 2), every later one reads it."""
    from stella import __version__
    from stella.report.runs import cached_frame, get_run

    params = {"preset": nb.preset, "seeds": list(nb.seeds), "task_order": nb.task_order, "device": nb.device,
              "efficiency_batches": list(nb.efficiency_batches), "efficiency_steps": nb.efficiency_steps,
              "version": __version__, "report_code": report_digest()}
    rd = get_run(nb.preset, "stella", nb.seeds[0], nb.train_overrides, nb.results_dir, nb.task_order)
    return cached_frame(rd, "book-claims", params, lambda: C.book_claims(
        nb.preset, nb.seeds, nb.results_dir, nb.task_order, nb.device,
        efficiency_batches=nb.efficiency_batches, efficiency_steps=nb.efficiency_steps))


def retrieval_context(nb) -> tuple[pd.DataFrame, dict]:
    """(:func:`chance_context` of ``nb.methods`` over ``nb.seeds``, :func:`retrieval_scale` of the gallery):
    every method's avg-recall A beside chance and the ceiling, from the runs of chapter 02."""
    from stella.report.runs import gallery_classes, seed_table
    from stella.report.tables import af_table

    scale = C.retrieval_scale(gallery_classes(nb.preset, nb.task_order))
    return C.chance_context(*af_table(seed_table(nb.preset, nb.methods, nb.seeds, **nb.run_args())), scale), scale


def chapter_titles(stems: Iterable[str], notebooks: Path = NOTEBOOKS) -> dict[str, str]:
    """stem -> the first ``# heading`` of ``notebooks/<stem>.ipynb`` (the stem where there is none)."""
    titles = {}
    for stem in dict.fromkeys(stems):
        path, title = notebooks / f"{stem}.ipynb", stem
        if path.exists():
            cells = json.loads(path.read_text())["cells"]
            lines = ["".join(c["source"]).splitlines() for c in cells if c["cell_type"] == "markdown"]
            title = next((ln[2:].strip() for cell in lines for ln in cell if ln.startswith("# ")), stem)
        titles[stem] = title
    return titles


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _chapters(stems: Iterable[str]) -> str:
    nums = [s.split("_")[0] for s in dict.fromkeys(stems)]
    return ("chapter " if len(nums) == 1 else "chapters ") + (" and ".join(nums) if len(nums) < 3
                                                              else ", ".join(nums[:-1]) + " and " + nums[-1])


def seeds_phrase(claims: pd.DataFrame) -> str:
    """"3 seeds", or "3 seeds (1 in chapter 04)" where chapters differ, over the paired claims."""
    paired = claims[claims["test"] == C.PAIRED_TEST]
    if paired.empty:
        return "no seeds"
    counts = paired["n_seeds"].astype(int)
    main = int(counts.mode().max())
    rest = {n: _chapters(paired.loc[counts == n, "chapter"]) for n in sorted(set(counts) - {main})}
    extra = "; ".join(f"{n} in {where}" for n, where in rest.items())
    return _plural(main, "seed", "seeds") + (f" ({extra})" if extra else "")


def headline(claims: pd.DataFrame, context: pd.DataFrame, scale: Mapping[str, float], preset: str) -> str:
    """The landing page's sentences (Markdown): the verdict counts at ``preset`` and its seeds, why most
    are inconclusive when they are, and the best retrieval score above chance (``context``:
    :func:`chance_context`, ``scale``: :func:`retrieval_scale`)."""
    n = len(claims)
    counts = claims["verdict"].value_counts()
    holds, contra, inconc = (int(counts.get(v, 0)) for v in ("holds", "contradicted", "inconclusive"))
    text = [f"**At the `{preset}` preset with {seeds_phrase(claims)}, {holds} of the paper's {n} checked claims "
            f"{'holds' if holds == 1 else 'hold'}, {contra} {'is' if contra == 1 else 'are'} contradicted and "
            f"{inconc} {'is' if inconc == 1 else 'are'} inconclusive.**"]
    if inconc > n / 2:
        undecided = claims[claims["verdict"] == "inconclusive"]
        one = int((undecided["n_seeds"] < 2).sum())
        paired = claims[claims["test"] == C.PAIRED_TEST]
        if one == inconc:
            why = "one seed gives no interval"
            k = n - len(paired)
            if k and (paired["n_seeds"] < 2).all():
                why += (f": only the {_plural(k, 'claim', 'claims')} judged by one measurement against the paper's "
                        f"threshold (Table 2) {'gets' if k == 1 else 'get'} a verdict")
        else:
            why = (f"{_plural(inconc - one, 'claim has', 'claims have')} a 95 % interval that includes zero (the seeds "
                   "cannot tell the two sides apart)" + (f" and {one} rest on one seed, which gives no interval"
                                                          if one else ""))
        text.append(f"Most are inconclusive because {why}.")
    above = context[[f"{d} above chance (%p)" for d in paper.DIRECTIONS]]
    method, col = above.stack().idxmax()
    gap, room = float(above.at[method, col]), scale["ceiling"] - scale["chance"]
    text.append(f"The best retrieval score ({paper.label(method)}, {col.split()[0]}) is {gap:.2f} %p above chance "
                f"({scale['chance']:.2f} %), {100 * gap / room:.0f} % of the way to the ceiling ({scale['ceiling']:.2f} %).")
    return " ".join(text)


def _signed(v: float) -> str:
    return "—" if v != v else f"{v:+.2f}".replace("-", "−")


def ours_cell(r) -> str:
    """Our side of one claim: ``+1.23 [−0.50, +2.96], 3 seeds`` (%p), or the ratio of one measurement."""
    if r.test != C.PAIRED_TEST:
        return f"ratio {r.ours} ({r.test})"
    ci = "" if r.ci_low != r.ci_low else f" [{_signed(r.ci_low)}, {_signed(r.ci_high)}]"
    return f"{_signed(r.difference)}{ci}, {_plural(int(r.n_seeds), 'seed', 'seeds')}"


def paper_cell(r) -> str:
    if r.test != C.PAIRED_TEST:
        return f"ratio {r.paper}"
    return _signed(r.paper_difference) if r.paper_difference == r.paper_difference else str(r.paper)


def claim_index(claims: pd.DataFrame) -> str:
    """A MyST Markdown table of every claim: its verdict (coloured as in the tables), the claim linked
    to the chapter that shows it (``<chapter>.ipynb``, resolved by the book), our paired difference
    with its 95 % interval and seeds, the paper's difference (the threshold claims: both ratios)."""
    lines = ["| verdict | claim (links to its chapter) | ours (%p) [95 % CI] | paper (%p) |", "|---|---|---|---|"]
    for r in claims.itertuples():
        colour = VERDICT_COLORS.get(r.verdict, "inherit")
        verdict = f'<span style="color: {colour}; font-weight: bold">{r.verdict}</span>'
        claim = f"[{r.claim.replace('|', '/').replace('[', '(').replace(']', ')')}]({r.chapter}.ipynb)"
        lines.append(f"| {verdict} | {claim} | {ours_cell(r)} | {paper_cell(r)} |")
    return "\n".join(lines)


def chance_phrase(claims: pd.DataFrame) -> str:
    """"58.33 % (chapters 02 and 04); 25.00, 50.00 and 75.00 % (chapter 08's three scores)": the chance
    level of the scores the paired claims compare, by chapter."""
    paired = claims[claims["difference"].notna()].dropna(subset=["chance"])
    levels = {ch: tuple(dict.fromkeys(round(float(c), 2) for c in part["chance"]))
              for ch, part in paired.groupby("chapter", sort=False)}
    by_levels: dict[tuple, list[str]] = {}
    for ch, lv in levels.items():
        by_levels.setdefault(lv, []).append(ch)
    words = {2: "two", 3: "three", 4: "four"}
    out = []
    for lv, chapters in by_levels.items():
        values = " and ".join([", ".join(f"{v:.2f}" for v in lv[:-1]), f"{lv[-1]:.2f}"] if len(lv) > 1 else
                              [f"{lv[0]:.2f}"])
        where = _chapters(chapters) + (f"'s {words.get(len(lv), len(lv))} scores" if len(lv) > 1 else "")
        out.append(f"{values} % ({where})")
    return "; ".join(out)


def forest_caption(claims: pd.DataFrame) -> str:
    """What :func:`stella.report.figures.claims_forest` draws: seeds per claim, chance levels, what is left out."""
    left = int(claims["difference"].isna().sum())
    chance = chance_phrase(claims)
    return ("**Figure.** Each claim of the paper about an ordering of two methods: filled, our mean per-seed "
            "difference of the two (bar: its 95 % Student-t interval; none from one seed), coloured by our verdict; "
            "hollow, the paper's difference; circle A→V (or the claim's one score), square V→A; in %p of the "
            f"compared score. From {seeds_phrase(claims)}. "
            + (f"Chance level of the compared scores: {chance}. " if chance else "")
            + (f"Not drawn: {_plural(left, 'claim', 'claims')} judged by one measurement against a threshold "
               "(Table 2's ratios), listed in the table below." if left else ""))
