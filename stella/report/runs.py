"""Runs for the notebooks: get a run from the store (training it only if it is missing), read it back.

``get_run("cpu", "stella", seed=1, overrides=["selection.beta=0.1"])`` resolves the preset,
applies the overrides and the seed, and returns a complete :class:`RunDir`. Notebooks that
ask for the same resolved config share one run, so the book never trains a run twice.
:func:`seed_table` reads many runs' ``summary.json`` into one per-seed frame.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import pandas as pd

from stella.config import Config, load_config
from stella.continual import resolve_method_config, run_experiment
from stella.data import build_benchmark
from stella.models import build_model
from stella.progress import announce, run_announced
from stella.store import RunDir, StoreError, atomic_write_json, locked, read_json


def run_config(preset: str, method: str, seed: int | None = None, overrides: Iterable[str] = (),
               task_order: str | None = None) -> Config:
    sets = [f"continual.method={method}", *overrides]
    if seed is not None:
        sets.append(f"run.seed={seed}")
    if task_order:
        sets.append(f"data.task_order={task_order}")
    return resolve_method_config(load_config(preset, sets))


def get_run(preset: str, method: str, seed: int | None = None, overrides: Iterable[str] = (),
            results_dir: str | Path = "results", task_order: str | None = None) -> RunDir:
    cfg = run_config(preset, method, seed, overrides, task_order)
    with run_announced(cfg, results_dir, lambda: changes_from_preset(cfg)):  # a line in `stella book`'s terminal
        return run_experiment(cfg, results_dir=str(results_dir))


def changes_from_preset(cfg: Config) -> list[str]:
    """``section.key=value`` for each value of ``cfg`` that differs from its preset's for the same method and seed."""
    base = resolve_method_config(load_config(cfg.preset, [f"continual.method={cfg.continual.method}",
                                                          f"run.seed={cfg.run.seed}"])).to_dict()
    return [f"{section}.{key}={value}" for section, values in cfg.to_dict().items() if isinstance(values, dict)
            for key, value in values.items() if base[section].get(key) != value]


def seeds_for(preset: str, n: int) -> list[int]:
    """The training seeds a notebook averages over: the preset's seed, then +1, +2 ..."""
    base = load_config(preset).run.seed
    return [base + i for i in range(n)]


def summary_frame(rd: RunDir, **labels) -> pd.DataFrame:
    """The run's A/F rows (direction, metric, A, F) with extra label columns (method, seed ...)."""
    df = pd.DataFrame(rd.load_json("summary"))
    for k, v in labels.items():
        df[k] = v
    return df


def seed_table(preset: str, methods: Iterable[str], seeds: Iterable[int], results_dir: str | Path = "results",
               task_order: str | None = None, overrides: Iterable[str] = (),
               variants: Mapping[Any, Iterable[str]] | None = None) -> pd.DataFrame:
    """Every run's summary, one row per (method, variant, seed, direction, metric) with its A and F.

    ``variants`` maps a label to extra overrides (a sweep: ``{0.1: ["selection.beta=0.1"]}``); without
    it the one variant is ``None``. Runs missing from the store are trained (:func:`get_run`).
    Aggregate with :func:`stella.report.tables.af_table`."""
    seeds, methods = list(seeds), list(methods)
    variants = {None: ()} if variants is None else dict(variants)
    announce("plan", runs=len(methods) * len(variants) * len(seeds))
    rows = [summary_frame(get_run(preset, m, s, [*overrides, *extra], results_dir, task_order),
                          method=m, variant=v, seed=s)
            for m in methods for v, extra in variants.items() for s in seeds]
    if not rows:
        raise ValueError("seed_table: no runs (empty methods, seeds or variants)")
    return pd.concat(rows, ignore_index=True)


def cached_frame(where: RunDir | str | Path, name: str, params: dict[str, Any],
                 compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """A table derived from a run (a downstream probe, say), kept beside the weights it measures.

    ``where`` is a run (:class:`RunDir`) or a directory (the pre-training stage's). Stored atomically
    as ``<name>-<hash of params>.json`` there: the first call computes it, every later call with the
    same params reads it back, so a rebuilt book does not redo a probe. ``params`` must hold
    everything besides the weights that the table depends on (epochs, seed, data split ...).
    It computes under a lock of its own (``.<name>-<hash>.lock``): a second process (two chapters
    executing side by side) waits and reads the first one's table; a store it cannot write computes
    without keeping."""
    key = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]
    directory = where.path if isinstance(where, RunDir) else Path(where)
    path = directory / f"{name}-{key}.json"

    def read() -> pd.DataFrame:
        stored = read_json(path)
        return pd.DataFrame(stored["rows"], columns=stored["columns"])

    if path.exists():
        return read()
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(locked(directory, f"{name} of {directory.name}", lock=f".{name}-{key}.lock"))
            keep = True
        except (StoreError, PermissionError):         # a store this process cannot write
            keep = False
        if path.exists():
            return read()
        df = compute()
        if keep:
            atomic_write_json(path, {"params": params, "columns": list(df.columns), "rows": df.to_dict("records")})
        return df


def gallery_classes(preset: str, task_order: str | None = None) -> Counter:
    """Clips per class in the retrieval gallery at ``preset``: every task's evaluation split (section 5.1)."""
    bench = build_benchmark(run_config(preset, "stella", task_order=task_order))
    return Counter(int(lab) for t in bench.tasks for lab in dataset_labels(t.eval))


def dataset_labels(dataset) -> list[int]:
    """The class label of every clip of ``dataset`` (its ``labels`` list, else read clip by clip)."""
    labels = getattr(dataset, "labels", None)
    return list(labels) if labels is not None else [int(dataset[i]["label"]) for i in range(len(dataset))]


def gallery_size(preset: str, task_order: str | None = None) -> int:
    """Clips in the retrieval gallery at ``preset``."""
    return sum(gallery_classes(preset, task_order).values())


def load_trained(rd: RunDir, after_task: int | None = None, device: str = "cpu"):
    """(model, avm) with the weights saved after ``after_task`` (1-based; default: the run's last task,
    read from its own record; a joint method such as Multitask trains one task holding all of them)."""
    cfg = rd.config
    state = rd.load_tensors(f"model_after_task{after_task or rd.last_task()}")
    model, avm = build_model(cfg)
    model.load_state_dict(state["model"])
    avm.load_state_dict(state["avm"])
    return model.to(device).eval(), avm.to(device).eval()


@contextlib.contextmanager
def quiet():
    """Silence stdout/stderr (training progress bars of runs missing from the store) inside a cell."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        yield
