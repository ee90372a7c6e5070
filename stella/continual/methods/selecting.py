"""The base class of every method that trains on selected patches: STELLA, STELLA+/++ and the
Table 3 ablations (Random, MATS, LPIS, RCA). It registers no method of its own.

It holds Algorithm 2's steps that these methods share: the AVM pass and Eq. 2 importance on the
full, unmasked clip (lines 2-3), the selection of the current batch under the class's
``strategy`` (lines 4-6, Eq. 3-5 / Algorithm 1, ``stella.selection.select``), the training pass
on [X^, X^p] with L = l^r + lambda l^c + alpha l^p (line 11, Eq. 6), and the AVM's own step
(line 10, Eq. 10-11). alpha = ``continual.stella_alpha``; masking after selection follows
``selection.mask_of`` (the book's choices table).
"""
from __future__ import annotations

import torch

from stella.continual.distributed import allreduce_grads
from stella.continual.functional import der_penalty
from stella.continual.methods.base import Method
from stella.selection import gather, importance_scores, select
from stella.selection.budget import visible_of_kept


class SelectingMethod(Method):
    """Shared machinery of every method that trains on selected patches."""

    uses_memory = True
    strategy = "stella"
    needs_avm = True
    masks_full_clips = False

    def scores(self, audio: torch.Tensor, video: torch.Tensor):
        """AVM pass on the full, unmasked clip (Eq. 1-2); returns (o_a, o_v, avm_out, I_a, I_v)."""
        model, avm = self.ctx.model, self.ctx.avm
        with torch.no_grad():
            o_a, o_v = model.fusion_tokens(audio, video)
            out = avm(o_a, o_v, beta=self.cfg.selection.beta)
            I_a, I_v = importance_scores(out.A_a, out.A_v)
        return o_a, o_v, out, I_a, I_v

    def avm_step(self, o_a: torch.Tensor, o_v: torch.Tensor) -> dict[str, float]:
        """Algorithm 2 line 10: one step of L^avm (Eq. 11) on detached fusion tokens."""
        loss, acc = self.ctx.avm.loss(o_a.detach(), o_v.detach(), self.ctx.gen_select)
        self.ctx.avm_opt.zero_grad(set_to_none=True)
        loss.backward()
        allreduce_grads(self.ctx.avm, self.ctx.dist)
        self.ctx.avm_opt.step()
        return {"avm": loss.item(), "avm_acc": float(acc)}

    def select_current(self, audio: torch.Tensor, video: torch.Tensor):
        """Algorithm 2 lines 2-6 on the current batch: AVM scores, replay draw, Eq. 2-5 selection.

        Returns (o_a, o_v, sel, mem, xa (B, ka, p*p), xv (B, kv, 3p*p)) with X^ gathered (Eq. 6)."""
        model = self.ctx.model
        o_a, o_v, avm_out, I_a, I_v = self.scores(audio, video)
        mem = self.replay()
        sel = select(self.cfg, avm_out, I_a, I_v,
                     None if mem is None else mem["q_a"], None if mem is None else mem["q_v"],
                     self.ctx.gen_select, strategy=self.strategy)
        xa = gather(model.patchify_audio(audio), sel.idx_a)
        xv = gather(model.patchify_video(video), sel.idx_v)
        return o_a, o_v, sel, mem, xa, xv

    def train_on(self, xa, xv, pos_a, pos_v, mem, start: int, logs: dict) -> torch.Tensor:
        """One optimiser step on the patches xa (B', ka, p*p), xv (B', kv, 3p*p) at grid positions
        pos_a, pos_v; rows from ``start`` on are replayed and get alpha l^p against mem's c_a, c_v. The
        encoder sees :func:`stella.selection.budget.visible_of_kept` of the kept patches."""
        na, nv = visible_of_kept(self.cfg, xa.shape[1], xv.shape[1])
        out = self.forward_patches(xa, xv, pos_a, pos_v, num_visible_a=na, num_visible_v=nv)
        loss = out.loss
        logs.update(rec_a=out.rec_a.item(), rec_v=out.rec_v.item(), contrastive=out.contrastive.item())
        alpha = self.cfg.continual.stella_alpha
        if mem is not None and alpha > 0:
            lp = der_penalty(out, mem["c_a"], mem["c_v"], start)
            logs["penalty"] = lp.item()
            loss = loss + alpha * lp
        self.step(loss)
        logs["loss"] = loss.item()
        return out
