"""Train the book's runs before its notebooks execute, several at a time.

The notebooks ask the run store for their runs one after another, so a book built from an empty
store trains on one process. :func:`prefetch_runs` trains what :func:`stella.report.plan.book_runs`
lists (exactly the runs the notebooks will ask for, at their default parameters) with ``jobs``
worker processes first; the notebooks then find every run complete. Results are the same as
without it: a run's numerics depend on its config alone (``run.num_threads`` is in the run key, and
the cpu preset pins it to 1 thread per run so that two runs share the two cores of a laptop), the
store's per-run lock keeps two workers from computing one run, and the first run of each pre-training
stage the store lacks (the book's, and one per sparsity level of chapter 04b) goes first
(:func:`stages_alone`): at cpu the stages compute on one thread each, side by side.

The workers live as long as the prefetch and train many runs in turn: each imports torch and the
package once, pins torch (and OpenMP, through ``OMP_NUM_THREADS`` set before torch loads) to
``run.num_threads``, and keeps the rendered benchmark and the pre-trained weights by their key
(:mod:`stella.continual.worker_cache`), so a run pays only its own steps, evaluation and writes.
A run's numbers are the same as in a fresh process (``tests/test_worker_cache.py``).

Spawned worker processes import this module before :func:`_init_worker` pins their threads, and the thread
pins must come before torch loads: so every import that loads torch (all of stella's but the config's) sits
inside the function that needs it.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path


def default_jobs(preset: str) -> int:
    """Worker processes for ``preset``: one per core, capped by ``run.num_threads``-thread runs on the
    cores (a preset that leaves threads to torch, or trains on a GPU, gets one)."""
    from stella.config import load_config

    cfg = load_config(preset)
    if cfg.run.device not in ("cpu", "auto") or cfg.run.num_threads == 0:
        return 1
    try:
        import torch

        if cfg.run.device == "auto" and torch.cuda.is_available():
            return 1
    except ImportError:
        pass
    return max(1, (os.cpu_count() or 1) // cfg.run.num_threads)


def _init_worker(threads: int) -> None:
    """Runs first in each worker process: thread pins (before torch loads), the per-process caches,
    the imports every run needs."""
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    import torch

    if threads:
        torch.set_num_threads(threads)
    import stella.report.runs  # noqa: F401  (imports paid once per worker, not per run)
    from stella.continual import worker_cache

    worker_cache.enable()


def _train(preset: str, method: str, seed: int, overrides: tuple[str, ...], results_dir: str) -> tuple[bool, float]:
    """One run in a worker process: (trained here, seconds)."""
    import logging

    from stella.report.runs import get_run

    logging.disable(logging.WARNING)       # the driver prints one line per run; workers stay quiet
    t0 = time.perf_counter()
    rd = get_run(preset, method, seed, (*overrides, "run.progress=false"), results_dir)   # not in the run key
    return bool(rd.computed), time.perf_counter() - t0


def _worker_stats() -> dict[str, int]:
    """The calling worker's cache counters (tests: runs in one worker reuse its benchmark and weights)."""
    from stella.continual import worker_cache

    return dict(worker_cache.STATS)


def stages_alone(preset: str, todo: list, results_dir: str | Path) -> tuple[list, list]:
    """``todo`` (plan rows) split into the runs to train one at a time first and the rest, in the order
    to submit them.

    The first run that needs a pre-training stage the store lacks computes it. A stage on more threads
    than a run (``pretrain.num_threads`` > ``run.num_threads``) is computed alone: two side by side would
    put four threads on two cores. A stage on a run's threads (the cpu preset: 1) is an ordinary task:
    the first runs of the missing stages go first, so the stages are computed side by side on separate
    cores, and the runs that need a stage other than the first go last, so that no worker waits on a
    stage's lock with its core idle."""
    from stella.continual.pretrain import pretrain_dir, stage_threads
    from stella.report.runs import run_config

    alone, front, stage_of, missing = [], [], [], []
    for i, r in enumerate(todo):
        overrides = tuple(o for o in r.overrides.split(", ") if o)
        cfg = run_config(preset, r.method, int(r.seed), overrides)
        stage = pretrain_dir(cfg, results_dir)
        stage_of.append(stage)
        if stage is not None and stage not in missing and not (stage / "COMPLETE").exists():
            missing.append(stage)
            (alone if stage_threads(cfg) > max(1, cfg.run.num_threads) else front).append(i)
    later = set(missing[1:])
    others = sorted((i for i in range(len(todo)) if i not in alone and i not in front),
                    key=lambda i: stage_of[i] in later)           # stable: plan order within each group
    return [todo[i] for i in alone], [todo[i] for i in front + others]


def prefetch_runs(preset: str, results_dir: str | Path, jobs: int, write=print,
                  timings: dict | None = None, plan=None) -> tuple[int, int]:
    """Train the book's missing runs at ``preset`` with ``jobs`` processes; (trained, failed).

    ``plan`` (rows of :func:`stella.report.plan.book_runs`: one machine's shard, say) replaces the whole
    plan; with it one process is enough (``stella paper`` on a GPU), without it fewer than two train
    nothing here (the notebooks then ask for their runs one after another, as before).
    A run that fails here is only reported: its notebook asks for it again and stops with the error.
    ``timings`` (the driver's record) gets the phases "pre-training stages" (the wall time of the runs
    that computed them alone, :func:`stages_alone`; at cpu the stages compute beside other runs, within
    "runs") and "runs", each run's seconds under "runs" and, under "trained", the keys of the runs this
    call computed (not those another process computed meanwhile)."""
    from stella.config import load_config
    from stella.progress import duration
    from stella.report.plan import book_runs
    from stella.store import RunStore

    timings = {} if timings is None else timings
    timings.setdefault("phases", {})
    timings.setdefault("runs", {})
    threads = load_config(preset).run.num_threads
    whole = plan is None
    plan = book_runs(preset) if whole else plan
    store = RunStore(results_dir)
    todo = [r for r in plan.itertuples() if not (store.root / r.key / "COMPLETE").exists()]
    if not todo or jobs < (2 if whole else 1):
        return 0, 0
    write(f"training the book's {len(todo)} missing runs of {len(plan)} with {jobs} processes "
          f"(stella.report.plan; the notebooks then read them from the store)")
    t0, done, failed = time.perf_counter(), 0, 0
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                             initargs=(threads,)) as pool:
        def submit(r):
            overrides = tuple(o for o in r.overrides.split(", ") if o)
            return pool.submit(_train, preset, r.method, int(r.seed), overrides, str(results_dir)), r

        def report(fut, r) -> None:
            nonlocal done, failed
            what = ", ".join([r.method, f"seed {r.seed}", *([r.overrides] if r.overrides else [])])
            error = None
            try:
                here, seconds = fut.result()
            except Exception as e:                       # noqa: BLE001 - reported, the notebook raises it
                error = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}"
            elapsed = duration(time.perf_counter() - t0)
            if error:
                failed += 1
                write(f"  runs  {elapsed}  {what}: failed ({error})")
                return
            done += 1
            timings["runs"][what] = round(seconds, 2)
            if here:                                     # not a run another process (a shard) trained meanwhile
                timings.setdefault("trained", []).append(r.key)
            write(f"  runs  {elapsed}  {done + failed}/{len(todo)}  {what}: {duration(seconds)}"
                  + ("" if here else ", trained by another process"))

        alone, rest = stages_alone(preset, todo, results_dir)
        for r in alone:                                  # each computes a pre-training stage, alone
            report(*submit(r))
        t_stages = time.perf_counter() - t0
        running = dict(submit(r) for r in rest)
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                report(fut, running.pop(fut))
    total = time.perf_counter() - t0
    if alone:                                            # stages side by side with runs count under "runs"
        timings["phases"]["pre-training stages"] = round(t_stages, 2)   # wall time of the runs that computed them
    timings["phases"]["runs"] = round(total - t_stages, 2)
    timings["runs_trained"] = done
    write(f"  runs trained in {duration(total)}" + (f", {failed} failed" if failed else ""))
    sys.stdout.flush()
    return done, failed
