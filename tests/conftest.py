"""Shared test settings: hypothesis draws from a fixed seed (a property test cannot pass on one CI run
and fail on the next), and a fixture that runs a module single-threaded."""
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
