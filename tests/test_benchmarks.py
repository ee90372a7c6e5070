"""The benchmarks run end to end at the smoke preset (they print figures; nothing is timed here)."""
import json

import pytest

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


def test_methods_alone_count_the_same_memory_as_side_by_side(capsys):
    def peaks(extra):
        bench_methods.main(["--preset", "smoke", "--steps", "1", "--methods", "derpp", "stella", *extra])
        lines = capsys.readouterr().out.splitlines()
        header = lines[1].split()
        rows = {ln.split()[0]: ln.split() for ln in lines[2:4]}
        return lines[0], {m: float(r[header.index("peak_mb")]) for m, r in rows.items()}

    head_side, side = peaks([])
    head_alone, alone = peaks(["--alone"])
    assert "side by side" in head_side and "one method at a time" in head_alone
    assert set(side) == {"derpp", "stella"} and side == alone


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
    table = out[out.index("part (s)"):out.index("\nsteps")].splitlines()[1:]    # two runs: two 16-wide columns
    rows = {line[:-32].strip(): [float(v) for v in line[-32:].split()] for line in table}
    parts = {k: v for k, v in rows.items() if k != "total"}
    assert set(parts) == set(bench_book.ORDER) and "total" in rows
    for col in (0, 1):      # what was measured: every part non-negative, the parts sum to the total (2 decimals each)
        assert all(v[col] >= 0 for v in parts.values())
        assert abs(sum(v[col] for v in parts.values()) - rows["total"][col]) <= 0.005 * (len(parts) + 1)
    assert rows["AVM"][0] == 0.0          # DER++ has no AVM: nothing is timed there


def test_step_benchmark_prints_flops_and_matmul_share(capsys):
    from benchmarks import bench_step

    bench_step.main(["--preset", "smoke", "--batch", "2", "--steps", "2"])
    out = capsys.readouterr().out
    for row in ("GFLOP per step", "eager step (ms)", "achieved GFLOP/s", "matrix products (% of op time)"):
        assert row in out
    share = float(next(l for l in out.splitlines() if l.startswith("matrix products")).split()[-1])
    assert 0 < share < 100


@pytest.mark.slow
def test_gpu_check_script_runs_every_part_at_the_smoke_preset(tmp_path):
    """benchmarks/paper_gpu.sh end to end on the CPU at the smoke preset: every part writes its figures."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PY": sys.executable, "OUT": str(tmp_path), "PRESET": "smoke", "DEVICE": "cpu",
           "STEPS": "1", "BATCH": "2", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", str(root / "benchmarks" / "paper_gpu.sh")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout[-3000:] + done.stderr[-3000:]
    assert "cuda False" in (tmp_path / "environment.txt").read_text()
    assert "stella (AVM + selection)" in (tmp_path / "backbone.txt").read_text()
    table2 = (tmp_path / "table2.txt").read_text()
    assert table2.count("(median), one method at a time") == 2 and "selection.mask_of=selected" in table2
    assert all(m in table2 for m in ("finetune", "clser", "esmer", "stella++"))
    train = (tmp_path / "train.txt").read_text()
    assert "trained:" in train and "wall " in train and "\"metric\": \"avg\"" in train   # summary.json appended
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backbone.txt", "environment.txt", "run.json", "table2.txt",
                                                          "train.txt"]
    from stella.report.gpu_check import gpu_table2

    run = json.loads((tmp_path / "run.json").read_text())
    assert run["status"] == {"backbone": 0, "table2": 0, "table2_selected": 0, "train": 0} and run["gpu"] is None
    assert gpu_table2(tmp_path) is None                                  # the CPU smoke run is no GPU figure
    df = gpu_table2(tmp_path, require_gpu=False)
    assert len(df) == 14 and set(df["device"]) == {"cpu"} and df["date"].iloc[0] == run["started"]


@pytest.mark.slow
def test_kernels_benchmark_compares_a_run_under_two_instruction_sets(capsys):
    from benchmarks import bench_kernels

    bench_kernels.main(["--preset", "smoke", "--capabilities", "native", "default"])   # default: scalar, any CPU
    out = capsys.readouterr().out
    assert "reference: native (torch's" in out and "default (torch's DEFAULT kernels) against native" in out
    assert "pre-training stage losses: max |diff|" in out and "over 6 steps" in out
    assert "run losses: max |diff|" in out and "over 4 steps" in out and "A (avg recall, %): A→V" in out


def test_kernels_benchmark_compare_finds_the_first_differing_step():
    from benchmarks.bench_kernels import compare

    assert compare([1.0, 2.0, 3.0], [1.0, 2.5, 3.0]) == ("max |diff| 5.0e-01 over 3 steps, "
                                                         "first differ at step 2 (5.0e-01)")
    assert compare([1.0], [1.0]) == "max |diff| 0.0e+00 over 1 steps, identical" and compare([], []) == "no losses"
