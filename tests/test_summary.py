"""The landing page's summary of chapter 09: sentences, linked claims table, figure and caption, shared claims."""
import math

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from stella.report import claims as C
from stella.report.chapters import reproduced as S
from stella.report.figures import VERDICT_COLORS, png

NAN = math.nan


def _claim(claim, chapter, verdict, diff, low=NAN, high=NAN, n=3, paper_diff=1.0, chance=4.17, family=None,
           unit="%p", detectable=1.5, note=""):
    return {"key": f"{family or chapter}/{claim}", "claim": claim, "chapter": chapter,
            "family": family or f"{chapter}: {claim}", "family_size": 1,
            "kind": "superiority", "paper": "X 2.00 vs Y 1.00", "paper_difference": paper_diff,
            "ours": "X 1.50 vs Y 1.00", "difference": diff, "ci_low": low, "ci_high": high, "p": 0.01,
            "p_holm": 0.01, "n_seeds": n, "detectable": detectable, "margin": 1.0, "unit": unit, "chance": chance,
            "ceiling": 21.0, "verdict": verdict, "test": C.PAIRED_TEST, "reading": "", "note": note}


def _frame(rows):
    return pd.DataFrame(rows, columns=C.COLUMNS)


def _context(best=("stella", "A→V", 6.7)):
    ctx = pd.DataFrame({"A→V above chance (%p)": [1.0, 2.0], "V→A above chance (%p)": [0.5, 3.0]},
                       index=["er", "stella"])
    ctx.loc[best[0], f"{best[1]} above chance (%p)"] = best[2]
    return ctx


SCALE = {"chance": 4.17, "ceiling": 21.17, "gallery": 128}


def _claims():
    fam = "Table 1: STELLA outperforms every baseline (A, A→V)"
    return _frame([_claim("STELLA beats ER (A→V)", "02_retrieval", "holds", 2.0, 0.5, 3.5, family=fam),
                   _claim("STELLA beats DER++ (A→V)", "02_retrieval", "inconclusive", 1.0, -1.0, 3.0, family=fam,
                          detectable=2.5),
                   _claim("L_c = 4 beats 2", "04_ablations", "equivalent", 0.1, -0.3, 0.5),
                   _claim("STELLA beats DER++ (classification)", "08_downstream", "not tested", NAN, n=0,
                          note="saturated"),
                   _claim("STELLA's memory / DER++'s below 1", "03_efficiency", "contradicted", -0.1, -0.1, -0.1,
                          n=5, unit="ratio")])


def test_headline_counts_verdicts_families_power_and_the_best_score():
    from stella.report.verdicts import family_table

    claims = _claims()
    fams = family_table(claims)
    assert list(fams["family verdict"]) == ["inconclusive", "equivalent", "not tested", "contradicted"]
    assert fams.iloc[0][["comparisons", "holds", "inconclusive"]].tolist() == [2, 1, 1]
    text = S.headline(claims, _context(), SCALE, "cpu", fams)
    assert text.startswith("**At the `cpu` preset, 4 of the paper's comparisons were tested over 3 seeds (Table 1, "
                           "chapter 04); 5 seeds or rounds (chapter 03): 1 hold, 1 are contradicted, 1 are equivalent "
                           "within the margin and 1 are inconclusive.**")
    assert "1 comparison is not tested" in text
    assert "in 4 families" in text and "0 hold in full, 1 have a contradicted member, 1 are equivalent" in text
    assert "median detectable difference (80 % power) is 2.50 %p" in text
    assert "The best retrieval score (STELLA, A→V) is 6.70 %p above chance (4.17 %), 39 % of the way to the " \
           "ceiling (21.17 %)." in text


def test_family_index_links_every_family_to_its_chapter():
    from stella.report.verdicts import family_table

    table = S.family_index(family_table(_claims())).splitlines()
    assert len(table) == 2 + 4 and all(line.count("|") == 4 for line in table)
    assert "[Table 1: STELLA outperforms every baseline (A, A→V)](02_retrieval.ipynb)" in table[2]
    assert table[2].endswith("| 1 / 0 / 0 / 1 / 0 |") and f'color: {VERDICT_COLORS["inconclusive"]}' in table[2]
    assert "(03_efficiency.ipynb)" in table[5] and "contradicted" in table[5]
    assert set(VERDICT_COLORS) == set(C.VERDICTS)


def test_verdict_bars_draw_each_family_with_its_verdict_counts():
    from stella.report.figures import verdict_bars
    from stella.report.verdicts import family_table

    fams = family_table(_claims())
    before = plt.get_fignums()
    fig = verdict_bars(fams, {"02_retrieval": "Retrieval"})
    assert plt.get_fignums() == before
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:2] == ["Retrieval", "STELLA outperforms every baseline (A, A→V)"]
    widths = sorted(round(p.get_width(), 3) for p in ax.patches if p.get_width() > 0 and p.get_height() < 1)
    assert widths == [1, 1, 1, 1, 1]          # 2 in the first family (1 + 1), then one per family
    assert png(fig, dpi=40).data[:8] == b"\x89PNG\r\n\x1a\n"
    cap = S.verdict_caption(_claims(), fams)
    assert cap.startswith("**Figure.**") and "4 families, 5 comparisons" in cap and "Holm" in cap


def test_chapter_titles_come_from_the_notebooks():
    titles = S.chapter_titles(["02_retrieval", "09_what_reproduced", "99_missing"])
    assert titles["02_retrieval"].startswith("Zero-shot audio-video retrieval")
    assert titles["09_what_reproduced"].startswith("What reproduced")
    assert titles["99_missing"] == "99_missing"


def test_landing_page_and_chapter_09_share_one_claims_frame(tmp_path, monkeypatch):
    from stella.report import runs
    from stella.report.parameters import notebook_setup
    from stella.store import RunStore

    rd = RunStore(tmp_path).dir(runs.run_config("smoke", "stella"))
    asked, computed = [], []
    monkeypatch.setattr(S, "get_run", lambda *a, **k: asked.append(a) or rd)

    def book_claims(ctx):
        computed.append(ctx)
        return _frame([_claim("A beats B", "02_retrieval", "inconclusive", 1.0, n=len(ctx.seeds))])

    monkeypatch.setattr(S, "book_claims", book_claims)
    chapter = notebook_setup("09_what_reproduced", "smoke", str(tmp_path))
    landing = notebook_setup("index", "smoke", str(tmp_path))
    assert landing.seeds == chapter.seeds
    first, second = S.what_reproduced(chapter), S.what_reproduced(landing)
    assert len(computed) == 1 and computed[0].seeds == tuple(chapter.seeds) and computed[0].preset == "smoke"
    pd.testing.assert_frame_equal(first, second)
    assert asked[0][:3] == ("smoke", "stella", chapter.seeds[0])
    S.what_reproduced(notebook_setup("index", "smoke", str(tmp_path), n_seeds=2))   # other seeds: computed again
    assert len(computed) == 2 and computed[1].seeds == (chapter.seeds[0], chapter.seeds[0] + 1)


@pytest.mark.parametrize("bad", [{"n_seeds": 0}, {"device": "tpu"}])
def test_landing_page_parameters_are_checked_like_chapter_09s(bad):
    from stella.report.parameters import ParameterError, notebook_setup

    with pytest.raises(ParameterError, match=next(iter(bad))):
        notebook_setup("index", "smoke", **bad)
