"""STELLA (Algorithm 2): DER++ on patches chosen by LPIS + RCA + probabilistic selection.

Per batch (X_a, X_v) of the task-free stream:
 1. o_a, o_v = E_f(E_a(X_a), E_v(X_v)) without masking and without gradient; the AVM gives
    q, k and the cross-attention maps A_a, A_v at the selection temperature beta (Eq. 1).
 2. I_a, I_v (Eq. 2); q^, k^ of the kappa most important patches (Eq. 3); correlation C_a, C_v
    of the current keys with the past pooled queries q^p drawn from the memory (Eq. 4).
 3. Bernoulli(C) exclusion + multinomial over I (Eq. 5) for video, time chunks (Algorithm 1)
    for audio; replayed samples reuse their stored I^p, C^p (line 7; the book's choices table).
 4. f is trained on [X^, X^p] (Eq. 6, line 11) with L = l^r + lambda l^c + alpha l^p, alpha =
    ``continual.stella_alpha`` (Table 5: 0.5 on both benchmarks, where DER++ has 0.5 / 1.0); masking
    follows ``selection.mask_of`` (the selected patches or the full length; the book's choices table).
 5. The memory receives (X_a, X_v, q^_a, q^_v, I_a, I_v, C_a, C_v) plus the DER targets (line 9),
    and the AVM takes one step of its matching loss on the current batch (line 10, Eq. 10-11);
    its gradient never reaches the backbone.
``strategy`` selects the Table 3 ablations: "lpis" (C = 0) and "rca" (uniform I).
"""
from __future__ import annotations

import torch

from stella.continual.methods.base import register
from stella.continual.methods.selecting import SelectingMethod
from stella.selection import gather, select_from_scores


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
            rsel = select_from_scores(self.cfg, mem["I_a"], mem["I_v"], mem["C_a"], mem["C_v"], self.ctx.gen_select,
                                      strategy=self.strategy)
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
