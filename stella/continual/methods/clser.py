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
   draw from ``ctx.gen_mask`` shared by all passes).
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

import copy

import torch
import torch.nn.functional as F

from stella.continual.methods.base import register
from stella.continual.methods.er import ER
from stella.continual.methods.mir import draw_noise, full_patch_inputs


# --- shared EMA helpers (also used by ESMER) ----------------------------------------------
def make_ema(model: torch.nn.Module) -> torch.nn.Module:
    ema = copy.deepcopy(model)
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, alpha: float, step: int) -> float:
    """theta_ema <- a theta_ema + (1 - a) theta with a = min(1 - 1/(step + 1), alpha); returns a."""
    a = min(1.0 - 1.0 / (step + 1), alpha)
    for pe, p in zip(ema.parameters(), model.parameters()):
        pe.mul_(a).add_(p.detach(), alpha=1.0 - a)
    for be, b in zip(ema.buffers(), model.buffers()):
        be.copy_(b)
    return a


def module_bytes(m: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in list(m.parameters()) + list(m.buffers()))


def bernoulli(gen: torch.Generator, p: float) -> bool:
    return bool(torch.rand(1, generator=gen).item() < p)


def true_pair_probs(c_a: torch.Tensor, c_v: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(p_a->v, p_v->a) (B,): in-batch softmax probability of the true pair, each direction."""
    z_a, z_v = F.normalize(c_a, dim=-1), F.normalize(c_v, dim=-1)
    logits = z_a @ z_v.t() / tau
    return torch.diagonal(F.softmax(logits, dim=1)), torch.diagonal(F.softmax(logits.t(), dim=1))


class EMAReplay(ER):
    """ER whose training pass draws its masks explicitly, so EMA models can share them."""

    def masked_pass(self, audio: torch.Tensor, video: torch.Tensor):
        """Working-model pass on full clips; returns (out, (xa, xv, pos_a, pos_v, noise_a, noise_v))."""
        xa, xv, pos_a, pos_v = full_patch_inputs(self.ctx.model, audio, video)
        na, nv = draw_noise(self.ctx.gen_mask, xa.shape[0], xa.shape[1], xv.shape[1], xa.device)
        out = self.forward_patches(xa, xv, pos_a, pos_v, noise_a=na, noise_v=nv)
        return out, (xa, xv, pos_a, pos_v, na, nv)

    @staticmethod
    @torch.no_grad()
    def ema_pass(ema, inputs, rows: slice):
        xa, xv, pos_a, pos_v, na, nv = inputs
        return ema.forward_patches(xa[rows].detach(), xv[rows].detach(), pos_a[rows], pos_v[rows],
                                   noise_a=na[rows], noise_v=nv[rows])


@register("clser")
class CLSER(EMAReplay):
    summary = "CLS-ER: ER + consistency to the more confident of a plastic and a stable EMA model (Arani 2022)"
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
        audio, video, mem = self.with_replay(b)
        out, inputs = self.masked_pass(audio, video)
        loss = out.loss
        logs = {"rec_a": out.rec_a.item(), "rec_v": out.rec_v.item(), "contrastive": out.contrastive.item()}
        if mem is not None:
            rows = slice(n, None)
            t_a, t_v = self.targets(self.ema_pass(self.plastic, inputs, rows), self.ema_pass(self.stable, inputs, rows))
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
