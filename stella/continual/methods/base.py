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

from stella.config import Config
from stella.continual.distributed import DistInfo
from stella.continual.memory import ReservoirMemory
from stella.selection import AVM_STRATEGIES, STRATEGIES
from stella.selection.budget import full_clip_visible

METHODS: dict[str, type["Method"]] = {}


def register(name: str) -> Callable[[type["Method"]], type["Method"]]:
    """Class decorator: ``METHODS[name] = cls``, after checking that its traits agree."""
    def deco(cls: type["Method"]) -> type["Method"]:
        if name in METHODS:
            raise ValueError(f"method {name!r} registered twice")
        if cls.strategy not in STRATEGIES:
            raise ValueError(f"method {name!r}: strategy {cls.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if cls.strategy in AVM_STRATEGIES and not cls.needs_avm:
            raise ValueError(f"method {name!r}: strategy {cls.strategy!r} scores patches with the AVM, "
                             "so the class must set needs_avm = True")
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
    avm_opt: torch.optim.Optimizer | None   # None unless the method's class sets needs_avm
    device: torch.device
    gen_mask: torch.Generator       # masking inside the model (Eq. 8), on the model's device
    gen_select: torch.Generator     # Bernoulli / multinomial patch selection (Eq. 5, Algorithm 1)
    gen_memory: torch.Generator     # reservoir insertion and replay draws (CPU)
    net: torch.nn.Module            # Forwarder (DDP-wrapped under torchrun) used for training passes
    dist: DistInfo


class Method:
    """The interface and the traits the trainer and the selection read from a method's class.

    Traits (class attributes): ``strategy``, the patch selection it passes to ``stella.selection``
    (one of ``selection.STRATEGIES``; "none" keeps every patch); ``needs_avm``, whether it trains
    and uses the AVM (the trainer gives it the AVM optimiser only then); ``uses_memory``;
    ``joint``, the trainer streams the union of all tasks as one task (Multitask);
    ``batch_multiplier``, the stream batch is ``continual.batch_size`` times it (STELLA++);
    ``masks_full_clips``, it trains through :meth:`forward` on full clips, so the reverse control
    ``continual.visible_budget = "stella"`` (STELLA's visible-token count) applies to it.
    ``observe`` is abstract: Finetune is the plain sequential pre-training."""

    name = "base"
    summary = ""
    strategy = "none"          # patch selection the method passes to stella.selection
    uses_memory = False
    joint = False              # Multitask: the stream is the union of all tasks
    needs_avm = False
    batch_multiplier = 1.0     # STELLA++ spends the memory saving on a larger batch
    masks_full_clips = True    # trains through Method.forward (continual.visible_budget applies)

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
        """A reservoir draw of ``replay_size`` memory items (None while the memory is empty)."""
        return self.memory.sample(self.replay_size, self.ctx.gen_memory, self.ctx.device)

    def forward(self, audio: torch.Tensor, video: torch.Tensor):
        """Training pass of the backbone on full clips (DDP-synchronised under torchrun); with
        ``continual.visible_budget = "stella"`` masked down to STELLA's visible count (stella.selection.budget)."""
        na, nv = full_clip_visible(self.cfg)
        if na is None:
            return self.ctx.net("full", audio, video, generator=self.ctx.gen_mask)
        return self.ctx.net("full", audio, video, generator=self.ctx.gen_mask, num_visible_a=na, num_visible_v=nv)

    def forward_patches(self, xa, xv, pos_a, pos_v, **kw):
        """Training pass on selected patches X^ with their positions (Eq. 6)."""
        return self.ctx.net("patches", xa, xv, pos_a, pos_v, generator=self.ctx.gen_mask, **kw)

    def forward_masked(self, inputs):
        """Training pass on ``functional.MaskedInputs``: full clips under their fixed masking noise, so
        EMA teachers can see the same masks."""
        xa, xv, pos_a, pos_v, noise_a, noise_v = inputs
        return self.forward_patches(xa, xv, pos_a, pos_v, noise_a=noise_a, noise_v=noise_v)

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
