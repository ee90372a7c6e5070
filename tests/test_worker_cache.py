"""A long-lived prefetch worker (imports, benchmark and pre-trained weights kept per process) trains
runs bit-identical to training each in a fresh process: a run's numbers are a function of its config."""
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from stella.builder.prefetch import _init_worker, _train, _worker_stats
from stella.continual import worker_cache

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
RUNS = [("derpp", 1, ("run.num_threads=1",)), ("stella", 2, ("run.num_threads=1",))]


def _record(results: Path, method: str, seed: int) -> dict:
    """summary, results and losses of the one run of (method, seed) in the store."""
    for d in results.iterdir():
        cfg = d / "config.json"
        if cfg.exists():
            c = json.loads(cfg.read_text())["config"]
            if c["continual"]["method"] == method and c["run"]["seed"] == seed:
                return {k: json.loads((d / f"{k}.json").read_text()) for k in ("summary", "results", "losses")}
    raise AssertionError(f"no run of {method} seed {seed} in {results}")


@pytest.mark.slow
def test_warm_worker_runs_equal_fresh_process_runs(tmp_path):
    warm, fresh = tmp_path / "warm", tmp_path / "fresh"
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                             initargs=(1,)) as pool:
        for method, seed, sets in RUNS:
            computed, _ = pool.submit(_train, "smoke", method, seed, sets, str(warm)).result()
            assert computed
        stats = pool.submit(_worker_stats).result()
    assert stats["benchmark_builds"] == 1 and stats["benchmark_hits"] == len(RUNS) - 1, stats
    assert stats["weights_reads"] == 1 and stats["weights_hits"] == len(RUNS) - 1, stats
    shutil.copytree(warm / "pretrain", fresh / "pretrain")        # the same stage; the runs are what is compared
    for method, seed, sets in RUNS:
        cmd = [sys.executable, "-m", "stella.cli", "train", "--method", method, "--preset", "smoke",
               "--results", str(fresh), "--set", f"run.seed={seed}", *[a for s in sets for a in ("--set", s)]]
        p = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr[-2000:]
    for method, seed, _ in RUNS:
        assert _record(warm, method, seed) == _record(fresh, method, seed), (method, seed)


def test_cache_is_off_by_default_and_keyed_by_data(tmp_path):
    from stella.config import load_config

    import subprocess
    import sys

    fresh = subprocess.run([sys.executable, "-c", "from stella.continual import worker_cache as w; print(w.enabled())"],
                           capture_output=True, text=True, check=True)
    assert fresh.stdout.strip() == "False"            # a new process starts with the cache off
    worker_cache.disable()                            # (an earlier test in this process may have turned it on)
    cfg = load_config("smoke")
    assert worker_cache.benchmark(cfg) is not worker_cache.benchmark(cfg)
    try:
        worker_cache.enable()
        a = worker_cache.benchmark(cfg)
        a.tasks[0].train.set_epoch(3)
        b = worker_cache.benchmark(cfg)
        assert b is a and b.tasks[0].train.epoch == 0            # handed out as freshly built
        assert worker_cache.benchmark(cfg.with_overrides(["data.task_order=shuffled"])) is not a
        assert worker_cache.benchmark(cfg.with_overrides(["run.seed=7", "continual.lr=0.5"])) is a
    finally:
        worker_cache.disable()
