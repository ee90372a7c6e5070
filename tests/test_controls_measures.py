"""Chapter 04b's measurements beyond A and F: the overwriting pairs' forgetting, the AVM's sound dependence, RCA's
diagnosis on judged patches; the comparisons and sentences follow the numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd

from stella.report import claims as C
from stella.report.chapters import controls as CT
from stella.report.chapters import controls_measures as CM
from stella.report.parameters import notebook_setup


def _overwriting(stella_less: float) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    return pd.DataFrame([{"method": m, "seed": s, "direction": d, "overwritten": 10 + bite - (stella_less if m == "STELLA" else 0)
                          + rng.normal(0, 0.3), "other": 10 + rng.normal(0, 0.3)}
                         for m, bite in (("STELLA", 4.0), ("LPIS only", 4.0), ("DER++", 4.0)) for s in range(5)
                         for d in ("A→V", "V→A")])


def test_overwriting_comparisons_orient_lower_forgetting_as_the_papers_side():
    judged = C.judge(CM.overwriting_comparisons(_overwriting(3.0)))
    r = C.row(judged, "controls.overwriting.A→V/stella-lpis")
    assert r["verdict"] == "holds" and abs(r["difference"] - 3.0) < 0.5 and r["unit"] == "%p of F"
    assert C.row(judged, "controls.overwriting-bites.V→A/DER++")["verdict"] == "holds"
    flat = C.judge(CM.overwriting_comparisons(_overwriting(0.0)))
    assert C.row(flat, "controls.overwriting.A→V/stella-derpp")["verdict"] != "holds"
    said = CM.overwriting_sentence(judged)
    assert f"against LPIS only {r['difference']:+.2f} [" in said and "5 seeds" in said and said != CM.overwriting_sentence(flat)
    assert CM.overwriting_sentence(judged.iloc[0:0]) == ""


def _summary(matched: float, silence: float, seed: int) -> pd.DataFrame:
    maps = {"avm:matched": matched, "avm:silence": silence, "avm:noise": 0.1, "avm:mismatched": 0.12,
            "brightness": 0.2, "motion": 0.15, "random": 0.05}
    return pd.DataFrame([{"map": m, "AUC": a, "cIoU": a, "pointing": a, "clips": 16,
                          **({} if m == "avm:matched" else {"d_auc": matched - a, "d_auc_low": matched - a - 0.02,
                                                              "d_auc_high": matched - a + 0.02})}
                         for m, a in maps.items()]).assign(seed=seed)


def test_the_avm_localises_because_of_the_sound_only_where_matched_beats_every_negative():
    good = pd.concat([_summary(0.5 + 0.01 * s, 0.1, s) for s in range(4)], ignore_index=True)
    judged = C.judge(CM.localisation_comparisons(good))
    assert set(judged["key"]) == {f"controls.sound-dependence/{k.replace('avm:', '')}" for k in CM.NEGATIVES}
    assert (judged["verdict"] == "holds").all() and (judged["unit"] == "AUC").all()
    stage = _summary(0.5, 0.6, 0)
    said = CM.localisation_sentence(stage, judged)
    assert "beats noise, another class's sound, brightness map" in said and said.endswith("holds for STELLA's final AVM.")
    bad = pd.concat([_summary(0.15 + 0.01 * s, 0.1, s) for s in range(4)], ignore_index=True)   # below brightness
    judged_bad = C.judge(CM.localisation_comparisons(bad))
    assert C.row(judged_bad, "controls.sound-dependence/brightness")["verdict"] == "contradicted"
    assert "does not hold here" in CM.localisation_sentence(stage, judged_bad)
    table = CM.localisation_table(stage, good).set_index("map")
    assert table.at["AVM, silence", "stage: matched − map"].startswith("-0.100 [") and len(table) == len(CM.MAP_NAMES)


def test_the_smoke_runs_give_forgetting_per_class_diagnosis_and_localisation(tmp_path, one_thread):
    nb = notebook_setup("04b_controls", "smoke", str(tmp_path))
    over = CM.overwriting_forgetting(nb)
    assert set(over["method"]) == set(CM.OVERWRITING) and set(over["direction"]) == {"A→V", "V→A"}
    assert over["overwritten"].notna().all()                    # smoke: one class of task 1 is reused in task 2
    rd = CT.run_of(nb, CT.ROWS["STELLA (selected)"], nb.seeds[0])
    assert list(rd.path.glob("class-forgetting-*.json"))        # kept beside the run
    diag = CM.diagnosis(nb)
    assert {"C judged: sounding video", "sounding kept: LPIS"} <= set(diag.columns)
    assert (diag.loc[diag["past"] == "none", "C judged: sounding video"] == 0).all()   # no past query: C = 0
    sim = CM.query_similarity_table(nb)
    assert set(sim["queries"]) == {"the run's memory", "every task's evaluation clips"}
    assert sim["different"].between(-1, 1).all()
    final = CM.final_localisation(nb)
    assert set(CM.MAP_NAMES) <= set(final["map"]) and (final["seed"] == nb.seeds[0]).all()
