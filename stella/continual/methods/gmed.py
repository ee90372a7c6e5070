"""GMED (Jin et al., 2021, "Gradient-based editing of memory examples for online task-free CL").

Original: sample a replay batch, measure how much a virtual update on the current batch would
increase each memory example's loss, d = l(x_m; theta') - l(x_m; theta), and edit the stored
example by one gradient-ascent step x_m <- x_m + alpha * grad_x [d - beta * l(x_m; theta)]
(beta keeps the edited example from drifting to arbitrarily high loss); the edited examples are
written back to the memory and replayed with the current batch (ER).

Self-supervised audio-video adaptation (stated choices):
 * l = per-sample pre-training loss rec_a + rec_v + lambda con (``functional.per_sample_loss``); the edit
   acts on the memory's raw inputs (normalised fbank ``audio`` and normalised ``video``), both
   modalities at once, through the patch embedding (the authors' code edits both the same way).
 * theta' = one step of the run's optimiser on the current batch without touching its state
   (the authors' code; ``functional.virtual_params``), lr = ``continual.lr``; theta' is a constant for
   the input gradient (first order, as the original).
 * l(theta) and l(theta') use the same masks (one noise draw from ``ctx.gen_mask``).
 * objective d - beta l_before = l_after - (1 + beta) l_before, averaged over the replay batch
   (GMED's code and the authors' differentiate a batch mean, so the edit does not grow with R),
   alpha = ``continual.gmed_alpha`` (edit stride), beta = ``continual.gmed_beta`` (Table 5).
   The authors' code adds + beta grad l_before instead; we follow the GMED paper's sign.
 * gamma = ``continual.gmed_gamma`` decays the stride with the number of times an item was
   already edited: stride_i = alpha * gamma ** edits_i (Table 5 gamma = 1: no decay). The edit
   count lives in the memory ("edits") so that a resumed run continues exactly.
 * edited clips are written back with ``memory.update(slot, ...)`` and replayed with the current
   batch in one ER step; the memory keeps raw clips by reservoir sampling.
"""
from __future__ import annotations

import torch

from stella.continual.functional import interference
from stella.selection.budget import full_clip_visible
from stella.continual.methods.base import register
from stella.continual.methods.er import ER


@register("gmed")
class GMED(ER):
    summary = "GMED: ER + gradient-based editing of replayed memory clips towards higher interference (Jin 2021)"
    virtual_optimizer = "adam"

    def memory_items(self, b: dict[str, torch.Tensor], out) -> dict[str, torch.Tensor]:
        n = b["audio"].shape[0]
        return {"audio": b["audio"], "video": b["video"], "edits": torch.zeros(n, device=b["audio"].device)}

    def edit(self, current: dict[str, torch.Tensor], mem: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Edited (audio, video) of the replay batch ``mem`` around a virtual step on the ``current`` batch."""
        c, ctx = self.cfg.continual, self.ctx
        xa = mem["audio"].detach().clone().requires_grad_(True)
        xv = mem["video"].detach().clone().requires_grad_(True)
        before, after = interference(ctx.model, ctx.opt, ctx.gen_mask, self.cfg.model.contrast_weight,
                                     current["audio"], current["video"], xa, xv, self.virtual_optimizer,
                                     with_input_grad=True, num_visible=full_clip_visible(self.cfg))
        obj = (after - before - c.gmed_beta * before).mean()
        ga, gv = torch.autograd.grad(obj, [xa, xv])
        stride = c.gmed_alpha * c.gmed_gamma ** mem["edits"].to(xa.dtype)          # (R,)
        new_a = (xa + stride.view(-1, *[1] * (xa.dim() - 1)) * ga).detach()
        new_v = (xv + stride.view(-1, *[1] * (xv.dim() - 1)) * gv).detach()
        return new_a, new_v

    def retrieve(self, current: dict[str, torch.Tensor], logs: dict) -> dict[str, torch.Tensor] | None:
        """ER's replay draw, edited around ``current`` and written back before it is replayed;
        logs the edit's size as "edit_norm"."""
        mem = self.replay()
        if mem is None:
            return None
        new_a, new_v = self.edit(current, mem)
        slots = mem["slot"]
        self.memory.update(slots, "audio", new_a)
        self.memory.update(slots, "video", new_v)
        self.memory.update(slots, "edits", mem["edits"] + 1)
        logs["edit_norm"] = float((new_a - mem["audio"]).flatten(1).norm(dim=1).mean()
                                  + (new_v - mem["video"]).flatten(1).norm(dim=1).mean())
        return {**mem, "audio": new_a, "video": new_v, "edits": mem["edits"] + 1}
