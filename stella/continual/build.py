"""How a continual method is built: its optimisers, its generators and its stream batch size.

:func:`build_method` is the one place a method object is made; the trainer
(:class:`stella.continual.trainer.Trainer`) and the training-memory count
(:mod:`stella.continual.memory_count`) both call it, so a count measures the object that trains.
"""
from __future__ import annotations

import torch

from stella.config import Config
from stella.continual.distributed import DistInfo, wrap_ddp
from stella.continual.methods import METHODS, Method
from stella.continual.methods.base import Context


def stream_batch_size(cfg: Config) -> int:
    """Clips per stream batch: ``continual.batch_size`` times the method's multiplier (STELLA++'s 1.66x), at least 2."""
    c = cfg.continual
    return max(2, round(c.batch_size * c.batch_multiplier))


def build_method(cfg: Config, model: torch.nn.Module, avm: torch.nn.Module, device: torch.device, seed: int,
                 dist: DistInfo | None = None) -> Method:
    """The method of ``cfg.continual.method`` on ``model`` and ``avm`` (already on ``device``): Adam for the
    backbone, Adam for the AVM when the method's class trains it (``needs_avm``), fused when
    ``continual.fused_adam``; the masking, selection and memory generators seeded ``seed`` + 1, 2, 3."""
    c = cfg.continual
    cls = METHODS[c.method]
    fused = {"fused": True} if c.fused_adam else {}
    opt = torch.optim.Adam(model.parameters(), lr=c.lr, betas=tuple(c.betas), weight_decay=c.weight_decay, **fused)
    avm_opt = torch.optim.Adam(avm.parameters(), lr=c.avm_lr, betas=tuple(c.betas), weight_decay=c.weight_decay,
                               **fused) if cls.needs_avm else None
    dist = dist or DistInfo()
    gdev = device if device.type == "cuda" else "cpu"
    ctx = Context(cfg=cfg, model=model, avm=avm, opt=opt, avm_opt=avm_opt, device=device,
                  gen_mask=torch.Generator(gdev).manual_seed(seed + 1),
                  gen_select=torch.Generator(gdev).manual_seed(seed + 2),
                  gen_memory=torch.Generator().manual_seed(seed + 3),
                  net=wrap_ddp(model, dist), dist=dist)
    return cls(ctx)
