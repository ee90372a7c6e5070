"""Every sentence of a built page against the tables beside it (stella.builder.consistency), on small pages made
here with the book's own table renderers: each sentence issue 29 found contradicting its tables is flagged, and
the same page told consistently passes."""
import math
from pathlib import Path

import pandas as pd

from stella.builder.built_page import Num, intervals, numbers, read_page
from stella.builder.consistency import book_findings, main
from stella.builder.pages import COMPUTED_BEGIN, COMPUTED_END, mark_computed
from stella.report.display import show, show_claims

NAN = float("nan")


def _page(*body: str) -> str:
    return ('<html><head><title>t</title></head><body><article class="bd-article"><section id="top"><h1>T</h1>'
            + "".join(body) + "</section></article></body></html>")


def _computed(html: str) -> str:
    """A result the book driver pasted (stella.builder.pages.mark_computed)."""
    return f'<div class="{COMPUTED_BEGIN}"></div>{html}<div class="{COMPUTED_END}"></div>'


def _in_short(*lines: str) -> str:
    return _computed('<p><strong>In short.</strong></p><ul class="simple">'
                     + "".join(f"<li><p>{line}</p></li>" for line in lines) + "</ul>")


def _output(html: str) -> str:
    return f'<div class="cell_output docutils container"><div class="output text_html">{html}</div></div>'


def _section(key: str, *body: str) -> str:
    return f'<section id="{key}"><h2>{key}</h2>{"".join(body)}</section>'


def _claims(*rows: dict, caption: str = "The claims.") -> str:
    """A claims table as show_claims renders it; each row: claim, verdict, difference, ci, p, n (defaults below)."""
    base = {"family": "Fam", "paper": "paper", "ours": "ours", "detectable": 1.0, "unit": "%p", "chance": NAN,
            "ceiling": NAN, "note": "", "reading": None, "n_seeds": 5, "ci_low": NAN, "ci_high": NAN, "p_holm": NAN,
            "difference": NAN}
    frame = pd.DataFrame([{**base, **r} for r in rows])
    return _output(show_claims(frame, caption).data)


def _af(values: dict, caption: str, exclude=("multitask",)) -> str:
    """An A/F table as chapter 02 shows one direction: mean ± std, best bold and second underlined."""
    cols = pd.MultiIndex.from_tuples([("avg", "A"), ("avg", "F")])
    means = pd.DataFrame([v for v in values.values()], index=list(values), columns=cols)
    stds = means * 0 + 0.5
    return _output(show(means, caption=caption, stds=stds, marks=True, exclude=list(exclude)).to_html())


AV = {"finetune": (10.80, 30.20), "er": (24.90, 7.90), "mir": (27.02, 5.28), "derpp": (24.11, 7.30),
      "clser": (25.50, 5.35), "esmer": (25.90, 6.18), "stella": (26.56, 6.69), "multitask": (35.00, NAN)}
VA = {"finetune": (10.10, 29.00), "er": (23.00, 7.50), "mir": (24.51, 6.30), "derpp": (23.96, 7.00),
      "clser": (24.00, 6.40), "esmer": (25.78, 6.50), "stella": (24.30, 6.12), "multitask": (33.00, NAN)}


def _write(tmp_path: Path, pages: dict[str, str]) -> Path:
    html = tmp_path / "html"
    (html / "book" / "notebooks").mkdir(parents=True)
    (html / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/notebooks/index.html" />')
    for name, text in pages.items():
        (html / "book" / "notebooks" / f"{name}.html").write_text(text)
    return html


def _found(tmp_path: Path, pages: dict[str, str]) -> dict[str, list[str]]:
    """page stem -> "reason :: sentence" of each finding."""
    out: dict[str, list[str]] = {name: [] for name in pages}
    for f in book_findings(_write(tmp_path, pages)):
        out[Path(f.page).stem].append(f"{f.reason} :: {f.sentence}")
    return out


def _retrieval_page(summary: list[str], claims: str = "") -> str:
    return _page(_in_short(*summary), _section("tables", _af(AV, "A→V retrieval"), _af(VA, "V→A retrieval")),
                 _section("claims", claims))


def test_numbers_agree_at_the_precision_shown():
    assert Num.parse("6.7").agrees(Num.parse("6.69")) and Num.parse("27.0").agrees(Num.parse("27.02"))
    assert not Num.parse("0.155").agrees(Num.parse("0.15")) and not Num.parse("6.7").agrees(Num.parse("7"))
    assert not Num.parse("+0.16").agrees(Num.parse("-0.155")) and Num.parse("-0.16").agrees(Num.parse("-0.155"))
    assert not Num.parse("6.7").agrees(Num.parse("6.18")) and Num.parse("5.99").agrees(Num.parse("-5.99"), signed=False)
    assert [n.text for n in numbers("R@1 of 889Hz noiseband am25: 58.3 %, −9.4 %p and 3.1x; v0.3.0; GPL-2.0-or-later")] == [
        "58.3", "\u22129.4", "3.1"]
    assert [(i.low.value, i.high.value) for i in intervals("−9.4 %p [−15.1, −3.6]; seeds [2021, 2022]")] == [
        (-15.1, -3.6)]
    assert math.isnan(intervals("+0.00 [+nan, +nan]")[0].low.value)


def test_chapter_02s_orderings_against_the_bold_best(tmp_path):
    """Issue 29: "the lowest mean forgetting is STELLA's (F 6.7 / 6.1)" while A→V bolds MIR's 5.28; "the highest
    mean A ... is MIR's (27.0 / 24.5)" while V→A bolds ESMER's 25.78."""
    said = ["The highest mean A among the continual methods is MIR's (27.0 / 24.5), STELLA's is 26.6 / 24.3; the "
            "lowest mean forgetting is STELLA's (F 6.7 / 6.1); the claims below say which differences exceed the "
            "seed noise."]
    found = _found(tmp_path / "bad", {"02_retrieval": _retrieval_page(said)})["02_retrieval"]
    assert any("says the highest is MIR's (24.5)" in f and "ESMER's 25.78" in f for f in found), found
    assert any("says the lowest is STELLA's (6.7)" in f and "MIR's 5.28" in f for f in found), found
    assert not any("(27.0)" in f or "(6.1)" in f for f in found), found        # those two are the bold best
    told = ["The highest A→V A among the continual methods is MIR's (27.0), the highest V→A A is ESMER's (25.8); "
            "the lowest forgetting is MIR's in A→V (F 5.28) and STELLA's in V→A (F 6.12)."]
    assert _found(tmp_path / "good", {"02_retrieval": _retrieval_page(told)})["02_retrieval"] == []


ORACLE = [
    {"family": "Can any selection pay here (selected reading)", "claim": "the oracle selection beats random selection (A, A→V)",
     "verdict": "inconclusive", "difference": 0.62, "ci_low": -0.51, "ci_high": 1.75, "p_holm": 0.120},
    {"family": "Can any selection pay here (selected reading)", "claim": "the oracle selection beats random selection (A, V→A)",
     "verdict": "holds", "difference": 2.81, "ci_low": 1.89, "ci_high": 3.74, "p_holm": 0.004},
    {"family": "At the baselines' visible count (full reading)",
     "claim": "the oracle selection beats random selection at equal visible tokens (A, A→V)",
     "verdict": "inconclusive", "difference": 0.40, "ci_low": -1.20, "ci_high": 2.00, "p_holm": 0.500},
    {"family": "At the baselines' visible count (full reading)",
     "claim": "the oracle selection beats random selection at equal visible tokens (A, V→A)",
     "verdict": "holds", "difference": 4.43, "ci_low": 2.67, "ci_high": 6.18, "p_holm": 0.010}]


def test_chapter_04bs_oracle_sentence_against_its_claims(tmp_path):
    """Issue 29: "the oracle does not beat random selection at these seeds" while both V→A rows hold."""
    said = ("The oracle does not beat random selection at these seeds (+0.62 %p [-0.51, +1.75], inconclusive; "
            "+0.40 %p [-1.20, +2.00], inconclusive), while it beats the anti-oracle by +3.10 %p.")
    page = _page(_in_short(said), _section("controls", _claims(*ORACLE)))
    found = _found(tmp_path / "bad", {"04b_controls": page})["04b_controls"]
    assert any("does not beat random" in f and "(A, V→A)\" holds (+2.81 [+1.89, +3.74])" in f for f in found), found
    told = ("The oracle beats random selection in V→A (+2.81 %p [+1.89, +3.74], holds; +4.43 %p [+2.67, +6.18], "
            "holds) but not in A→V (+0.62 %p [-0.51, +1.75], inconclusive; +0.40 %p [-1.20, +2.00], inconclusive).")
    page = _page(_in_short(told), _section("controls", _claims(*ORACLE)))
    assert _found(tmp_path / "good", {"04b_controls": page})["04b_controls"] == []


MEMORY = {"family": "Table 2: STELLA uses less memory", "claim": "STELLA's training memory / DER++'s is below 1",
          "verdict": "holds", "difference": 0.16, "ci_low": 0.12, "ci_high": 0.20, "p_holm": 0.001}


def test_chapter_03s_without_an_interval_above_intervals(tmp_path):
    """Issue 29: "each efficiency number is one measurement ... without an interval" above a claims table with
    n = 5, intervals and p."""
    prose = ("<p>Each efficiency number is one measurement in one process (no seeds), so the claims below are "
             "judged against the paper's threshold without an interval.</p>")
    cost = _output(show(pd.DataFrame({"method": ["derpp", "stella"], "throughput": [10.0, 11.5]}),
                        caption="Table 2 (efficiency)").to_html())
    page = _page(_section("table-2", prose, cost, _claims(MEMORY)))
    found = _found(tmp_path / "bad", {"03_efficiency": page})["03_efficiency"]
    assert any(f.startswith("no interval: says so above \"The claims.") and "+0.16 [+0.12, +0.20]" in f
               for f in found), found
    told = "<p>Each memory claim below is judged over 5 interleaved rounds, with its 95 % interval.</p>"
    assert _found(tmp_path / "good", {"03_efficiency": _page(_section("table-2", told, cost, _claims(MEMORY)))}) == {
        "03_efficiency": []}


DRIFT = {"family": "Fig. 2 / 14: STELLA's attention drifts less than DER++'s", "unit": "JS",
         "claim": "STELLA's AVM map drifts less than DER++'s similarity map on task-1 clips (JS)", "verdict": "holds",
         "difference": -0.15, "ci_low": -0.25, "ci_high": -0.06, "p_holm": 0.020}


def test_chapter_07s_sign_flip_between_summary_and_claims(tmp_path):
    """Issue 29: "In short" gives the drift +0.155 [+0.060, +0.250], the claims table −0.15 [−0.25, −0.06]."""
    said = "JS drift of STELLA's AVM map against DER++'s similarity map: +0.155 [+0.060, +0.250] over 5 seeds, holds."
    found = _found(tmp_path / "bad", {"07_attention_localization": _page(_in_short(said), _claims(DRIFT))})
    assert any(f.startswith("interval +0.155 [+0.060, +0.250]: no table") for f in found["07_attention_localization"])
    told = "JS drift of STELLA's AVM map against DER++'s similarity map: -0.15 [-0.25, -0.06] over 5 seeds, holds."
    assert _found(tmp_path / "good", {"07_attention_localization": _page(_in_short(told), _claims(DRIFT))}) == {
        "07_attention_localization": []}


ER_FINETUNE = {"family": "Table 1: Finetune is the lower bound (A, A→V)", "claim": "ER beats Finetune (A, A→V)",
               "verdict": "inconclusive", "difference": 9.43, "ci_low": 3.62, "ci_high": 15.14, "p_holm": 0.053}


def test_the_labs_verdict_against_the_chapters(tmp_path):
    """Issue 29: lab exercise 2 says Finetune − ER "−9.4 %p [−15.1, −3.6], below zero"; chapter 02 judges the same
    comparison inconclusive (Holm p 0.053)."""
    chapter = _page(_section("claims", _claims(ER_FINETUNE)))
    said = ("Finetune minus ER: \u22129.4 %p per seed (from \u221214.0 to \u22124.1; 95 % interval [\u221215.1, "
            "\u22123.6], below zero; positive in 0 of 5 seeds)")
    lab = _page(_section("exercises", _computed(f'<details><summary>Expected outcome</summary><ul><li>{said} '
                                                '(<a href="02_retrieval.html">chapter 02</a>)</li></ul></details>')))
    found = _found(tmp_path / "bad", {"02_retrieval": chapter, "lab": lab})
    assert any(f.startswith('verdict: says "below zero" of [-15.1, -3.6], the claims table of book/notebooks/'
                            '02_retrieval.html judges "ER beats Finetune (A, A→V)" inconclusive, Holm p 0.053')
               for f in found["lab"]), found
    told = "ER minus Finetune: +9.43 %p [+3.62, +15.14], inconclusive (Holm p 0.053; chapter 02)."
    lab = _page(_section("exercises", _computed(f'<ul><li>{told} (<a href="02_retrieval.html">02</a>)</li></ul>')))
    assert _found(tmp_path / "good", {"02_retrieval": chapter, "lab": lab}) == {"02_retrieval": [], "lab": []}


def test_claims_rows_the_verdict_rule_does_not_allow(tmp_path):
    """Issue 29: Table 7's rows "contradicted" at Holm p 1.000, comparisons judged at n = 1, and memory judged by a
    t-test over rounds that do not vary (a zero-width interval, p 0.000)."""
    rows = [{"claim": "STELLA beats ER (Table 7)", "verdict": "contradicted", "difference": -5.99, "ci_low": -10.52,
             "ci_high": -1.46, "p_holm": 1.0},
            {"claim": "STELLA's memory / DER++'s below 1 (paper geometry)", "verdict": "holds", "difference": 0.21,
             "ci_low": 0.21, "ci_high": 0.21, "p_holm": 0.0, "n_seeds": 5},
            {"claim": "STELLA beats DER++ (one seed)", "verdict": "holds", "difference": 1.0, "p_holm": 0.01,
             "n_seeds": 1, "family": "one seed"},
            {"claim": "STELLA beats MIR", "verdict": "holds", "difference": 2.0, "ci_low": 1.0, "ci_high": 3.0,
             "p_holm": 0.004},
            {"claim": "STELLA beats LUMP", "verdict": "not tested", "note": "one seed: no interval"}]
    found = _found(tmp_path, {"09_what_reproduced": _page(_claims(*rows))})["09_what_reproduced"]
    assert "claims rule: contradicted with Holm p 1.000 >= 0.05 :: STELLA beats ER (Table 7)" in found
    assert any(f.startswith("claims rule: holds with a zero-width interval [+0.21, +0.21]") for f in found)
    assert any(f.startswith("claims rule: holds from a t-test at n = 1") for f in found)
    assert len(found) == 3, found


def test_numbers_of_computed_sentences_only(tmp_path):
    """A decimal number of a computed sentence must be in a table of the page; written prose is not checked for
    numbers (section 5.1, a 0.8 masking ratio), a nan interval is never a result."""
    table = _output(show(pd.DataFrame({"method": ["stella"], "AUC": [0.346]}), digits=3).to_html())
    page = _page(_in_short("STELLA's AUC is 0.35, 3.1x a random map's.", "Oracle − Random +0.00 [+nan, +nan]."),
                 "<p>Section 5.1 masks 0.8 of the patches.</p>", table)
    found = _found(tmp_path, {"07_x": page})["07_x"]
    assert [f.split(" :: ")[0] for f in found] == ["number(s) 3.1: in no table of the page",
                                                    "interval +0.00 [+nan, +nan]: an interval of nan is no result"]


def test_the_glue_of_a_page_is_marked_computed():
    nb = {"cells": [{"cell_type": "markdown", "source": "# T\n\n```{glue} a\n```\n\n```{glue:md} b\n:format: myst\n```\n"},
                    {"cell_type": "markdown", "source": "No glue."}]}
    assert mark_computed(nb) == 2
    src = nb["cells"][0]["source"]
    assert src.count(COMPUTED_BEGIN) == 2 and src.count(COMPUTED_END) == 2
    assert src.index(COMPUTED_BEGIN) < src.index("```{glue} a") < src.index(COMPUTED_END) < src.index("{glue:md}")
    assert nb["cells"][1]["source"] == "No glue."


def test_read_page_and_the_command_line(tmp_path, capsys):
    html = _write(tmp_path, {"02_retrieval": _retrieval_page(["The lowest mean forgetting is STELLA's (F 6.7 / 6.1)."])})
    page = read_page(html / "book" / "notebooks" / "02_retrieval.html")
    assert [s.in_short and s.computed for s in page.sentences if "lowest" in s.text] == [True]
    assert [t.caption.split(" ")[0] for t in page.tables] == ["A→V", "V→A"]
    mir = page.tables[0].row("MIR")
    assert [c.mark for c in mir] == ["", "best", "best"] and page.tables[0].columns == ["method", "avg / A", "avg / F"]
    assert main([str(html)]) == 1 and "says the lowest is STELLA's (6.7)" in capsys.readouterr().out
    assert main([str(tmp_path)]) == 2
