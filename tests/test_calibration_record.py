"""The calibration's record (benchmarks/records/calibration-cpu.json) as chapter 04b reads it: validated with errors
that name the file and key, its tables and its sentence, and the committed record matches the benchmark's sweep."""
from __future__ import annotations

import json

import pytest

from benchmarks import bench_calibrate as BC
from stella.data.synthetic import TODAY_OVERRIDES
from stella.report.chapters import calibration as CAL


def _record(gaps: dict[str, tuple[float, float]], checks_ok: bool = True) -> dict:
    today = set(TODAY_OVERRIDES)
    settings, rows = [], []
    for name, (av, va) in gaps.items():
        checks = {"gap A→V": av >= 10, "gap V→A": va >= 10, "Multitask − chance A→V": True,
                  "Multitask − chance V→A": True, "AVM localises": True, "because of the sound": checks_ok}
        failed = [k for k, v in checks.items() if v is False]
        settings.append({"setting": name, "knobs": [o for o in BC.SETTINGS[name] if o not in today],
                         "checks": checks, "gate": "fail: " + ", ".join(failed) if failed else "pass"})
        for d, g in (("A→V", av), ("V→A", va)):
            rows.append({"setting": name, "quantity": "Oracle − Random", "direction": d, "reading": "selected",
                         "d": g, "lo": g - 1.5, "hi": g + 1.5, "n": 5})
    return {"provenance": {"preset": "cpu", "built": "2026-12-07 20:00 UTC", "commit": "abc", "command": "python -m x"},
            "rule": {"gate": 10.0, "reading": "selected", "directions": ["A→V", "V→A"]}, "settings": settings,
            "rows": rows}


def test_the_sentence_names_the_best_setting_and_the_gate():
    rec = _record({"today": (4.9, 5.6), "sparse sound": (8.7, 6.35)}, checks_ok=False)
    text = CAL.calibration_sentence(rec, "cpu")
    assert CAL.best_setting(rec) == "sparse sound" and "\"sparse sound\" (data.active_fraction=0.25): +8.70 [+7.20, +10.20] (A→V)" in text
    assert "No setting meets the gate" in text and "\"because of the sound\" fails at 2 of 2" in text
    assert CAL.default_setting(rec) == "sparse sound" and "The cpu default is \"sparse sound\"" in text
    passing = _record({"today": (12.0, 11.0)})
    assert "1 setting meets the gate (today)" in CAL.calibration_sentence(passing, "smoke")
    assert "the record is of cpu" in CAL.calibration_sentence(passing, "smoke")
    assert "writes it" in CAL.calibration_sentence(None, "cpu")


def test_the_tables_show_every_setting_and_what_was_not_run():
    rec = _record({"today": (4.9, 5.6), "sparse sound": (8.7, 6.35)})
    gaps = CAL.gap_table(rec)
    assert len(gaps) == 4 and gaps.iloc[0]["Oracle − Random (selected)"] == "+4.90 [+3.40, +6.40]"
    assert set(gaps["Oracle − Random (full)"]) == {"not run"} and set(gaps["seeds"]) == {"5 / 0"}
    checks = CAL.checks_table(rec).set_index("setting")
    assert checks.at["today", "gap >= 10 %p"] == "no" and checks.at["today", "Finetune forgets"] == "not run"
    assert checks.at["today", "Multitask above chance"] == "yes" and checks.at["today", "gate"] == "fail"


def test_a_bad_record_names_the_file_and_the_key(tmp_path):
    assert CAL.load_record(tmp_path / "none.json") is None
    rec = _record({"today": (4.9, 5.6)})
    del rec["rows"][0]["lo"]
    path = tmp_path / "rec.json"
    path.write_text(json.dumps(rec))
    with pytest.raises(ValueError, match=r"rec\.json: rows\[0\] lacks 'lo'"):
        CAL.load_record(path)
    path.write_text(json.dumps({"provenance": {}}))
    with pytest.raises(ValueError, match=r"rec\.json: key 'rule' missing"):
        CAL.load_record(path)


def test_the_committed_record_is_the_benchmarks_sweep():
    rec = CAL.load_record()
    assert rec is not None, "benchmarks/records/calibration-cpu.json: run bench_calibrate with --record"
    today = set(TODAY_OVERRIDES)
    assert {s["setting"]: s["knobs"] for s in rec["settings"]} == {
        name: [o for o in ov if o not in today] for name, ov in BC.SETTINGS.items()}
    assert rec["rule"]["gate"] == BC.GATE and rec["rule"]["reading"] == BC.MAIN_READING
    assert "uncommitted" not in rec["provenance"]["commit"] and rec["provenance"]["preset"] == "cpu"
    assert CAL.default_setting(rec) is not None, "the cpu default is none of the swept settings"
