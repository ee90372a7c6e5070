"""torchrun support: process-group setup, DDP wrapping, gradient all-reduce.

The paper trained on 4 GPUs. Under ``torchrun --nproc_per_node K -m stella.cli train ...``
each rank reads its shard of every epoch's permutation, keeps its own reservoir of
``memory_size // K`` items (as the authors' code), and rank 0 evaluates and writes the run
store. The backbone is wrapped in DistributedDataParallel through :class:`Forwarder`, so
that both ``forward`` and ``forward_patches`` synchronise gradients; the small AVM's
gradients are averaged with :func:`allreduce_grads`. gloo on CPU, nccl on GPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init_from_env(device: str = "auto") -> DistInfo:
    """Initialise the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    use_cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    rank = dist.get_rank()
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return DistInfo(rank, world, torch.device("cuda", local))
    return DistInfo(rank, world, torch.device("cpu"))


class Forwarder(nn.Module):
    """Routes ``forward`` and ``forward_patches`` of the backbone through one module DDP can wrap."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, kind: str, *args, **kwargs):
        if kind == "patches":
            return self.model.forward_patches(*args, **kwargs)
        return self.model(*args, **kwargs)


def wrap_ddp(model: nn.Module, info: DistInfo) -> nn.Module:
    fwd = Forwarder(model)
    if not info.enabled:
        return fwd
    ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(fwd, device_ids=ids, find_unused_parameters=True)


def allreduce_grads(module: nn.Module, info: DistInfo) -> None:
    if not info.enabled:
        return
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= info.world
