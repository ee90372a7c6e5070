"""Chapter 04b's report module: its runs, its pairs and the sentences computed from them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stella.report import claims as C
from stella.report.chapters import controls as CT
from stella.report.parameters import notebook_setup
from stella.report.plan import book_runs
from stella.report.runs import run_config


def test_the_cpu_chapter_asks_for_every_control_with_more_seeds_for_the_headline():
    nb = notebook_setup("04b_controls", "cpu")
    assert len(nb.seeds) == 5 and len(nb.options["headline_seeds"]) == 10 and len(nb.options["sparsity_seeds"]) == 3
    req = CT.planned_runs(nb)
    per = lambda m, ov: sorted({s for mm, s, o in req if mm == m and o == ov})
    assert per("stella", CT.EQUAL) == nb.options["headline_seeds"] and per("derpp", ()) == nb.options["headline_seeds"]
    assert per("oracle", CT.SELECTED) == nb.seeds and per("er", CT.BUDGET) == nb.seeds and per("stella", CT.RHO1) == nb.seeds
    for level in CT.SPARSITY.values():
        assert set(nb.options["sparsity_seeds"]) <= set(per("oracle", level))
    keys = set(book_runs("cpu")["key"])            # the book trains them before the notebooks run
    assert all(run_config("cpu", m, s, ov).digest() in keys for m, s, ov in req)


def test_the_equal_budget_control_sees_the_baselines_visible_tokens_from_a_larger_selection():
    t = CT.budget_table("cpu").set_index("run")
    assert t.at["STELLA (full)", "visible (audio / video)"] == t.at["DER++", "visible (audio / video)"]
    assert t.at["STELLA (selected)", "visible (audio / video)"] == t.at["DER++ at STELLA's budget", "visible (audio / video)"]
    kept = lambda r: [int(x) for x in t.at[r, "kept (audio / video)"].split(" / ")]
    vis = lambda r: [int(x) for x in t.at[r, "visible (audio / video)"].split(" / ")]
    assert all(k > v for k, v in zip(kept("STELLA (full)"), vis("STELLA (full)")))   # not degenerate


def _scores(shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for label in CT.ROWS:
        for s in range(5):
            for d in ("A→V", "V→A"):
                a = 10 + rng.normal(0, 0.3) + (shift if label.startswith("Oracle") else 0)
                rows.append({"label": label, "seed": s, "direction": d, "A": a, "F": 5 + rng.normal(0, 0.3)})
    return pd.DataFrame(rows)


def test_control_pairs_are_judged_and_the_summary_follows_the_numbers():
    null = pd.DataFrame({"seed": [1, 2], "identical summary": [True, True]})
    big, none = (C.judge(CT.control_comparisons(_scores(s))) for s in (5.0, 0.0))
    key = "controls.room.A.A→V/oracle-random"
    row = C.row(big, key)
    assert row["verdict"] == "holds" and row["difference"] == pytest.approx(5.0, abs=0.5)
    assert row["claim"] == "the oracle selection beats random selection (A, A→V)"
    assert C.row(none, key)["verdict"] in ("inconclusive", "equivalent")
    assert set(big["family"]) == {fam for _, fam in CT.PAIRS} and (big["n_seeds"] == 5).all()
    said, flat = CT.control_sentences(big, null), CT.control_sentences(none, null)
    assert said[0] == "Null control: STELLA at rho = 1 writes DER++'s results number for number in 2 of 2 seeds."
    assert said != flat and f"{row['difference']:+.2f} %p" in " ".join(said)


def test_reading_sentence_counts_both_readings_and_changes_with_them():
    def cmp(claim, family, diff, key):
        return C.Comparison(claim, "x", family, pd.Series([diff + 0.1, diff - 0.1, diff + 0.05, diff - 0.05]),
                            pd.Series([0.0, 0.0, 0.0, 0.0]), 1, key=key)
    sel = "Table 1: STELLA outperforms every baseline (A, A→V)"
    full = "Table 1, full reading: STELLA outperforms every baseline (A, A→V)"
    frame = lambda d_full: C.judge([
        cmp("STELLA has a higher A than DER++ (A→V)", sel, -6.0, "table1.outperforms.stella.A→V/derpp"),
        cmp("STELLA (full reading) has a higher A than DER++ (A→V)", full, d_full, "table1-full.outperforms.stella.A→V/derpp")])
    lost, won = CT.reading_sentence(frame(-5.0)), CT.reading_sentence(frame(5.0))
    assert "1 contradicted" in lost and "1 holds" in won and lost != won
    assert "-6.00 %p" in won and "+5.00 %p" in won
    assert CT.reading_sentence(frame(5.0).iloc[:1]) == ""


def test_prefetch_puts_the_first_run_of_each_missing_stage_first(tmp_path):
    from collections import namedtuple

    from stella.builder.prefetch import stages_alone
    from stella.continual.pretrain import pretrain_dir

    Row = namedtuple("Row", "method seed overrides")
    sparse = ", ".join(CT.SPARSITY["sparse"])
    todo = [Row("stella", 2021, ""), Row("er", 2021, ""), Row("er", 2022, ""), Row("stella", 2021, sparse),
            Row("random", 2021, sparse), Row("oracle", 2021, "data.num_distractors=0")]
    alone, rest = stages_alone("cpu", todo, tmp_path)           # cpu: stages on one thread, side by side
    assert alone == [] and rest == [todo[0], todo[3], todo[5], todo[1], todo[2], todo[4]]
    done = pretrain_dir(run_config("cpu", "stella", 2021), tmp_path)          # the book's stage computed
    done.mkdir(parents=True)
    (done / "COMPLETE").touch()
    assert stages_alone("cpu", todo, tmp_path)[1] == [todo[3], todo[5], todo[0], todo[1], todo[2], todo[4]]
    two = [(r.method, r.seed, ", ".join(filter(None, [r.overrides, "pretrain.num_threads=2"]))) for r in todo]
    alone, rest = stages_alone("cpu", [Row(*r) for r in two], tmp_path)    # a stage on more threads: alone
    assert [r.overrides for r in alone] == [two[0][2], two[3][2], two[5][2]] and len(rest) == 3


def test_room_and_sparsity_sentences_follow_the_numbers():
    big, none = (C.judge(CT.control_comparisons(_scores(s))) for s in (5.0, 0.0))
    assert CT.selection_room_sentence(big).startswith("The oracle beats random selection under both readings")
    assert CT.selection_room_sentence(none).startswith("The oracle does not beat random selection")
    gains = pd.DataFrame([{"level": lv, "direction": "A→V", "versus": v, "difference": d, "ci_low": d - 1,
                           "ci_high": d + 1, "n": 3} for lv, d in (("dense", -1.5), ("sparse", 3.25))
                          for v in ("STELLA − Random", "Oracle − Random")])
    said = CT.sparsity_sentence(gains)
    assert "dense -1.50 [-2.50, -0.50], sparse +3.25 [+2.25, +4.25]" in said and "3 seeds" in said
