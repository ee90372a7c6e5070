"""benchmarks.bench_controls prints chapter 04b's rows, pairs and diagnosis at the smoke preset (numbers not asserted)."""
from benchmarks import bench_controls
from stella.report.chapters import controls as CT


def test_controls_benchmark_prints_every_row(capsys, tmp_path, one_thread):
    bench_controls.main(["--preset", "smoke", "--seeds", "2", "--results", str(tmp_path),
                         "--parts", "budget,table,efficiency,diagnosis"])
    out = capsys.readouterr().out
    for label in CT.rows_for("smoke"):
        assert out.count(label) >= 2, label                       # budget and table
    assert "null control: STELLA with rho = 1 has DER++'s summary.json, number for number, in 2 of 2 seeds" in out
    rows = CT.rows_for("smoke")
    for (_, family), pairs in CT.PAIRS.items():
        assert (family in out) == any(a in rows and b in rows for _, a, b, _, _ in pairs), family
    assert "RCA diagnosis" in out and "the run's memory" in out and "C judged: sounding video" in out
    assert "selection efficiency E" in out and "Oracle − Random" in out
