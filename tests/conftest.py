"""Shared test settings: hypothesis draws from a fixed seed (a property test cannot pass on one CI run
and fail on the next), a fixture that runs a module single-threaded, and one that builds each benchmark once."""
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
