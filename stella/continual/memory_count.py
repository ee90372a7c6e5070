"""Training memory of one step at any geometry, counted without computing (Table 2's GPU memory).

The paper measured GPU memory on one V100 at batch 9 (STELLA++ 15) with ViT-B, 4 frames of
224 x 224 and 1024 x 128 fbank frames. Memory at a given geometry is a property of the step, not
of the device: the tensors a step allocates and keeps have the same shapes on any device (the
allocator's caching and fragmentation add to it on a GPU, and throughput does depend on the device).
:func:`count_step` builds the model, the AVM, the optimisers and the method exactly as the trainer
does, but under torch's ``FakeTensorMode``: every tensor has its shape, dtype and storage and no
data, so a ViT-B step takes seconds and no memory. The method observes one stream batch (it fills
the rehearsal memory, sized to one replay batch, and builds every lazy state), then the count runs
on a second, with :func:`stella.eval.efficiency.measure_step`'s saved-tensor hooks:

 * ``param_bytes``: backbone + AVM parameters (and buffers);
 * ``grad_bytes``: the gradients held after the step (the AVM's only if the method trains it);
 * ``optimizer_bytes``: both optimisers' state (Adam's two moments);
 * ``extra_bytes``: the method's extra models (CLS-ER's two EMA models, ESMER's one);
 * ``batch_bytes`` / ``rehearsal_batch_bytes``: the current stream batch and the replayed batch (B items)
   on the device (the rehearsal memory itself stays on the host, as in the authors' code);
 * ``saved_bytes``: the distinct storages autograd keeps for backward in the largest
   forward/backward cycle of the step (activations; the inputs it keeps included).

A value a method reads back from a tensor (``loss.item()`` for its logs, a reservoir draw) is 1
under the fake mode, which changes no shape. The count is in float32, as this package trains; the
authors trained with mixed precision, so the paper's GB hold float16 activations: compare ratios
between methods, not absolute GB. ``tests/test_memory_count.py`` checks the count against a real
step at the smoke geometry, component by component.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager, nullcontext
from typing import Iterable

import pandas as pd
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from stella.config import Config, load_config
from stella.continual.build import build_method, stream_batch_size
from stella.continual.methods import METHODS
from stella.continual.trainer import resolve_method_config
from stella.eval.efficiency import measure_step, module_bytes, optimizer_bytes, tensor_bytes
from stella.models import build_model


class _ScalarsAreOne(torch.utils._python_dispatch.TorchDispatchMode):
    """Inside FakeTensorMode: ``tensor.item()`` and friends return 1 and a boolean mask selects every
    element (``nonzero``), instead of raising for want of data."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            t = args[0]
            return True if t.dtype == torch.bool else (1.0 if t.is_floating_point() else 1)
        if func is torch.ops.aten.nonzero.default:
            t = args[0]
            return torch.zeros((t.numel(), t.dim()), dtype=torch.long, device=t.device)
        if func is torch.ops.aten.index.Tensor and any(i is not None and i.dtype == torch.bool for i in args[1]):
            idx = []
            for i in args[1]:
                if i is not None and i.dtype == torch.bool:
                    idx += [torch.zeros(i.numel(), dtype=torch.long, device=i.device)] * i.dim()
                else:
                    idx.append(i)
            return func(args[0], idx)
        return func(*args, **(kwargs or {}))


@contextmanager
def fake_mode():
    """Tensors created inside are fake (shape, dtype, no data); ``.item()`` reads 1."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*data pointer of FakeTensor.*")   # deepcopy of a fake EMA model
        with FakeTensorMode(allow_non_fake_inputs=True), _ScalarsAreOne():
            yield


def synthetic_batch(cfg: Config, batch_size: int, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """A stream batch of ``batch_size`` clips at ``cfg``'s geometry (docs/CONTRACTS.md item layout), zeros."""
    d = cfg.data
    B = batch_size
    return {"audio": torch.zeros(B, d.audio_frames, d.mel_bins, device=device),
            "video": torch.zeros(B, d.num_frames, 3, d.image_size, d.image_size, device=device),
            "label": torch.zeros(B, dtype=torch.long, device=device),
            "task": torch.zeros(B, dtype=torch.long, device=device),
            "index": torch.arange(B, device=device),
            "mask": torch.zeros(B, d.num_frames, d.image_size, d.image_size, dtype=torch.bool, device=device),
            "active": torch.zeros(B, d.audio_frames, dtype=torch.bool, device=device)}


def build_counted(cfg: Config, device: torch.device | str = "cpu"):
    """The method of ``cfg.continual.method`` with its context, built by the trainer's
    :func:`stella.continual.build.build_method` on a fresh model (no data, no run directory, no
    pre-trained weights); returns (method, stream batch size)."""
    cfg = resolve_method_config(cfg)
    device = torch.device(device)
    model, avm = build_model(cfg)
    if device.type != "cpu":
        model, avm = model.to(device), avm.to(device)
    return build_method(cfg, model, avm, device, seed=0), stream_batch_size(cfg)


def _replay_bytes(method, batch_size: int) -> int:
    """Bytes of one replayed batch on the device: min(replay size, memory size) items of the memory."""
    mem = method.memory
    if not mem.data or len(mem) == 0:
        return 0
    n = min(method.replay_size, len(mem))
    return sum(n * tensor_bytes(v[0]) for v in mem.data.values())


SMALL_MODELS = ("micro", "tiny")       # real steps at these sizes take less time than the fake mode's dispatch


def count_step(cfg: Config, fake: bool | None = None, warmup: int = 1,
               device: torch.device | str = "cpu") -> dict[str, int]:
    """Bytes of one training step of ``cfg.continual.method`` at ``cfg``'s geometry (module docstring).

    ``fake``: count under FakeTensorMode (no compute, any geometry); False: run real steps (the test's
    reference, the same counts); None: real steps for the ``SMALL_MODELS``, else fake. The rehearsal
    memory is sized to one replay batch so that one ``warmup`` step fills it (its size on the host does
    not change the step). The caller's global RNG state is left as it was. Returns the components, ``total_bytes`` (their
    sum) and ``batch_size``."""
    cfg = resolve_method_config(cfg)
    c = cfg.continual
    replay = c.replay_batch_size or c.batch_size
    if c.memory_size:
        cfg = cfg.with_overrides([f"continual.memory_size={max(replay, 2)}"])
    if fake is None:
        fake = cfg.model.size not in SMALL_MODELS
    cm = fake_mode() if fake else nullcontext()
    with torch.random.fork_rng(devices=[]), cm:
        method, B = build_counted(cfg, device)
        ctx = method.ctx
        batches = [synthetic_batch(cfg, B, device) for _ in range(warmup + 1)]
        method.begin_task(0)
        for b in batches[:warmup]:
            method.observe(b)
        params = list(ctx.model.parameters()) + list(ctx.avm.parameters())
        avm_opt_b = optimizer_bytes(ctx.avm_opt)
        stats = measure_step(lambda: method.observe(batches[-1]), params, ctx.opt, device=device)
        grads = {id(p): p.grad for p in params if p.grad is not None}
        out = {"batch_size": B,
               "param_bytes": module_bytes(ctx.model) + module_bytes(ctx.avm),
               "grad_bytes": sum(tensor_bytes(g) for g in grads.values()),
               "optimizer_bytes": stats["optimizer_bytes"] + max(avm_opt_b, optimizer_bytes(ctx.avm_opt)),
               "extra_bytes": method.extra_bytes(),
               "batch_bytes": sum(tensor_bytes(v) for k, v in batches[-1].items() if k in ("audio", "video")),
               "rehearsal_batch_bytes": _replay_bytes(method, B),
               "saved_bytes": stats["saved_bytes"]}
    out["total_bytes"] = sum(v for k, v in out.items() if k.endswith("_bytes"))
    return out


def count_methods(preset: str, methods: Iterable[str], overrides: Iterable[str] = (), readings: bool = True,
                  fake: bool | None = None):
    """One row per (method, masking reading): the components of :func:`count_step` at ``preset``.

    For the patch-selecting methods both readings of ``selection.mask_of`` are counted when
    ``readings`` ("selected": mask ``model.mask_ratio`` of the selected patches; "full": keep the
    baselines' visible count, the authors' code); the other methods have one row (reading "-")."""
    rows = []
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown method {m!r} (known: {', '.join(METHODS)})")
        selecting = METHODS[m].strategy != "none" and METHODS[m].needs_avm
        for reading in (("selected", "full") if readings and selecting else (None,)):
            sets = [f"continual.method={m}", *overrides] + ([f"selection.mask_of={reading}"] if reading else [])
            cfg = load_config(preset, sets)
            rows.append({"method": m, "reading": reading or "-", **count_step(cfg, fake=fake)})
    return pd.DataFrame(rows)
