"""Chapter 09, what reproduced, and the landing page: every claim of the book, summarised.

``what_reproduced(nb)`` is :func:`stella.report.verdicts.book_claims` at a notebook's settings,
computed once and kept in the run store, so chapter 09 ("What reproduced") and the landing page
show the same verdicts (the efficiency rounds and the probes are measured once, by their chapters).
``controls_summary`` adds what chapters 04b and 08b measure beyond the paper's tables.
The rest turns that claims frame into what the landing page shows: ``headline`` (how many claims
hold, are contradicted, equivalent, inconclusive or not tested, at which preset and seeds, and how
far the best model is above chance), ``family_index`` (a Markdown table, one row per family of
claims, each linked to its chapter) and ``verdict_caption`` (what
:func:`stella.report.figures.verdict_bars` draws).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from stella import __version__
from stella.report import claims as C
from stella.report import paper_numbers as paper
from stella.report.chapter import Traits, chapter, unmet
from stella.report.chapters.controls import landing_efficiency, reading_sentence
from stella.report.chapters.efficiency import timing_defaults
from stella.report.chapters.replication import landing_replication
from stella.report.figures import VERDICT_COLORS
from stella.report.runs import cached_frame, gallery_classes, get_run, seed_table
from stella.report.tables import af_table
from stella.report.verdicts import book_claims

REPORT = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPORT.parents[1] / "notebooks"


def defaults(preset: str, p: dict, book: Traits) -> tuple[list[int], list[str]]:
    """The claims of every chapter at its own defaults; ``n_seeds`` replaces the main tables' seeds."""
    timing_defaults(preset, p, book, steps="efficiency_steps")
    return RECORD.seeds_of("claims", preset, p.pop("n_seeds", None)), list(paper.TABLE1)


RECORD = chapter("09_what_reproduced", defaults, seeds={"claims": "main"})
INDEX = chapter("index", defaults, seeds={"claims": "main"})   # the landing page: chapter 09's claims, summarised


def report_digest() -> str:
    """A digest of the package's report code: a cached claims frame is recomputed when it changes."""
    h = hashlib.sha256()
    for f in sorted(REPORT.rglob("*.py")):
        h.update(str(f.relative_to(REPORT)).encode() + f.read_bytes())
    return h.hexdigest()[:16]


def what_reproduced(nb) -> pd.DataFrame:
    """:func:`book_claims` at the settings of ``nb`` (a :func:`notebook_setup` of chapter 09 or of the
    landing page), kept beside the STELLA run of the first seed (:func:`cached_frame`): the first page
    that asks computes it (reading what the chapters measured, training what the store lacks), every
    later one reads it."""
    ctx = C.ClaimContext.of(nb)
    params = {"preset": nb.preset, "seeds": list(ctx.seeds or []), "task_order": nb.task_order, "device": nb.device,
              "version": __version__, "report_code": report_digest()}
    rd = get_run(nb.preset, "stella", nb.seeds[0], nb.train_overrides, nb.results_dir, nb.task_order)
    return cached_frame(rd, "book-claims", params, lambda: book_claims(ctx))


def retrieval_context(nb) -> tuple[pd.DataFrame, dict]:
    """(:func:`chance_context` of ``nb.methods`` over ``nb.seeds``, :func:`retrieval_scale` of the gallery):
    every method's avg-recall A beside chance and the ceiling, from the runs of chapter 02."""
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


def _source(family: str, chapter: str) -> str:
    """The table or figure a family belongs to ("Table 7", "Fig. 9 (a)"), or its chapter for the book's own controls."""
    named = re.match(r"(Table \d+|Fig\. \d+(?: \([a-z]\))?)", family)     # "Table 2, full reading" -> "Table 2"
    return named.group(1) if named else f"chapter {chapter.split('_')[0]}"


def seeds_phrase(claims: pd.DataFrame) -> str:
    """How many seeds (or measurement rounds) the tested comparisons pair over, read off the frame: "5 seeds
    (Table 1, Table 3, ...; 3 seeds: Table 7, Fig. 6, ...; exact counts: Table 2 ...)"."""
    tested = claims[claims["verdict"] != "not tested"]
    if tested.empty:
        return "no tested comparison"
    exact = tested["ci_low"].isna()
    groups = {}
    for (n, is_exact), part in tested.groupby([tested["n_seeds"].astype(int), exact], sort=True):
        where = ", ".join(dict.fromkeys(_source(f, c) for f, c in zip(part["family"], part["chapter"])))
        unit = "seeds or rounds" if (part["unit"] == "ratio").any() else "seeds"
        groups[f"exact counts ({where})" if is_exact else f"{n} {unit} ({where})"] = len(part)
    return "; ".join(sorted(groups, key=lambda k: -groups[k]))


def headline(claims: pd.DataFrame, context: pd.DataFrame, scale: Mapping[str, float], preset: str,
             families: pd.DataFrame | None = None) -> str:
    """The landing page's sentences (Markdown): the verdict counts at ``preset``, the families the
    paper states as one sentence (``families``: :func:`stella.report.verdicts.family_table`), what
    "inconclusive" means at these seeds, and the best retrieval score above chance (``context``:
    :func:`chance_context`, ``scale``: :func:`retrieval_scale`)."""
    counts = claims["verdict"].value_counts()
    n = int(len(claims) - counts.get("not tested", 0))
    parts = [f"{int(counts.get(v, 0))} {w}" for v, w in (("holds", "hold"), ("contradicted", "are contradicted"),
                                                          ("equivalent", "are equivalent within the margin"),
                                                          ("inconclusive", "are inconclusive"))]
    text = [f"**At the `{preset}` preset, {n} of the paper's comparisons were tested over {seeds_phrase(claims)}: "
            f"{', '.join(parts[:-1])} and {parts[-1]}.**"]
    if counts.get("not tested", 0):
        text.append(f"{_plural(int(counts['not tested']), 'comparison is', 'comparisons are')} not tested (a "
                    "saturated score, one seed, both sides at chance, a setting the preset does not run or a benchmark "
                    "it lacks), each with its reason.")
    if families is not None and len(families):
        fv = families["family verdict"].value_counts()
        text.append(f"Read as the paper states them, in {len(families)} families (e.g. \"STELLA outperforms every "
                    f"baseline\", Holm-corrected over its members): {int(fv.get('holds', 0))} hold in full, "
                    f"{int(fv.get('contradicted', 0))} have a contradicted member, {int(fv.get('equivalent', 0))} are "
                    f"equivalent, {int(fv.get('inconclusive', 0))} are inconclusive and {int(fv.get('not tested', 0))} "
                    "are not tested.")
    undecided = claims[claims["verdict"] == "inconclusive"]
    if len(undecided):
        det = undecided.loc[undecided["unit"].isin(["%p", "%p of F"]), "detectable"].median()
        if det == det:
            text.append(f"An inconclusive comparison is one the seeds cannot resolve: their median detectable "
                        f"difference (80 % power) is {det:.2f} %p.")
    text.append(reading_sentence(claims))
    above = context[[f"{d} above chance (%p)" for d in paper.DIRECTIONS]]
    method, col = above.stack().idxmax()
    gap, room = float(above.at[method, col]), scale["ceiling"] - scale["chance"]
    text.append(f"The best retrieval score ({paper.label(method)}, {col.split()[0]}) is {gap:.2f} %p above chance "
                f"({scale['chance']:.2f} %), {100 * gap / room:.0f} % of the way to the ceiling ({scale['ceiling']:.2f} %).")
    return " ".join(t for t in text if t)


def controls_summary(nb) -> str:
    """The landing page's controls (Markdown): STELLA's selection efficiency E (chapter 04b,
    :func:`landing_efficiency`) and how many headline comparisons replicate (chapter 08b,
    :func:`landing_replication`), each linked to its chapter; a chapter the preset's data cannot compute says what
    it needs instead."""
    out = []
    for stem, title, text in (("04b_controls", "Do the controls hold?", landing_efficiency),
                              ("08b_replication", "Does it replicate?", landing_replication)):
        lacking = unmet(stem, nb.preset)
        said = (f"not computed for this build: it needs {' and '.join(lacking)}." if lacking else text(nb)) or \
            "nothing to report at this preset."
        out.append(f"- **[{title}]({stem}.ipynb)** {said}")
    return "\n".join(out)


def where_computed(preset: str, device: str) -> str:
    """Where the book's numbers come from: the preset and the device of the runs (the paper presets and a GPU are
    the reader's to run: chapter "Running at paper scale")."""
    on = "a CPU" if device == "cpu" else f"the `{device}` device"
    return (f"Every number of this book was computed at the `{preset}` preset on {on}: the procedural benchmark and "
            "the preset's model, not VGGSound or AudioSet; chapter \"Running at paper scale\" gives the one command "
            "for the paper presets, and chapter 03 shows the GPU check's figures once `benchmarks/paper_gpu.sh` has run.")


def family_index(families: pd.DataFrame) -> str:
    """A MyST Markdown table, one row per family of claims (:func:`stella.report.verdicts.family_table`):
    its verdict (coloured as in the tables), the family linked to the chapter that shows it, and its
    members' verdicts counted."""
    lines = ["| verdict | family of claims (links to its chapter) | hold / contradicted / equivalent / inconclusive / "
             "not tested |", "|---|---|---|"]
    for _, r in families.iterrows():
        v = r["family verdict"]
        verdict = f'<span style="color: {VERDICT_COLORS.get(v, "inherit")}; font-weight: bold">{v}</span>'
        fam = f"[{r['family'].replace('|', '/').replace('[', '(').replace(']', ')')}]({r['chapter']}.ipynb)"
        counts = " / ".join(str(int(r[c])) for c in C.VERDICTS)
        lines.append(f"| {verdict} | {fam} | {counts} |")
    return "\n".join(lines)


def verdict_caption(claims: pd.DataFrame, families: pd.DataFrame) -> str:
    """What :func:`stella.report.figures.verdict_bars` draws, from how many seeds, with which test."""
    return ("**Figure.** Each family of the paper's claims (a sentence of the paper, one comparison per method it "
            "names), its comparisons counted by verdict: paired over "
            f"{seeds_phrase(claims)}, 95 % Student-t intervals, Holm's correction within each family, equivalence "
            f"within ±{C.MARGIN:g} %p (two one-sided tests at 5 %). {len(families)} families, "
            f"{len(claims)} comparisons.")
