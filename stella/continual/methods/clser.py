"""CLS-ER (Arani et al., 2022, "Learning fast, learning slow: a general continual learning method
based on complementary learning system").

Original: besides the working model, a plastic and a stable semantic memory, both exponential
moving averages of the working weights (decay alpha_P / alpha_S), each updated stochastically
after an optimiser step with probability r_P / r_S. On replayed samples the working model's
outputs are pulled (MSE, weight lambda) to those of the semantic memory that is more confident
on the true label; the stable model is the one evaluated.

Self-supervised audio-video adaptation (stated choices, following the authors' baseline code):
 * "outputs" = pooled audio / video embeddings c_a, c_v (before L2 norm), per modality:
   l_cons = lambda * (MSE(c_a, c_a^EMA) + MSE(c_v, c_v^EMA)) on the replayed rows,
   lambda = ``continual.clser_lambda``.
 * "more confident on the true label" = the higher probability of the TRUE audio-video pair in
   the in-batch contrastive softmax (temperature ``model.tau``) over the replay batch: the video
   target comes from the EMA with the higher audio->video probability, the audio target from the
   one with the higher video->audio probability (the authors' code; ties go to the plastic model).
   ``select_by = "reconstruction"`` instead picks, per sample, the EMA with the lower
   reconstruction loss rec_a + rec_v.
 * the EMA models see the replayed clips with the SAME masks as the working model (one noise
   draw from ``ctx.gen_mask`` shared by all passes, ``functional.masked_inputs``).
 * ER term: L on [current, replay] in one forward; memory = raw clips by reservoir sampling.
 * EMA update after the optimiser step, with the original's warm-up
   alpha_t = min(1 - 1 / (step + 1), alpha); parameters are averaged, buffers copied; the two
   Bernoulli draws (plastic first, then stable) come from ``ctx.gen_memory`` every step.
 * ``eval_model()`` is the working model, as in the authors' STELLA code (whose Table 1 numbers
   it produced), or the stable model as in the CLS-ER paper with ``continual.ema_eval = "ema"``;
   both EMA models and the step count are checkpointed
   (``extra_state``) and counted in ``extra_bytes`` (Table 2).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from stella.continual.functional import bernoulli, ema_pass, ema_update, make_ema, masked_inputs
from stella.continual.methods.base import register
from stella.continual.methods.er import ER
from stella.eval.efficiency import module_bytes


def true_pair_probs(c_a: torch.Tensor, c_v: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(p_a->v, p_v->a) (B,): in-batch softmax probability of the true pair, each direction."""
    z_a, z_v = F.normalize(c_a, dim=-1), F.normalize(c_v, dim=-1)
    logits = z_a @ z_v.t() / tau
    return torch.diagonal(F.softmax(logits, dim=1)), torch.diagonal(F.softmax(logits.t(), dim=1))


@register("clser")
class CLSER(ER):
    summary = "CLS-ER: ER + consistency to the more confident of a plastic and a stable EMA model (Arani 2022)"
    masks_full_clips = False   # trains on functional.masked_inputs (fixed masks shared with its EMA teachers)
    select_by = "contrastive"      # or "reconstruction"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.plastic = make_ema(ctx.model)
        self.stable = make_ema(ctx.model)
        self.global_step = 0

    def targets(self, ps, ss) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample consistency targets (c_a, c_v) from the plastic (ps) and stable (ss) outputs."""
        if self.select_by == "reconstruction":
            use_s = (ss.rec_a_per_sample + ss.rec_v_per_sample) < (ps.rec_a_per_sample + ps.rec_v_per_sample)
            use_s_a = use_s_v = use_s
        else:
            tau = self.cfg.model.tau
            p_av, p_va = true_pair_probs(ps.c_a, ps.c_v, tau)
            s_av, s_va = true_pair_probs(ss.c_a, ss.c_v, tau)
            use_s_v, use_s_a = s_av > p_av, s_va > p_va
        t_a = torch.where(use_s_a.unsqueeze(1), ss.c_a, ps.c_a)
        t_v = torch.where(use_s_v.unsqueeze(1), ss.c_v, ps.c_v)
        return t_a, t_v

    def observe(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        b = self.to_device(batch)
        n = b["audio"].shape[0]
        logs: dict[str, float] = {}
        audio, video, mem = self.with_replay(b, logs)
        inputs = masked_inputs(self.ctx.model, self.ctx.gen_mask, audio, video)
        out = self.forward_masked(inputs)
        loss = out.loss
        logs.update(rec_a=out.rec_a.item(), rec_v=out.rec_v.item(), contrastive=out.contrastive.item())
        if mem is not None:
            rows = slice(n, None)
            t_a, t_v = self.targets(ema_pass(self.plastic, inputs, rows), ema_pass(self.stable, inputs, rows))
            cons = F.mse_loss(out.c_a[n:], t_a) + F.mse_loss(out.c_v[n:], t_v)
            logs["consistency"] = cons.item()
            loss = loss + self.cfg.continual.clser_lambda * cons
        self.step(loss)
        self.memory.add(self.memory_items(b, out), self.ctx.gen_memory)
        self.update_emas()
        logs["loss"] = loss.item()
        return logs

    def update_emas(self) -> None:
        c = self.cfg.continual
        self.global_step += 1
        up_p = bernoulli(self.ctx.gen_memory, c.clser_r_p)
        up_s = bernoulli(self.ctx.gen_memory, c.clser_r_s)
        if up_p:
            ema_update(self.plastic, self.ctx.model, c.clser_alpha_p, self.global_step)
        if up_s:
            ema_update(self.stable, self.ctx.model, c.clser_alpha_s, self.global_step)

    # --- evaluation / checkpoints -----------------------------------------------------------
    def eval_model(self) -> torch.nn.Module:
        return self.stable if self.cfg.continual.ema_eval == "ema" else self.ctx.model

    def extra_state(self) -> dict:
        return {"plastic": self.plastic.state_dict(), "stable": self.stable.state_dict(),
                "global_step": self.global_step}

    def load_extra_state(self, state: dict) -> None:
        self.plastic.load_state_dict(state["plastic"])
        self.stable.load_state_dict(state["stable"])
        self.global_step = int(state["global_step"])

    def extra_bytes(self) -> int:
        return module_bytes(self.plastic) + module_bytes(self.stable)
