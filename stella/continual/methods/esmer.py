"""ESMER (Sarfraz et al., 2023, "Error sensitivity modulation based experience replay").

Original: a semantic memory (EMA of the working model, decay alpha, updated stochastically with
rate r) measures the per-sample error of the current batch; a momentum estimate mu of that error
(momentum alpha_l) defines "high-loss" samples, l_i > beta mu, whose loss is scaled down by
mu / l_i, so abrupt new errors do not wreck the representation; only low-loss samples enter the
memory (error-sensitive reservoir); replayed samples get a consistency loss (weight gamma) to the
semantic memory's outputs; the semantic memory is the evaluated model.

Self-supervised audio-video adaptation (stated choices, following the authors' baseline code):
 * the error l_i is the SEMANTIC MEMORY's per-sample pre-training loss rec_a + rec_v + lambda con
   on the current clips (as ESMER and the authors' code; the brief's "working model" loss is not
   what the original does), under the same masks as the working pass.
 * weights w_i = mu / l_i where l_i >= beta mu, else 1 (no weighting while mu = 0, i.e. before the
   first estimate); applied to the current rows of the working model's per-sample loss, replayed
   rows weigh 1, and the loss is the mean over all rows (exactly L when every w_i = 1).
   beta = ``continual.esmer_beta``.
 * consistency gamma * (MSE(c_a, c_a^S) + MSE(c_v, c_v^S)) on the replayed rows, pooled embeddings
   before L2 norm, same masks; gamma = ``continual.esmer_gamma``.
 * memory: raw clips of the current samples with l_i <= beta mu (all while mu = 0), reservoir.
 * mu update after the step on the batch's semantic-memory losses without in-batch outliers
   (l_i > mean + STD_MARGIN std, STD_MARGIN = 1 as the original's default):
   mu <- a mu + (1 - a) mean, a = min(1 - 1/(step + 1), alpha_l), alpha_l = ``esmer_alpha_l``.
 * EMA: decay ``esmer_alpha`` with the same warm-up, one Bernoulli(``esmer_r``) draw per step
   from ``ctx.gen_memory``; ``eval_model()`` = the working model (the authors' STELLA code) or the
   semantic memory as in the ESMER paper (``continual.ema_eval = "ema"``); it, mu and the step count are
   checkpointed; ``extra_bytes`` counts the semantic memory.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from stella.continual.functional import bernoulli, ema_pass, ema_update, make_ema, masked_inputs, per_sample_loss
from stella.continual.methods.base import register
from stella.continual.methods.er import ER
from stella.eval.efficiency import module_bytes

STD_MARGIN = 1.0


def error_weights(loss: torch.Tensor, mu: float, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(w (B,), keep (B,) bool): w_i = mu / l_i where l_i >= beta mu else 1; keep = l_i <= beta mu."""
    if mu <= 0:
        return torch.ones_like(loss), torch.ones_like(loss, dtype=torch.bool)
    high = loss >= beta * mu
    w = torch.where(high, mu / loss.clamp_min(1e-12), torch.ones_like(loss))
    return w, loss <= beta * mu


@register("esmer")
class ESMER(ER):
    summary = "ESMER: ER with error-sensitive loss weighting and memory + semantic-memory consistency (Sarfraz 2023)"
    masks_full_clips = False   # trains on functional.masked_inputs (fixed masks shared with its EMA teachers)

    def __init__(self, ctx):
        super().__init__(ctx)
        self.semantic = make_ema(ctx.model)
        self.global_step = 0
        self.mu = 0.0

    def observe(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        c = self.cfg.continual
        b = self.to_device(batch)
        n = b["audio"].shape[0]
        logs: dict[str, float] = {}
        audio, video, mem = self.with_replay(b, logs)
        inputs = masked_inputs(self.ctx.model, self.ctx.gen_mask, audio, video)
        out = self.forward_masked(inputs)
        sem_cur = ema_pass(self.semantic, inputs, slice(0, n))
        lam = self.cfg.model.contrast_weight
        err = per_sample_loss(sem_cur, lam).detach()
        w, keep = error_weights(err, self.mu, c.esmer_beta)
        per = per_sample_loss(out, lam)
        loss = torch.cat([w * per[:n], per[n:]]).mean()
        logs.update(rec_a=out.rec_a.item(), rec_v=out.rec_v.item(), contrastive=out.contrastive.item(),
                    weight=w.mean().item(), mu=float(self.mu))
        if mem is not None:
            sem_mem = ema_pass(self.semantic, inputs, slice(n, None))
            cons = F.mse_loss(out.c_a[n:], sem_mem.c_a) + F.mse_loss(out.c_v[n:], sem_mem.c_v)
            logs["consistency"] = cons.item()
            loss = loss + c.esmer_gamma * cons
        self.step(loss)
        if bool(keep.any()):
            kb = {k: v[keep] for k, v in b.items() if torch.is_tensor(v) and v.shape[:1] == (n,)}
            self.memory.add(self.memory_items(kb, None), self.ctx.gen_memory)
        self.global_step += 1
        if bernoulli(self.ctx.gen_memory, c.esmer_r):
            ema_update(self.semantic, self.ctx.model, c.esmer_alpha, self.global_step)
        self.update_mu(err)
        logs["loss"] = loss.item()
        return logs

    def update_mu(self, err: torch.Tensor) -> None:
        if err.numel() > 1:
            err = err[~(err > err.mean() + STD_MARGIN * err.std())]
        if err.numel() == 0:
            return
        a = min(1.0 - 1.0 / (self.global_step + 1), self.cfg.continual.esmer_alpha_l)
        self.mu = float(a * self.mu + (1 - a) * err.mean().item())

    def eval_model(self) -> torch.nn.Module:
        return self.semantic if self.cfg.continual.ema_eval == "ema" else self.ctx.model

    def extra_state(self) -> dict:
        return {"semantic": self.semantic.state_dict(), "global_step": self.global_step, "mu": self.mu}

    def load_extra_state(self, state: dict) -> None:
        self.semantic.load_state_dict(state["semantic"])
        self.global_step, self.mu = int(state["global_step"]), float(state["mu"])

    def extra_bytes(self) -> int:
        return module_bytes(self.semantic)
