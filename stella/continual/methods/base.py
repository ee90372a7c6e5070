"""The interface every continual method implements, and the registry.

A method sees a task-free stream of batches: ``observe(batch)`` is called for every batch
and returns its losses; ``begin_task`` / ``end_task`` only mark where the stream changes
so the trainer can evaluate (the paper's protocol, section 3.1) -- no method may use them
to learn. A new method costs one file: subclass :class:`Method`, decorate with
``@register("name")``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from stella.config import Config
from stella.continual.distributed import DistInfo
from stella.continual.memory import ReservoirMemory

METHODS: dict[str, type["Method"]] = {}


def register(name: str) -> Callable[[type["Method"]], type["Method"]]:
    def deco(cls: type["Method"]) -> type["Method"]:
        if name in METHODS:
            raise ValueError(f"method {name!r} registered twice")
        cls.name = name
        METHODS[name] = cls
        return cls
    return deco


@dataclass
class Context:
    """Everything a method may use: the resolved config, the networks, optimisers, generators."""

    cfg: Config
    model: torch.nn.Module
    avm: torch.nn.Module
    opt: torch.optim.Optimizer
    avm_opt: torch.optim.Optimizer
    device: torch.device
    gen_mask: torch.Generator       # masking inside the model (Eq. 8), on the model's device
    gen_select: torch.Generator     # Bernoulli / multinomial patch selection (Eq. 5, Algorithm 1)
    gen_memory: torch.Generator     # reservoir insertion and replay draws (CPU)
    net: torch.nn.Module            # Forwarder (DDP-wrapped under torchrun) used for training passes
    dist: DistInfo


class Method:
    """Base class: plain fine-tuning on the stream (``observe`` = one optimiser step on L = l^r + lambda l^c)."""

    name = "base"
    summary = ""
    strategy = "none"          # patch selection the method uses (SelectionConfig.strategy)
    uses_memory = False
    joint = False              # Multitask: the stream is the union of all tasks
    needs_avm = False
    batch_multiplier = 1.0     # STELLA++ spends the memory saving on a larger batch

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.cfg = ctx.cfg
        size = self.cfg.continual.memory_size // ctx.dist.world if self.uses_memory else 0
        self.memory = ReservoirMemory(size)

    # --- stream hooks (no learning from task identity) ---------------------------------
    def begin_task(self, task: int) -> None:
        pass

    def end_task(self, task: int) -> None:
        pass

    def observe(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        raise NotImplementedError(f"{type(self).__name__}.observe")

    # --- helpers shared by the methods --------------------------------------------------
    @property
    def replay_size(self) -> int:
        c = self.cfg.continual
        return c.replay_batch_size or c.batch_size

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.ctx.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

    def step(self, loss: torch.Tensor) -> None:
        self.ctx.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.ctx.opt.step()

    def replay(self) -> dict[str, torch.Tensor] | None:
        return self.memory.sample(self.replay_size, self.ctx.gen_memory, self.ctx.device)

    def with_replay(self, b: dict[str, torch.Tensor]):
        """(audio, video, mem): the current clips followed by a replay batch of raw clips (mem None while empty)."""
        mem = self.replay()
        audio, video = b["audio"], b["video"]
        if mem is not None:
            audio, video = torch.cat([audio, mem["audio"]]), torch.cat([video, mem["video"]])
        return audio, video, mem

    def forward(self, audio: torch.Tensor, video: torch.Tensor):
        """Training pass of the backbone on full clips (DDP-synchronised under torchrun)."""
        return self.ctx.net("full", audio, video, generator=self.ctx.gen_mask)

    def forward_patches(self, xa, xv, pos_a, pos_v, **kw):
        """Training pass on selected patches X^ with their positions (Eq. 6)."""
        return self.ctx.net("patches", xa, xv, pos_a, pos_v, generator=self.ctx.gen_mask, **kw)

    @staticmethod
    def der_penalty(out, c_a: torch.Tensor, c_v: torch.Tensor, start: int) -> torch.Tensor:
        """DER++ penalty l^p = MSE(c_a, c_a^p) + MSE(c_v, c_v^p) on the stored pooled embeddings, each
        modality independently (appendix A, ambiguity 8); the caller multiplies by alpha, so each
        modality gets alpha * MSE as in DER++ and the authors' code."""
        return F.mse_loss(out.c_a[start:], c_a) + F.mse_loss(out.c_v[start:], c_v)

    # --- what the trainer evaluates and checkpoints -------------------------------------
    def eval_model(self) -> torch.nn.Module:
        return self.ctx.model

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def extra_bytes(self) -> int:
        """Bytes of method-specific training state beyond model + optimiser (e.g. EMA models)."""
        return 0

    def state_dict(self) -> dict:
        return {"memory": self.memory.state_dict(), "extra": self.extra_state()}

    def load_state_dict(self, state: dict) -> None:
        self.memory.load_state_dict(state["memory"])
        self.load_extra_state(state["extra"])
