"""Shared test settings: hypothesis draws from a fixed seed (a property test cannot pass on one CI run
and fail on the next), a fixture that runs a module single-threaded, one that builds each benchmark once, and an
untrained smoke model with its benchmark (``tiny``). Under pytest-xdist (``make test``) each worker pins its threads to
its share of the cores, and the longest tests (the smoke book, the multi-process ones) are scheduled first."""
import os

if os.environ.get("PYTEST_XDIST_WORKER"):      # `make test` runs one worker per core: each gets its share of threads
    _share = str(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = _share               # before torch loads; kernels and subprocesses inherit it

import pytest
import torch
from hypothesis import settings

settings.register_profile("stella", derandomize=True, print_blob=True)
settings.load_profile("stella")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest single-threaded; a loaded 2-core machine makes 2 threads thrash."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny(one_thread):
    """(cfg, model, avm, benchmark): an untrained smoke model (seed 0) and the smoke benchmark, 4 eval clips a class."""
    from stella.config import load_config
    from stella.data import build_benchmark
    from stella.models import build_model

    cfg = load_config("smoke", ["data.eval_per_class=4"])
    torch.manual_seed(0)
    model, avm = build_model(cfg)
    return cfg, model, avm, build_benchmark(cfg)


_BENCH: dict = {}


@pytest.fixture
def cached_benchmark(monkeypatch):
    """The benchmark is a pure function of cfg.data: the trainer builds it once for all smoke runs of a session."""
    import stella.continual.trainer as trainer_mod

    real = _BENCH.setdefault("build", trainer_mod.build_benchmark)

    def build(cfg):
        key = (cfg.data, cfg.model.patch_size)
        if key not in _BENCH:
            _BENCH[key] = real(cfg)
        return _BENCH[key]
    monkeypatch.setattr(trainer_mod, "build_benchmark", build)


def pytest_collection_modifyitems(config, items):
    """The smoke and slow tests first: with one worker per core the longest start at once, not last."""
    items.sort(key=lambda i: not (i.get_closest_marker("smoke") or i.get_closest_marker("slow")))   # stable
