"""The landing page's summary of chapter 09: sentences, linked claims table, figure and caption, shared claims."""
import math

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from stella.report import claims as C
from stella.report import summary as S
from stella.report.figures import VERDICT_COLORS, claims_forest, png

NAN = math.nan


def _claim(claim, chapter, verdict, diff, low=NAN, high=NAN, n=3, paper_diff=1.0, chance=4.17):
    return {"claim": claim, "chapter": chapter, "paper": "X 2.00 vs Y 1.00", "paper_difference": paper_diff,
            "ours": "X 1.50 vs Y 1.00", "difference": diff, "ci_low": low, "ci_high": high, "n_seeds": n,
            "chance": chance, "ceiling": 21.0, "verdict": verdict, "test": C.PAIRED_TEST}


def _threshold(verdict="holds"):
    return {"claim": "STELLA's training memory / DER++'s <= 0.56 (batch 4)", "chapter": "03_efficiency",
            "paper": "0.56 (17.45 / 30.95)", "paper_difference": NAN, "ours": "0.53", "difference": NAN,
            "ci_low": NAN, "ci_high": NAN, "n_seeds": 1, "chance": NAN, "ceiling": NAN, "verdict": verdict,
            "test": "threshold, one measurement"}


def _frame(rows):
    return pd.DataFrame(rows, columns=C.COLUMNS)


def _context(best=("stella", "A→V", 6.7)):
    ctx = pd.DataFrame({"A→V above chance (%p)": [1.0, 2.0], "V→A above chance (%p)": [0.5, 3.0]},
                       index=["er", "stella"])
    ctx.loc[best[0], f"{best[1]} above chance (%p)"] = best[2]
    return ctx


SCALE = {"chance": 4.17, "ceiling": 21.17, "gallery": 128}


def test_headline_counts_verdicts_and_says_why_most_are_inconclusive():
    one_seed = _frame([_claim("A beats B (A→V)", "02_retrieval", "inconclusive", 1.0, n=1),
                       _claim("A beats B (V→A)", "02_retrieval", "inconclusive", -1.0, n=1),
                       _claim("A beats C", "08_downstream", "inconclusive", 2.0, n=1, chance=25.0), _threshold()])
    text = S.headline(one_seed, _context(), SCALE, "smoke")
    assert text.startswith("**At the `smoke` preset with 1 seed, 1 of the paper's 4 checked claims holds, "
                           "0 are contradicted and 3 are inconclusive.**")
    assert "Most are inconclusive because one seed gives no interval: only the 1 claim judged by one " \
           "measurement against the paper's threshold (Table 2) gets a verdict." in text
    assert "The best retrieval score (STELLA, A→V) is 6.70 %p above chance (4.17 %), 39 % of the way to the " \
           "ceiling (21.17 %)." in text

    seeds = _frame([_claim("A beats B (A→V)", "02_retrieval", "inconclusive", 1.0, -1.0, 3.0),
                    _claim("A beats B (V→A)", "02_retrieval", "holds", 2.0, 0.5, 3.5),
                    _claim("D beats E", "04_ablations", "inconclusive", 1.0, n=1),
                    _claim("D beats F", "04_ablations", "inconclusive", -1.0, n=1)])
    text = S.headline(seeds, _context(("er", "V→A", 9.0)), SCALE, "cpu")
    assert "with 3 seeds (1 in chapter 04), 1 of the paper's 4 checked claims holds" in text
    assert ("Most are inconclusive because 1 claim has a 95 % interval that includes zero (the seeds cannot tell the "
            "two sides apart) and 2 rest on one seed, which gives no interval.") in text
    assert "(ER, V→A) is 9.00 %p above chance" in text

    mostly_decided = _frame([_claim("A beats B", "02_retrieval", "holds", 2.0, 0.5, 3.5),
                             _claim("A beats C", "02_retrieval", "contradicted", -2.0, -3.0, -1.0),
                             _claim("A beats D", "02_retrieval", "inconclusive", 0.0, -1.0, 1.0)])
    text = S.headline(mostly_decided, _context(), SCALE, "cpu")
    assert "1 of the paper's 3 checked claims holds, 1 is contradicted and 1 is inconclusive" in text
    assert "Most are inconclusive" not in text


def test_claim_index_links_every_claim_to_its_chapter():
    claims = _frame([_claim("A beats B (A→V)", "02_retrieval", "holds", 1.234, 0.5, 2.0),
                     _claim("A beats C", "08_downstream", "contradicted", -2.0, -3.0, -1.0, paper_diff=NAN,
                            chance=25.0),
                     _claim("D beats E", "04_ablations", "inconclusive", 0.5, n=1), _threshold("contradicted")])
    table = S.claim_index(claims).splitlines()
    assert len(table) == 2 + len(claims) and all(line.count("|") == 5 for line in table)
    assert "[A beats B (A→V)](02_retrieval.ipynb)" in table[2] and "+1.23 [+0.50, +2.00], 3 seeds" in table[2]
    assert f'color: {VERDICT_COLORS["holds"]}' in table[2] and table[2].endswith("| +1.00 |")
    assert "(08_downstream.ipynb)" in table[3] and "−2.00 [−3.00, −1.00]" in table[3]
    assert table[3].endswith("| X 2.00 vs Y 1.00 |")   # no paper difference: the paper's text
    assert "+0.50, 1 seed |" in table[4]
    assert "(03_efficiency.ipynb)" in table[5] and "| ratio 0.53 (threshold, one measurement) |" in table[5]
    assert table[5].endswith("| ratio 0.56 (17.45 / 30.95) |")
    assert VERDICT_COLORS == {"holds": "#1a7f37", "contradicted": "#b42318", "inconclusive": "#6e7781"}


def test_claims_forest_draws_each_claim_once_with_its_interval_and_the_papers_difference():
    claims = _frame([_claim("A beats B (F, A→V)", "02_retrieval", "holds", 1.0, 0.5, 1.5),
                     _claim("A beats B (F, V→A)", "02_retrieval", "contradicted", -1.0, -1.5, -0.5, paper_diff=-2.0),
                     _claim("C beats D (mean of both directions)", "04_ablations", "inconclusive", 0.3, n=1,
                            paper_diff=NAN),
                     _threshold()])
    before = plt.get_fignums()
    fig = claims_forest(claims, {"02_retrieval": "Retrieval", "04_ablations": "Ablations"})
    assert plt.get_fignums() == before   # not a pyplot figure: nothing is shown twice
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["", "A beats B (F)", "", "C beats D"]   # chapter rows, then one row per claim
    assert {t.get_text() for t in ax.texts} == {"Retrieval", "Ablations"}
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2 and ln.get_xdata()[0] != ln.get_xdata()[1]]
    assert sorted(tuple(ln.get_xdata()) for ln in lines) == [(-1.5, -0.5), (0.5, 1.5)]   # one seed: no interval
    filled = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 1 and ln.get_markerfacecolor() != "none"]
    hollow = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 1 and ln.get_markerfacecolor() == "none"]
    assert sorted(ln.get_xdata()[0] for ln in filled) == [-1.0, 0.3, 1.0]
    assert sorted(ln.get_xdata()[0] for ln in hollow) == [-2.0, 1.0]     # the paper's, where it has one
    by_x = {ln.get_xdata()[0]: ln for ln in filled}
    assert matplotlib.colors.to_hex(by_x[-1.0].get_color()) == VERDICT_COLORS["contradicted"]
    assert by_x[-1.0].get_marker() == "s" and by_x[1.0].get_marker() == "o"   # V→A square, A→V circle
    image = png(fig, dpi=50)
    assert image.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_forest_caption_states_seeds_chance_and_what_is_not_drawn():
    claims = _frame([_claim("A beats B", "02_retrieval", "holds", 1.0, 0.5, 1.5),
                     _claim("A beats C", "04_ablations", "inconclusive", 1.0, n=1),
                     _claim("A beats D", "08_downstream", "inconclusive", 1.0, 0.0, 2.0, chance=25.0),
                     _claim("A beats E", "08_downstream", "inconclusive", 1.0, 0.0, 2.0, chance=50.0),
                     _threshold(), _threshold()])
    text = S.forest_caption(claims)
    assert text.startswith("**Figure.**")
    assert "From 3 seeds (1 in chapter 04)." in text
    assert "4.17 % (chapters 02 and 04); 25.00 and 50.00 % (chapter 08's two scores)" in text
    assert "Not drawn: 2 claims judged by one measurement" in text
    assert S.seeds_phrase(_frame([_threshold()])) == "no seeds"


def test_chapter_titles_come_from_the_notebooks():
    titles = S.chapter_titles(["02_retrieval", "09_what_reproduced", "99_missing"])
    assert titles["02_retrieval"].startswith("Zero-shot audio-video retrieval")
    assert titles["09_what_reproduced"].startswith("What reproduced")
    assert titles["99_missing"] == "99_missing"


def test_landing_page_and_chapter_09_share_one_claims_frame(tmp_path, monkeypatch):
    from stella.report import runs
    from stella.report.defaults import notebook_setup
    from stella.store import RunStore

    rd = RunStore(tmp_path).dir(runs.run_config("smoke", "stella"))
    asked, computed = [], []
    monkeypatch.setattr(runs, "get_run", lambda *a, **k: asked.append(a) or rd)

    def book_claims(preset, seeds, results_dir, task_order, device, **kw):
        computed.append((preset, list(seeds), kw))
        return _frame([_claim("A beats B", "02_retrieval", "inconclusive", 1.0, n=len(seeds)), _threshold()])

    monkeypatch.setattr(C, "book_claims", book_claims)
    chapter = notebook_setup("09_what_reproduced", "smoke", str(tmp_path))
    landing = notebook_setup("index", "smoke", str(tmp_path))
    assert (landing.seeds, landing.options) == (chapter.seeds, chapter.options)
    first, second = S.what_reproduced(chapter), S.what_reproduced(landing)
    assert len(computed) == 1 and computed[0][2] == {"efficiency_batches": chapter.efficiency_batches,
                                                     "efficiency_steps": chapter.efficiency_steps}
    pd.testing.assert_frame_equal(first, second)
    assert math.isnan(second.at[1, "difference"]) and second.at[0, "n_seeds"] == 1
    assert asked[0][:3] == ("smoke", "stella", chapter.seeds[0])
    S.what_reproduced(notebook_setup("index", "smoke", str(tmp_path), n_seeds=2))   # other seeds: computed again
    assert len(computed) == 2 and computed[1][1] == chapter.seeds + [chapter.seeds[0] + 1]


@pytest.mark.parametrize("bad", [{"n_seeds": 0}, {"efficiency_steps": "two"}])
def test_landing_page_parameters_are_checked_like_chapter_09s(bad):
    from stella.report.defaults import ParameterError, notebook_setup

    with pytest.raises(ParameterError, match=next(iter(bad))):
        notebook_setup("index", "smoke", **bad)
