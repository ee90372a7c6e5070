"""Chapter 04b's report module: its runs, its pairs, E and the sentences computed from them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stella.report import claims as C
from stella.report.chapters import controls as CT
from stella.report.chapters import controls_efficiency as CE
from stella.report.parameters import notebook_setup
from stella.report.plan import book_runs
from stella.report.runs import run_config


def test_the_cpu_chapter_asks_for_every_control_at_its_tier():
    nb = notebook_setup("04b_controls", "cpu")
    assert len(nb.seeds) == 5 and len(nb.options["sweep_seeds"]) == 3 and len(nb.options["sparsity_seeds"]) == 3
    req = CT.planned_runs(nb)
    per = lambda m, ov: sorted({s for mm, s, o in req if mm == m and o == ov})   # noqa: E731
    for label, (m, ov) in CT.ROWS.items():
        assert per(m, ov) == (nb.options["sweep_seeds"] if label in CT.FEW_SEEDS else nb.seeds), label
    for level in CT.SPARSITY.values():
        assert per("oracle", level) == per("stella", level) == nb.options["sparsity_seeds"]
    assert not {m for m, _, _ in req} & {"er"}                   # ER's rows were cut: DER++ asks the budget question
    keys = set(book_runs("cpu")["key"])            # the book trains them before the notebooks run
    assert all(run_config("cpu", m, s, ov).digest() in keys for m, s, ov in req)


def _flat(label: str) -> dict:
    m, ov = CT.ROWS[label]
    d = run_config("cpu", m, None, ov).to_dict()
    return {f"{sec}.{k}": v for sec, vals in d.items() if isinstance(vals, dict) for k, v in vals.items()}


SELECTION = {"selection.rho_a", "selection.rho_v", "selection.mask_of"}
ONE_THING = {"room": {"continual.method"}, "chunks": {"continual.method"}, "selection": {"continual.method"},
             "equal-tokens": {"continual.method"} | SELECTION, "budget": {"continual.method", "continual.visible_budget"} | SELECTION}


def test_each_pair_changes_one_thing():
    for (fkey, _), pairs in CT.PAIRS.items():
        for mkey, a, b, _, _ in pairs:
            x, y = _flat(a), _flat(b)
            changed = {k for k in x.keys() | y.keys() if x.get(k) != y.get(k)}
            assert changed and changed <= ONE_THING[fkey], (fkey, mkey, changed)
    assert {k for k in _flat("Random (selected)").items() ^ _flat("Random, all patches (selected)").items()} == \
        {("continual.method", "random"), ("continual.method", "random-patches")}
    gains, loses = (({k for k in _flat(a).keys() | _flat(b).keys() if _flat(a).get(k) != _flat(b).get(k)}) for a, b in
                    (("STELLA (full)", "STELLA (selected)"), ("DER++", "DER++ at STELLA's budget")))
    assert gains == SELECTION and loses == {"continual.visible_budget"}
    for level, ov in CT.SPARSITY.items():                        # a level changes data keys only
        assert all(o.startswith("data.") for o in ov), level


def test_the_equal_budget_control_sees_the_baselines_visible_tokens_from_a_larger_selection():
    t = CT.budget_table("cpu").set_index("run")
    assert t.at["STELLA (full)", "visible (audio / video)"] == t.at["DER++", "visible (audio / video)"]
    assert t.at["STELLA (selected)", "visible (audio / video)"] == t.at["DER++ at STELLA's budget", "visible (audio / video)"]
    kept = lambda r: [int(x) for x in t.at[r, "kept (audio / video)"].split(" / ")]      # noqa: E731
    vis = lambda r: [int(x) for x in t.at[r, "visible (audio / video)"].split(" / ")]     # noqa: E731
    assert all(k > v for k, v in zip(kept("STELLA (full)"), vis("STELLA (full)")))   # not degenerate
    assert t.at["Random (selected)", "kept (audio / video)"] == t.at["Random, all patches (selected)", "kept (audio / video)"]


def _scores(shift: float, stella: float = 0.5, labels=CT.ROWS, n: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for label in labels:
        for s in range(n):
            for d in ("A→V", "V→A"):
                a = 10 + rng.normal(0, 0.3) + (shift if label.startswith("Oracle") else 0) + \
                    (stella * shift if label.startswith("STELLA (") else 0)
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
    assert all(k.startswith("controls.") for k in big["key"])
    said, flat = CT.control_sentences(big, null), CT.control_sentences(none, null)
    assert said[0] == "Null control: STELLA at rho = 1 writes DER++'s results number for number in 2 of 2 seeds."
    assert said != flat and f"{row['difference']:+.2f} %p" in " ".join(said)


def test_reading_sentence_counts_both_readings_and_changes_with_them():
    def cmp(claim, family, diff, key):
        return C.Comparison(claim, "x", family, pd.Series([diff + 0.1, diff - 0.1, diff + 0.05, diff - 0.05]),
                            pd.Series([0.0, 0.0, 0.0, 0.0]), 1, key=key)
    sel = "Table 1: STELLA outperforms every baseline (A, A→V)"
    full = "Table 1, full reading: STELLA outperforms every baseline (A, A→V)"
    frame = lambda d_full: C.judge([   # noqa: E731
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
    small = ", ".join(CT.SPARSITY["smaller object"])
    todo = [Row("stella", 2021, ""), Row("er", 2021, ""), Row("er", 2022, ""), Row("stella", 2021, small),
            Row("random", 2021, small), Row("oracle", 2021, "data.num_distractors=0")]
    alone, rest = stages_alone("cpu", todo, tmp_path)           # cpu: stages on one thread, side by side
    assert alone == [] and rest == [todo[0], todo[3], todo[5], todo[1], todo[2], todo[4]]
    done = pretrain_dir(run_config("cpu", "stella", 2021), tmp_path)          # the book's stage computed
    done.mkdir(parents=True)
    (done / "COMPLETE").touch()
    assert stages_alone("cpu", todo, tmp_path)[1] == [todo[3], todo[5], todo[0], todo[1], todo[2], todo[4]]


def test_room_sentence_follows_the_numbers():
    big, none = (C.judge(CT.control_comparisons(_scores(s))) for s in (5.0, 0.0))
    assert CT.selection_room_sentence(big).startswith("The oracle beats random selection under both readings")
    assert CT.selection_room_sentence(none).startswith("No reading resolves the oracle's gain over random selection")


def test_efficiency_table_measures_each_selection_as_a_share_of_the_oracles_gain():
    table = CE.efficiency_table(_scores(6.0, stella=0.5))
    assert set(table["reading"]) == {"selected", "full"} and set(table["selection"]) == set(CE.SELECTIONS)
    st = table[(table["selection"] == "STELLA") & (table["reading"] == "full")].set_index("direction")
    assert st.at["A→V", "E"] == pytest.approx(0.5, abs=0.1) and st.at["A→V", "E_low"] < 0.5 < st.at["A→V", "E_high"]
    lp = table[table["selection"] == "LPIS only"]
    assert (lp["E"].abs() < 0.2).all() and (lp["oracle_gain"] > 5).all() and (table["n"] == 5).all()
    shown = CE.shown(table)
    assert list(shown.columns[:3]) == ["selection", "reading", "A→V E"] and "A→V X − Random" in shown.columns
    text = CE.efficiency_text(table[table["reading"] == "selected"], "reading selected")
    sel = table[(table["selection"] == "STELLA") & (table["reading"] == "selected")].iloc[0]
    assert text.startswith(f"STELLA's selection captures E = {sel['E']:.2f} [{sel['E_low']:.2f}, {sel['E_high']:.2f}] (A→V)")
    assert "5 seeds, reading selected" in text and "LPIS only" in text and "not resolved" not in text
    flat = CE.efficiency_table(_scores(0.0))
    assert "not resolved" in CE.efficiency_text(flat[flat["reading"] == "selected"], "x")
    assert CE.efficiency_text(flat.iloc[0:0], "x") == ""


def test_the_landing_sentence_reads_the_chapters_runs(monkeypatch):
    nb = notebook_setup("04b_controls", "smoke")
    seen = {}

    def fake(own, rows, seeds_of, extra=()):
        seen["rows"] = list(rows)
        return _scores(6.0, labels=rows, n=len(own.seeds) + 2)
    monkeypatch.setattr(CT, "scores", fake)
    text = CT.landing_efficiency(nb)
    assert seen["rows"] and all(r.endswith("(selected)") for r in seen["rows"])
    assert text.startswith("STELLA's selection captures E = ") and "reading selected: the mask ratio applied" in text


def test_sparsity_gains_give_e_per_level_and_the_sentence_their_power():
    rng = np.random.default_rng(1)
    rows = [{"label": m, "seed": s, "direction": d, "A": 10 + g + rng.normal(0, 0.5), "F": 0.0, "level": lv}
            for lv, gain in (("today", 2.0), ("default", 8.0)) for s in range(5) for d in ("A→V", "V→A")
            for m, g in (("Random", 0.0), ("Oracle", gain), ("STELLA", gain / 2))]
    gains = CE.sparsity_gains(pd.DataFrame(rows))
    e = gains[(gains["versus"] == "E") & (gains["direction"] == "A→V")].set_index("level")["difference"]
    assert e["default"] == pytest.approx(0.5, abs=0.1) and list(e.index) == ["today", "default"]
    said = CE.sparsity_sentence(gains)
    assert "Per level (A→V, 5 seeds" in said and "E today" in said and "detected with 80 % power" in said
    assert "would need today " in said


def test_the_seeds_note_names_the_tiers_and_the_cut_rows():
    note = CT.seeds_note(notebook_setup("04b_controls", "cpu"))
    assert "at 5; each sparsity level at 3" in note and "Anti-oracle (selected)" in note and ") at 3" in note
    assert "ER and ER at STELLA's budget" in note


def test_the_gate_sentence_reads_the_calibrations_gate():
    from benchmarks.bench_calibrate import GATE

    assert CT.GATE == GATE
    big, small = (C.judge(CT.control_comparisons(_scores(s))) for s in (12.0, 6.0))
    assert "is met" in CT.gate_sentence(big) and "is not met" in CT.gate_sentence(small)
    assert CT.gate_sentence(small.iloc[0:0]) == ""
