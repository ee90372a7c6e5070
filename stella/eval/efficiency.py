"""Memory and time of one training step (Table 2's GPU memory and throughput, measured on any device).

``measure_step`` runs ``step_fn`` once under ``torch.autograd.graph.saved_tensors_hooks`` and counts
the bytes of the distinct storages autograd keeps for backward (the activation memory that patch
selection shrinks), excluding the parameters' own storages. A step may hold several graphs one after
the other (MIR's and GMED's virtual passes before the training pass): a pack after an unpack starts
a new forward/backward cycle, and the step's figure is the largest cycle, not their sum. On CUDA it also reports
``torch.cuda.max_memory_allocated`` for the step. Pure helpers size tensors, modules and optimisers.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable

import torch
import torch.nn as nn


def tensor_bytes(t: torch.Tensor) -> int:
    """Bytes of the tensor's elements (numel * element size), not of its whole storage."""
    return t.numel() * t.element_size()


def storage_key(t: torch.Tensor) -> int:
    """Identity of the storage behind ``t`` (its StorageImpl), shared by its views; also defined for
    the fake tensors of :mod:`stella.continual.memory_count`, whose data pointers are all 0."""
    return t.untyped_storage()._cdata


def module_bytes(module: nn.Module, buffers: bool = True) -> int:
    """Storage bytes of a module's parameters (and buffers), each storage counted once: what the
    module holds in memory. Table 2's model bytes and the EMA models of CLS-ER / ESMER
    (``Method.extra_bytes``) are both counted with it."""
    seen, total = set(), 0
    tensors = list(module.parameters()) + (list(module.buffers()) if buffers else [])
    for t in tensors:
        key = storage_key(t)
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
    return total


def optimizer_bytes(optimizer: torch.optim.Optimizer | None) -> int:
    """Bytes of the optimiser's state tensors (e.g. Adam's exp_avg and exp_avg_sq)."""
    if optimizer is None:
        return 0
    return sum(tensor_bytes(v) for state in optimizer.state.values() for v in state.values()
               if isinstance(v, torch.Tensor))


def synchronize(device: torch.device | str) -> None:
    """Wait for the device's queued kernels (CUDA); a no-op on the CPU. Call around timed code."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_step(step_fn: Callable[[], Any], params: Iterable[torch.Tensor],
                 optimizer: torch.optim.Optimizer | None = None, extras_bytes: int = 0,
                 device: torch.device | str = "cpu") -> dict[str, float]:
    """Run ``step_fn()`` (forward, backward, optimiser step) once and report its costs.

    Returns ``time_s``, ``saved_bytes`` (unique non-parameter storages saved for backward by the
    largest forward/backward cycle of the step),
    ``saved_tensors`` (their count), ``param_bytes``, ``optimizer_bytes`` (after the step),
    ``extras_bytes`` (e.g. a rehearsal memory or a second model, passed by the caller),
    ``total_bytes`` (the sum of the four) and, on CUDA, ``cuda_peak_bytes``.
    """
    device = torch.device(device)
    params = list(params)
    param_ptrs = {storage_key(p) for p in params}
    saved: dict[int, int] = {}
    cycles: list[tuple[int, int]] = []
    after_backward = False

    def close_cycle() -> None:
        if saved:
            cycles.append((sum(saved.values()), len(saved)))
            saved.clear()

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal after_backward
        if after_backward:
            close_cycle()
            after_backward = False
        ptr = storage_key(t)
        if ptr not in param_ptrs and ptr not in saved:
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    def unpack(t: torch.Tensor) -> torch.Tensor:
        nonlocal after_backward
        after_backward = True
        return t

    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    synchronize(device)
    start = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        step_fn()
    close_cycle()
    synchronize(device)
    elapsed = time.perf_counter() - start
    param_b = sum(p.untyped_storage().nbytes() for p in {id(p): p for p in params}.values())
    opt_b = optimizer_bytes(optimizer)
    saved_b, n_saved = max(cycles, default=(0, 0))
    out = {"time_s": elapsed, "saved_bytes": saved_b, "saved_tensors": n_saved, "saved_cycles": len(cycles),
           "param_bytes": param_b,
           "optimizer_bytes": opt_b, "extras_bytes": int(extras_bytes),
           "total_bytes": saved_b + param_b + opt_b + int(extras_bytes)}
    if device.type == "cuda":
        out["cuda_peak_bytes"] = torch.cuda.max_memory_allocated(device)
    return out
