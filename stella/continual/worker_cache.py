"""Per-process caches for a long-lived worker that trains many runs in turn (``stella book``'s prefetch).

A run pays fixed costs besides its steps: rendering its benchmark's clips (the un-augmented base
clip of every index, ``stella.data.benchmark.ClipSource``) and reading the pre-trained stage's
weights. Runs of one preset share both, so a worker that trains many runs can pay them once:
after :func:`enable`, :func:`benchmark` returns the benchmark built earlier in this process for the
same data config (its train sets reset to epoch 0, as freshly built) and :func:`weights` the
weights file read earlier (same path, size and modification time). Nothing changes a run's
numbers: building a benchmark and reading weights draw from no global RNG, items are re-augmented
per (data seed, index, epoch) as before, and ``load_state_dict`` copies the cached tensors into the
model; ``tests/test_worker_cache.py`` checks two runs in one warm worker against fresh processes.

Disabled (the default: ``stella train``, notebooks, tests) both functions build and read afresh.
"""
from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from pathlib import Path

from stella.data import build_benchmark as fresh_benchmark
from stella.models.checkpoint import read_weights

_ENABLED = False
_MAX_BENCHMARKS = 2
_BENCHMARKS: "OrderedDict[str, object]" = OrderedDict()
_WEIGHTS: dict[tuple, dict] = {}
STATS = {"benchmark_hits": 0, "benchmark_builds": 0, "weights_hits": 0, "weights_reads": 0}


def enable(max_benchmarks: int = 2) -> None:
    """Keep benchmarks (at most ``max_benchmarks``, least recently used dropped) and weights files in
    this process from now on."""
    global _ENABLED, _MAX_BENCHMARKS
    _ENABLED, _MAX_BENCHMARKS = True, max(1, int(max_benchmarks))


def disable() -> None:
    """Stop caching and drop everything cached."""
    global _ENABLED
    _ENABLED = False
    _BENCHMARKS.clear()
    _WEIGHTS.clear()


def enabled() -> bool:
    return _ENABLED


def benchmark_key(cfg) -> str:
    """What a built benchmark depends on: the data section and the pre-training classes it is checked
    to be disjoint from."""
    p = cfg.pretrain
    return json.dumps({"data": dataclasses.asdict(cfg.data),
                       "pretrain": [p.source, p.classes, p.clips_per_class]}, sort_keys=True, default=str)


def benchmark(cfg, build_benchmark=None):
    """``build_benchmark(cfg)`` (default ``stella.data.build_benchmark``), built once per data config
    while enabled."""
    build_benchmark = build_benchmark or fresh_benchmark
    if not _ENABLED:
        return build_benchmark(cfg)
    key = benchmark_key(cfg)
    bench = _BENCHMARKS.get(key)
    if bench is None:
        STATS["benchmark_builds"] += 1
        bench = build_benchmark(cfg)
        _BENCHMARKS[key] = bench
        while len(_BENCHMARKS) > _MAX_BENCHMARKS:
            _BENCHMARKS.popitem(last=False)
    else:
        STATS["benchmark_hits"] += 1
        _BENCHMARKS.move_to_end(key)
    for task in bench.tasks:
        for ds in (task.train, task.eval):
            if hasattr(ds, "set_epoch"):
                ds.set_epoch(0)
    return bench


def weights(path: str | Path) -> dict:
    """``stella.models.checkpoint.read_weights(path)``, read once per (path, size, mtime) while enabled
    (at most 4 files kept). Callers copy from it (``load_state_dict``), never modify it."""
    path = Path(path)
    if not _ENABLED or not path.is_file():
        return read_weights(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _WEIGHTS:
        STATS["weights_reads"] += 1
        if len(_WEIGHTS) >= 4:
            _WEIGHTS.pop(next(iter(_WEIGHTS)))
        _WEIGHTS[key] = read_weights(path)
    else:
        STATS["weights_hits"] += 1
    return _WEIGHTS[key]
