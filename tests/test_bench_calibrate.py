"""benchmarks.bench_calibrate: no STELLA, LPIS or RCA run ever enters the calibration, and the sweep runs end to
end at the smoke preset (numbers not asserted)."""
from __future__ import annotations

import pytest

from benchmarks import bench_calibrate as BC
from stella.continual import METHODS
from stella.selection import AVM_STRATEGIES


@pytest.mark.parametrize("stage", ["coarse", "refine"])
def test_the_sweep_trains_no_stella_lpis_or_rca(stage):
    runs = BC.sweep_runs("cpu", stage, list(BC.SETTINGS), n_seeds=5, n_coarse=3, n_full=3, n_phenomena=3)
    methods = {r.method for r in runs}
    assert methods and not methods & {"stella", "stella+", "stella++", "lpis", "rca"}
    for m in methods:
        assert not METHODS[m].needs_avm and METHODS[m].strategy not in AVM_STRATEGIES, m
    assert {r.setting for r in runs} == set(BC.SETTINGS)
    if stage == "coarse":
        assert methods == {"oracle", "random"} and all("selection.mask_of=selected" in r.overrides for r in runs)
    else:
        assert methods == set(BC.ARMS.values()) | set(BC.PHENOMENA.values())
        assert {o for r in runs for o in r.overrides if "mask_of" in o} == {"selection.mask_of=selected",
                                                                            "selection.mask_of=full"}
    with pytest.raises(ValueError, match="unknown setting"):
        BC.sweep_runs("cpu", stage, ["nope"], 5, 3, 3, 3)


@pytest.mark.slow
def test_the_sweep_runs_and_prints_its_table_from_the_store(tmp_path, capsys):
    args = ["--preset", "smoke", "--settings", "today", "--coarse-seeds", "2", "--jobs", "1", "--results", str(tmp_path)]
    BC.main([*args, "--stage", "coarse"])
    out = capsys.readouterr().out
    assert "4 of 4 runs to train, 1 stages to measure" in out and "today: localisation" in out
    assert "[selected reading]" in out and "n=2" in out and "Gate: Oracle − Random >= 10 %p" in out
    BC.main([*args, "--stage", "table", "--record", str(tmp_path / "rec.json")])
    again = capsys.readouterr().out
    assert "runs to train" not in again and "matched − brightness (AUC)" in again
    from stella.report.chapters.calibration import checks_table, gap_table, load_record

    rec = load_record(tmp_path / "rec.json")
    assert [s["setting"] for s in rec["settings"]] == ["today"] and "--record" in rec["provenance"]["command"]
    assert len(gap_table(rec)) == 2 and checks_table(rec).at[0, "setting"] == "today"
