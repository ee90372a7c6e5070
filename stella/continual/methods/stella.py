"""STELLA (Algorithm 2): DER++ on patches chosen by LPIS + RCA + probabilistic selection.

Per batch (X_a, X_v) of the task-free stream:
 1. o_a, o_v = E_f(E_a(X_a), E_v(X_v)) without masking and without gradient; the AVM gives
    q, k and the cross-attention maps A_a, A_v at the selection temperature beta (Eq. 1).
 2. I_a, I_v (Eq. 2); q^, k^ of the kappa most important patches (Eq. 3); correlation C_a, C_v
    of the current keys with the past pooled queries q^p drawn from the memory (Eq. 4).
 3. Bernoulli(C) exclusion + multinomial over I (Eq. 5) for video, time chunks (Algorithm 1)
    for audio; replayed samples reuse their stored I^p, C^p (line 7; AMBIGUITIES item 7).
 4. f is trained on [X^, X^p] (Eq. 6, line 11) with L = l^r + lambda l^c + alpha l^p, alpha =
    ``continual.stella_alpha`` (Table 5: 0.5 on both benchmarks, where DER++ has 0.5 / 1.0); masking
    is applied to the selected patches (``selection.mask_of``; AMBIGUITIES item 10).
 5. The memory receives (X_a, X_v, q^_a, q^_v, I_a, I_v, C_a, C_v) plus the DER targets (line 9),
    and the AVM takes one step of its matching loss on the current batch (line 10, Eq. 10-11);
    its gradient never reaches the backbone.
``strategy`` selects the Table 3 ablations: "lpis" (C = 0) and "rca" (uniform I).
"""
from __future__ import annotations

import torch

from stella.continual.distributed import allreduce_grads
from stella.continual.methods.base import Method, register
from stella.selection import gather, importance_scores, select, select_from_scores


class SelectingMethod(Method):
    """Shared machinery of every method that trains on selected patches."""

    uses_memory = True
    strategy = "stella"
    needs_avm = True

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
                     self.ctx.gen_select)
        xa = gather(model.patchify_audio(audio), sel.idx_a)
        xv = gather(model.patchify_video(video), sel.idx_v)
        return o_a, o_v, sel, mem, xa, xv

    def visible(self) -> tuple[int | None, int | None]:
        """Visible-token counts for ``mask_of == "full"`` (0.8 of the full length, the authors' code)."""
        if self.cfg.selection.mask_of != "full":
            return None, None
        keep = 1.0 - self.cfg.model.mask_ratio
        return max(1, round(keep * self.cfg.num_audio_patches)), max(1, round(keep * self.cfg.num_video_patches))

    def train_on(self, xa, xv, pos_a, pos_v, mem, start: int, logs: dict) -> torch.Tensor:
        na, nv = self.visible()
        if na is not None:
            na, nv = min(na, xa.shape[1] - 1), min(nv, xv.shape[1] - 1)
        out = self.forward_patches(xa, xv, pos_a, pos_v, num_visible_a=na, num_visible_v=nv)
        loss = out.loss
        logs.update(rec_a=out.rec_a.item(), rec_v=out.rec_v.item(), contrastive=out.contrastive.item())
        alpha = self.cfg.continual.stella_alpha
        if mem is not None and alpha > 0:
            lp = self.der_penalty(out, mem["c_a"], mem["c_v"], start)
            logs["penalty"] = lp.item()
            loss = loss + alpha * lp
        self.step(loss)
        logs["loss"] = loss.item()
        return out


@register("stella")
class Stella(SelectingMethod):
    summary = "STELLA: DER++ on patches picked by LPIS (Eq. 2) + RCA (Eq. 3-4) + Eq. 5 / Algorithm 1"

    def observe(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        b = self.to_device(batch)
        audio, video = b["audio"], b["video"]
        n = audio.shape[0]
        model = self.ctx.model
        o_a, o_v, sel, mem, xa, xv = self.select_current(audio, video)
        pos_a, pos_v = sel.idx_a, sel.idx_v
        if mem is not None:
            rsel = select_from_scores(self.cfg, mem["I_a"], mem["I_v"], mem["C_a"], mem["C_v"], self.ctx.gen_select)
            xa = torch.cat([xa, gather(model.patchify_audio(mem["audio"]), rsel.idx_a)])
            xv = torch.cat([xv, gather(model.patchify_video(mem["video"]), rsel.idx_v)])
            pos_a, pos_v = torch.cat([pos_a, rsel.idx_a]), torch.cat([pos_v, rsel.idx_v])
        logs: dict[str, float] = {}
        out = self.train_on(xa, xv, pos_a, pos_v, mem, n, logs)
        self.memory.add({"audio": audio, "video": video, "q_a": sel.q_hat_a, "q_v": sel.q_hat_v,
                         "I_a": sel.I_a, "I_v": sel.I_v, "C_a": sel.C_a, "C_v": sel.C_v,
                         "c_a": out.c_a[:n], "c_v": out.c_v[:n]}, self.ctx.gen_memory)
        logs.update(self.avm_step(o_a, o_v))
        return logs
