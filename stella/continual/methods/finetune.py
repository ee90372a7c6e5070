"""Finetune: continual pre-training with no countermeasure against forgetting (lower bound, Table 1)."""
from __future__ import annotations

import torch

from stella.continual.methods.base import Method, register


@register("finetune")
class Finetune(Method):
    summary = "plain sequential pre-training on L = l^r + lambda l^c, no memory (lower bound)"

    def observe(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        b = self.to_device(batch)
        out = self.forward(b["audio"], b["video"])
        self.step(out.loss)
        return {"loss": out.loss.item(), "rec_a": out.rec_a.item(), "rec_v": out.rec_v.item(),
                "contrastive": out.contrastive.item()}
