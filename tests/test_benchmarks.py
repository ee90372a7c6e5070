"""The benchmarks run end to end at the smoke preset (they print figures; nothing is timed here)."""
from benchmarks import bench_methods, bench_model


def test_backbone_benchmark_prints_all_columns(capsys):
    bench_model.main(["--preset", "smoke", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "full" in out and "random rho=0.5/0.5" in out and "stella (AVM + selection)" in out
    assert "saved_mb" in out


def test_methods_benchmark_prints_ratios(capsys):
    bench_methods.main(["--preset", "smoke", "--steps", "1", "--methods", "derpp", "stella", "stella+"])
    out = capsys.readouterr().out
    assert "STELLA / DER++ memory" in out and "stella+" in out


def test_signal_benchmark_prints_every_target(capsys, tmp_path):
    from benchmarks import bench_signal

    bench_signal.main(["--preset", "smoke", "--seeds", "2", "--results", str(tmp_path), "--threads", "1",
                       "--methods", "multitask", "finetune", "derpp", "stella"])
    out = capsys.readouterr().out
    for text in ("pre-training:", "unseen classes", "video: sounding object while it sounds", "audio: active patches",
                 "AUC vs the sounding mask", "multitask A - chance", "finetune F / its seed std",
                 "derpp A - finetune A", "vs derpp"):
        assert text in out, text


def test_book_benchmark_takes_a_run_apart_and_reads_the_phases(capsys, tmp_path):
    import json

    from benchmarks import bench_book
    from stella.builder.driver import timings_path

    path = timings_path(tmp_path, "smoke")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"jobs": 2, "runs_trained": 3, "phases": {"runs": 9.5, "notebooks": 20.0},
                                "notebooks": {"00_method_walkthrough": 20.0}, "runs": {"stella, seed 2021": 4.0}}))
    bench_book.main(["--preset", "smoke", "--methods", "derpp", "stella", "--repeat", "1", "--no-imports",
                     "--book-root", str(tmp_path)])
    out = capsys.readouterr().out
    for text in ("derpp #1", "stella #1", "forward", "backward", "optimiser", "AVM", "selection", "evaluation",
                 "writes", "notebook 00_method_walkthrough", "slowest runs: stella, seed 2021 4 s"):
        assert text in out, text
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("AVM ", "selection "))}
    assert float(rows["AVM"][0]) == 0.0 and float(rows["AVM"][1]) > 0 and float(rows["selection"][1]) > 0


def test_step_benchmark_prints_flops_and_matmul_share(capsys):
    from benchmarks import bench_step

    bench_step.main(["--preset", "smoke", "--batch", "2", "--steps", "2"])
    out = capsys.readouterr().out
    for row in ("GFLOP per step", "eager step (ms)", "achieved GFLOP/s", "matrix products (% of op time)"):
        assert row in out
    share = float(next(l for l in out.splitlines() if l.startswith("matrix products")).split()[-1])
    assert 0 < share < 100
