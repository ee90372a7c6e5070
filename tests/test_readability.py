"""Pages a reader can trust at a glance: results first keeps a table whole and puts the computed summary on top,
tables are measured in a 1280 px browser, and every sentence that states a number is computed from it and
follows its interval (it changes when the number does)."""
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stella.builder.pages import GLUE_PREFIX, first_result, results_first
from stella.report import paper_numbers as P, signal_tables as S
from stella.report.chapters import benchmark as B, localization as L, retrieval as R
from test_signal_tables import _clips

REPO = Path(__file__).resolve().parent.parent


def _table(caption: str, columns=("method", "A (%)")) -> dict:
    head = "".join(f"<th>{c}</th>" for c in columns)
    return {"output_type": "display_data", "metadata": {},
            "data": {"text/html": f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead>"
                                  "<tbody><tr><td>x</td><td>1</td></tr></tbody></table>", "text/plain": caption}}


def _nb(*cells) -> dict:
    out = []
    for kind, tags, src, outputs in cells:
        c = {"cell_type": kind, "metadata": {"tags": list(tags)}, "source": src}
        if kind == "code":
            c["outputs"] = outputs
        out.append(c)
    return {"cells": out}


def test_results_first_keeps_both_halves_of_a_table_and_puts_the_summary_on_top():
    halves = [_table("A→V"), {"output_type": "stream", "name": "stdout", "text": "between\n"}, _table("V→A"),
              _table("claims", ("claim", "verdict")), _table("A→V again")]
    summary = {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": "**In short.** x"}}
    nb = _nb(("markdown", [], "# Title\n\nFirst sentence. The rest.", None),
             ("code", ["parameters"], "preset = 'cpu'", []),
             ("code", [], "show()", halves),
             ("code", ["page-summary"], "summary()", [summary]))
    assert results_first(nb)
    assert nb["cells"][1]["source"] == ("```{glue} stella-summary-1\n```\n\n```{glue} stella-first-result\n```\n\n"
                                        "```{glue} stella-first-result-2\n```\n")
    glued = [o.get("metadata", {}).get("scrapbook", {}).get("name") for o in nb["cells"][-2]["outputs"]]
    assert glued == ["stella-first-result", None, "stella-first-result-2", None, None]   # a new header ends it
    assert GLUE_PREFIX + "text/markdown" in nb["cells"][-1]["outputs"][0]["data"]
    # a figure keeps its caption; a table alone stays alone
    fig = [{"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBOR"}},
           {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": "**Figure.** x"}}]
    assert first_result(fig, 0) == [(0, "stella-first-result"), (1, "stella-first-result-caption")]
    assert first_result([_table("a"), _table("b", ("x", "y"))], 0) == [(0, "stella-first-result")]


@pytest.mark.skipif(not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")),
                    reason="no Chromium on PATH")
def test_table_widths_finds_the_table_that_scrolls_sideways(tmp_path):
    from stella.builder.checks import main, table_widths

    narrow = "<table><tr><td>a</td><td>b</td></tr></table>"
    wide = "<table><tr>" + "".join(f"<td style='white-space:nowrap'>column number {i} of many</td>"
                                   for i in range(20)) + "</tr></table>"
    page = "<html><body><article class='bd-article' style='width:700px'>{}</article></body></html>"
    (tmp_path / "index.html").write_text(page.format(narrow))
    (tmp_path / "wide.html").write_text(page.format(f"<div style='overflow-x:auto'>{wide}</div>"
                                                    f"<details><summary>more</summary>{narrow}</details>"))
    rows = {r["page"]: r for r in table_widths(tmp_path, screenshots=tmp_path / "png")}
    assert rows["index.html"]["tables"] == 1 and not rows["index.html"]["scrolling"]
    assert rows["index.html"]["widest"] < 100 and rows["index.html"]["content"] == 700
    assert rows["wide.html"]["tables"] == 2                    # the closed <details> is opened and measured
    assert rows["wide.html"]["widest"] > 1500 and len(rows["wide.html"]["scrolling"]) == 1
    assert (tmp_path / "png" / "wide.png").read_bytes()[:4] == b"\x89PNG"
    assert main([str(tmp_path)]) == 1
    (tmp_path / "wide.html").unlink()
    assert main([str(tmp_path)]) == 0


def _retrieval(shift: float = 0.0):
    methods = ["finetune", "er", "derpp", "stella", "stella+", "multitask"]
    cols = pd.MultiIndex.from_tuples([(d, "avg", v) for d in P.DIRECTIONS for v in ("A", "F")])
    vals = {"finetune": [10, 18, 11, 17], "er": [24, 5, 23, 6], "derpp": [24.3, 4, 24.6, 4],
            "stella": [17.8, 6, 17.6, 6], "stella+": [18, 7, 18, 7], "multitask": [32.5, 0, 32, 0]}
    means = pd.DataFrame([vals[m] for m in methods], index=methods, columns=cols)
    means.loc["stella", ("A→V", "avg", "A")] += shift
    refs = pd.DataFrame({"avg": [4.17, 58.3]}, index=["chance", "ceiling"])
    claims = pd.DataFrame({"verdict": ["holds", "contradicted", "contradicted", "inconclusive", "not tested"],
                           "family": ["a", "a", "b", "c", "d"]})
    rho = pd.DataFrame({"direction": list(P.DIRECTIONS), "methods": [6, 6], "Spearman rank correlation": [0.6, 0.54]})
    return means, refs, claims, rho


def test_retrieval_summary_is_computed_from_the_numbers_it_states():
    lines = R.page_summary(*_retrieval(), "cpu", 5)
    text = " ".join(lines)
    for stated in ("4.17", "58.30", "Multitask reaches 32.50 / 32.00", "Finetune reaches 10.00 / 11.00",
                   "the highest A is DER++'s in A→V (24.30) and DER++'s in V→A (24.60)", "STELLA's A is 17.80 / 17.60", "4 tested comparisons on these runs (4 families), 1 holds, 2 are contradicted, 0 are equivalent within the margin and 1 is inconclusive", "1 is not tested",
                   "+0.60 (A→V) and +0.54 (V→A) over 6 methods"):
        assert stated in text, stated
    assert "the lowest F is DER++'s in A→V (4.00) and DER++'s in V→A (4.00)" in text
    means, refs, claims, rho = _retrieval()
    for m in ("multitask", "finetune", "derpp", "stella", "stella+"):     # every number it states moves it
        for d in P.DIRECTIONS:
            bumped = means.copy()
            bumped.loc[m, (d, "avg", "A")] += 0.5
            assert " ".join(R.page_summary(bumped, refs, claims, rho, "cpu", 5)) != text, (m, d)
    other_rho = rho.assign(**{"Spearman rank correlation": [0.1, 0.2]})
    for args in ((means, refs * 1.1, claims, rho), (means, refs, claims.assign(verdict="holds"), rho),
                 (means, refs, claims, other_rho)):
        assert " ".join(R.page_summary(*args, "cpu", 5)) != text
    moved = " ".join(R.page_summary(*_retrieval(shift=20.0), "cpu", 5))
    assert "the highest A is STELLA's in A→V (37.80) and DER++'s in V→A (24.60)" in moved   # the table's bold, per direction


def _localization_claims(stella_auc: float, stella_js: float) -> pd.DataFrame:
    """Chapter 07's claims frame from made-up per-seed AUC and drift (the declarations' keys and readings)."""
    import stella.report.claims as C

    seeds = pd.Index(range(3), name="seed")
    auc = lambda v, k=1: pd.Series([v, v + 0.01 * k, v - 0.015 * k], index=seeds)
    rows = [C.versus("as drawn", L.CHAPTER, "Fig. 7 / 13, as drawn",
                     pd.DataFrame({"a": auc(stella_auc), "b": auc(0.30, -1)}), "a", "b", 1, unit="AUC", margin=None,
                     key="fig7.as-drawn/derpp"),
            C.versus("like", L.CHAPTER, "Fig. 7 / 13, like with like",
                     pd.DataFrame({"a": auc(stella_auc), "b": auc(0.39, -1)}), "a", "b", 1, unit="AUC", margin=None,
                     key="fig7.like/derpp"),
            C.versus("drift", L.CHAPTER, "Fig. 2 / 14", pd.DataFrame({"a": auc(stella_js), "b": auc(0.30, -1)}), "a", "b",
                     -1, unit="JS", margin=None, reading="like with like: both similarity maps", key="fig2.drift/like")]
    return C.judge(rows)


def test_localization_and_drift_sentences_state_the_judged_claims():
    """Chapter 07's sentences quote the claims table: its oriented difference, interval and verdict, per reading."""
    claims = _localization_claims(0.345, 0.20)
    like = next(s for s in L.localization_sentences(claims) if "like with like" in s)
    r = C_row(claims, "fig7.like/derpp")
    assert f"{r['difference']:+.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}], {r['verdict']}" in like
    assert r["verdict"] in ("contradicted", "inconclusive")
    text = L.drift_sentence(claims)
    d = C_row(claims, "fig2.drift/like")
    assert d["difference"] > 0 and f"{d['difference']:+.2f}" in text and "+ : STELLA drifts less" in text
    assert L.localization_sentences(_localization_claims(0.50, 0.2)) != L.localization_sentences(claims)


def C_row(claims, key):
    import stella.report.claims as C

    return C.row(claims, key)


def test_summaries_of_chapters_01_and_07_quote_every_model_and_follow_the_interval():
    rng = np.random.default_rng(2)
    sig = pd.concat([_clips(40, rng, 0.8)] + [_clips(40, rng, 0.6, f"{name} after task 4", s)
                                               for name in ("STELLA", "DER++") for s in range(3)])
    sel = S.selection_table(sig, "unseen classes", topk=False)
    loc = pd.DataFrame([{"binarisation": "median", "truth": t, "method": m, "map": k, "seed": s, "AUC": 0.3, "cIoU": 0.1,
                         "pointing": 0.5} for t in S.TRUTHS.values() for s in range(3)
                        for m, k in (("stella", "avm"), ("derpp", "avm"), ("derpp", "similarity"))])
    lines = L.page_summary(sel, loc, _localization_claims(0.345, 0.2))
    for model in ("pre-trained start", "STELLA after task 4", "DER++ after task 4"):
        assert model in lines[0], model
    assert "DER++, pre-trained AVM map 0.300" in lines[1] and any("like with like" in line for line in lines)
    tasks = pd.DataFrame({"classes": [4, 4], "train clips": [10, 12]})
    sp = pd.DataFrame({"video_patches": [0.2, 0.3], "audio_chunks": [0.4, 0.4]})
    text = " ".join(B.page_summary(tasks, sp, sig[sig["model"] == "pre-trained start"]))
    assert "2 continual tasks of 8 classes in all (22 training clips)" in text and "25.0 %" in text
    assert "has learned when the sound is on" in text
    flat = _clips(40, rng, 0.8, attention_sounding=0.375)
    assert "has not (measurably) learned" in " ".join(B.page_summary(tasks, sp, flat))
    loud = _clips(40, rng, 0.8, attention_sounding=0.9).assign(active_tokens=0.75)   # no clip sparse enough for Alg. 1
    text = " ".join(B.page_summary(tasks, sp, loud))
    assert "— %" not in text and "active audio patches (random" not in text and "learned when the sound is on" in text


def test_model_page_states_the_avm_share_that_describe_computes():
    from stella.config import load_config
    from stella.models import describe

    share = describe(load_config("paper", ["data.dataset=synthetic"]))["avm_percent_of_backbone"]
    text = (REPO / "book" / "model.md").read_text()
    stated = re.search(r"the AVM adds ([\d.]+)% parameters", text)
    assert stated and stated.group(1) == f"{share:.2f}", (stated and stated.group(1), share)


def test_sparsity_chart_is_drawn_once_with_reader_labels(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stella.report import plots

    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append([t.get_text() for t in plt.gca().get_legend().get_texts()]))
    plt.close("all")
    out = plots.plot_sparsity(pd.DataFrame({"task": [1, 2], "video_patches": [0.2, 0.3], "audio_chunks": [0.4, 0.4]}))
    assert out is None and len(shown) == 1
    assert not any("_" in label for label in shown[0])
    plt.close("all")


def test_wide_mean_std_tables_put_the_std_under_the_mean():
    from stella.report.display import STACK_FROM, show

    means = pd.DataFrame(np.arange(8.0).reshape(2, 4), index=["er", "stella"], columns=list("abcd"))
    html = show(means, stds=means / 10).to_html()
    assert html.count('class="stella-std"') == 8 and "0.00<br>" in html and "STELLA" in html
    narrow = show(means.iloc[:, :STACK_FROM - 1], stds=means.iloc[:, :STACK_FROM - 1] / 10).to_html()
    assert "stella-std" not in narrow and "1.00 ± 0.10" in narrow
