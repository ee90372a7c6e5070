"""benchmarks.bench_controls prints every control row and pair at the smoke preset (numbers not asserted)."""
from benchmarks import bench_controls


def test_controls_benchmark_prints_every_row(capsys, tmp_path, one_thread):
    bench_controls.main(["--preset", "smoke", "--seeds", "2", "--results", str(tmp_path),
                         "--parts", "budget,table,diagnosis"])
    out = capsys.readouterr().out
    for label in bench_controls.ROWS:
        assert out.count(label) >= 2, label                       # budget and table
    for ours, other in bench_controls.PAIRS:
        assert f"{ours} - {other}" in out
    assert "RCA diagnosis of the stella run" in out and "RCA diagnosis of the rca run" in out and "memory" in out
