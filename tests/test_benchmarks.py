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
