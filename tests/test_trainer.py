"""Trainer: determinism, exact resumption after SIGKILL, torchrun with gloo."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stella.config import load_config
from stella.continual import METHODS, resolve_method_config, run_experiment

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _run_dir(results):
    """The one run directory under a results folder (the pre-training stage lives in results/pretrain/)."""
    return next(p for p in Path(results).iterdir() if (p / "config.json").exists())


def _results(rd):
    return rd.load_json("results"), rd.load_json("summary")


def test_same_seed_same_metrics(tmp_path):
    cfg = load_config("smoke", ["continual.method=stella"])
    a = run_experiment(cfg, results_dir=tmp_path / "a")
    b = run_experiment(cfg, results_dir=tmp_path / "b")
    assert _results(a) == _results(b)
    c = run_experiment(cfg.with_overrides({"run.seed": 7}), results_dir=tmp_path / "c")
    assert a.load_json("losses") != c.load_json("losses")


def test_resolved_config_states_the_batch():
    assert resolve_method_config(load_config("smoke", ["continual.method=derpp"])).continual.batch_multiplier == 1.0
    pp = resolve_method_config(load_config("smoke", ["continual.method=stella++"]))
    assert pp.continual.batch_multiplier == pytest.approx(1.66)
    with pytest.raises(ValueError, match="unknown method"):
        resolve_method_config(load_config("smoke", ["continual.method=nope"]))


def _train(results, method, extra_env=None, sets=()):
    cmd = [sys.executable, "-m", "stella.cli", "train", "--method", method, "--preset", "smoke",
           "--results", str(results), "--set", "continual.epochs_per_task=3", "--set", "run.checkpoint_every=2",
           *[a for s in sets for a in ("--set", s)]]
    return subprocess.run(cmd, cwd=REPO, env={**ENV, **(extra_env or {})}, capture_output=True, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("method, kill_at", [("stella", 3), ("stella", 6), ("derpp", 9)])
def test_resume_after_sigkill_matches_uninterrupted(tmp_path, method, kill_at):
    full = _train(tmp_path / "full", method)
    assert full.returncode == 0, full.stderr
    killed = _train(tmp_path / "killed", method, {"STELLA_KILL_AFTER_STEP": str(kill_at)})
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-2000:])
    run = _run_dir(tmp_path / "killed")
    assert (run / "checkpoint.pt").exists() and not (run / "COMPLETE").exists()
    resumed = _train(tmp_path / "killed", method)
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((_run_dir(tmp_path / "full") / "results.json").read_text())
    b = json.loads((run / "results.json").read_text())
    assert a == b
    la = json.loads((_run_dir(tmp_path / "full") / "losses.json").read_text())
    lb = json.loads((run / "losses.json").read_text())
    assert la == lb


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "stella.cli", "train", "--method", "stella", "--preset", "smoke", "--results", str(tmp_path),
           "--set", "data.train_per_class=8"]
    p = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    run = _run_dir(tmp_path)
    meta = json.loads((run / "meta.json").read_text())
    assert meta["world_size"] == 2 and meta["memory_capacity"] == 4   # each rank keeps memory_size // 2
    assert (run / "COMPLETE").exists() and (run / "checkpoint.rank1.pt").exists()


def test_every_method_is_listed_once():
    out = subprocess.run([sys.executable, "-m", "stella.cli", "methods"], cwd=REPO, env=ENV,
                         capture_output=True, text=True)
    assert out.returncode == 0
    names = [line.split()[0] for line in out.stdout.strip().splitlines()]
    assert names == list(METHODS) and len(set(names)) == len(names)


def test_train_writes_into_the_configured_results_dir(tmp_path, monkeypatch):
    from stella.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "--method", "finetune", "--preset", "smoke", "--set", f"run.results_dir={tmp_path / 'store'}"]) == 0
    assert len(list((tmp_path / "store").glob("*/COMPLETE"))) == 1 and not (tmp_path / "results").exists()
    assert main(["train", "--method", "finetune", "--preset", "smoke", "--results", str(tmp_path / "other")]) == 0
    assert len(list((tmp_path / "other").glob("*/COMPLETE"))) == 1


def test_two_processes_training_one_key_train_once(tmp_path):
    """Both start while the test holds the run's lock; then one trains and the other waits and reuses."""
    import fcntl
    import time

    from stella.store import RunStore

    cfg = resolve_method_config(load_config("smoke", ["continual.method=finetune"]))
    rd = RunStore(tmp_path).dir(cfg)
    lock = open(rd.file("run.lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    cmd = [sys.executable, "-m", "stella.cli", "train", "--method", "finetune", "--preset", "smoke",
           "--results", str(tmp_path)]
    errs = [tmp_path / f"err{i}.txt" for i in range(2)]
    procs = [subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=e.open("w"), text=True)
             for e in errs]
    deadline = time.time() + 120
    while not all("waiting" in e.read_text() for e in errs):
        assert time.time() < deadline and all(p.poll() is None for p in procs), [e.read_text() for e in errs]
        time.sleep(0.2)
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
    outs = sorted(p.communicate(timeout=300)[0] for p in procs)
    assert [p.returncode for p in procs] == [0, 0], [e.read_text() for e in errs]
    assert "complete already, reused" in outs[0] and "trained" in outs[1], outs
    assert all(e.read_text().count("\n") == 1 for e in errs)     # one line: waiting for the other process
