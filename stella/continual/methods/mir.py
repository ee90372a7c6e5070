"""MIR (Aljundi et al., 2019, "Online continual learning with maximally interfered retrieval").

Original: draw C x (replay batch) candidates from the memory, take a virtual update of the model
on the current batch, and replay the candidates whose loss would increase the most under that
update (the "maximally interfered" ones), together with the current batch (ER step).

Self-supervised audio-video adaptation (stated choices):
 * loss of a candidate = its per-sample pre-training loss l_i = rec_a_i + rec_v_i + lambda con_i
   (``ModelOutput.*_per_sample``, lambda = ``model.contrast_weight``); the contrastive term of a
   candidate uses the other candidates as in-batch negatives (all C x R are scored in one batch).
 * the virtual update is one step of the run's optimiser WITHOUT touching its state (the
   authors' code, ``step_wo_state_update_adam``): Adam with the optimiser's current moments and
   ``continual.lr``; ``virtual_optimizer = "sgd"`` gives Aljundi et al.'s plain SGD step instead.
   The gradient is that of the current batch's loss; it is not synchronised under torchrun (each
   rank scores its own candidates).
 * before/after losses use the SAME masks (one noise draw from ``ctx.gen_mask`` shared by both
   passes), so the score is the interference of the update and not masking noise; the authors'
   code re-masks both passes.
 * the R = replay batch candidates with the largest l_after - l_before are replayed (ties: lower
   candidate index first), C = ``continual.mir_candidates`` (Table 5: 5).
 * then an ER step: one optimiser step on L over [current, picked] (``ER.observe``), memory keeps
   raw clips by reservoir sampling.

The helpers of this module (per-sample loss, fixed-noise forward on full clips, virtual
parameters) are shared with GMED, CLS-ER and ESMER.
"""
from __future__ import annotations

import torch
from torch.func import functional_call

from stella.continual.distributed import Forwarder
from stella.continual.methods.base import register
from stella.continual.methods.er import ER
from stella.models.masking import mask_noise


# --- shared helpers ---------------------------------------------------------------------
def per_sample_loss(out, cfg) -> torch.Tensor:
    """(B,) pre-training loss per sample: rec_a + rec_v + lambda * contrastive (its mean is out.loss)."""
    return out.rec_a_per_sample + out.rec_v_per_sample + cfg.model.contrast_weight * out.contrastive_per_sample


def full_patch_inputs(model, audio: torch.Tensor, video: torch.Tensor):
    """All patches of full clips with their grid positions: (xa, xv, pos_a, pos_v)."""
    xa, xv = model.patchify_audio(audio), model.patchify_video(video)
    B = xa.shape[0]
    pos_a = torch.arange(xa.shape[1], device=xa.device).unsqueeze(0).expand(B, -1)
    pos_v = torch.arange(xv.shape[1], device=xv.device).unsqueeze(0).expand(B, -1)
    return xa, xv, pos_a, pos_v


def draw_noise(gen: torch.Generator, B: int, ka: int, kv: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Masking noise as the model draws it (audio first, then video), to reuse across passes."""
    return mask_noise(B, ka, gen, device), mask_noise(B, kv, gen, device)


def virtual_params(model: torch.nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor,
                   kind: str = "adam") -> dict[str, torch.Tensor]:
    """theta' = one optimiser step from theta on ``loss`` with the optimiser state left untouched.

    Returns {parameter name: detached tensor}. "adam": Adam/L2 weight decay with the optimiser's
    current moments and step count (what ``opt.step()`` would produce); "sgd": theta - lr * grad.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    group = opt.param_groups[0]
    lr, wd = group["lr"], group.get("weight_decay", 0.0)
    b1, b2 = group.get("betas", (0.9, 0.999))
    eps = group.get("eps", 1e-8)
    out = {}
    with torch.no_grad():
        for (n, p), g in zip(named, grads):
            if g is None:
                out[n] = p.detach()
                continue
            if kind == "sgd":
                out[n] = p - lr * g
                continue
            g = g + wd * p if wd else g
            st = opt.state.get(p, {})
            m = st.get("exp_avg", torch.zeros_like(p))
            v = st.get("exp_avg_sq", torch.zeros_like(p))
            step = float(st.get("step", 0)) + 1.0
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            denom = (v / (1 - b2 ** step)).sqrt() + eps
            out[n] = p - lr / (1 - b1 ** step) * m / denom
    return out


def forward_with(model, params: dict[str, torch.Tensor] | None, xa, xv, pos_a, pos_v, noise_a, noise_v):
    """model.forward_patches with fixed masks, under ``params`` (virtual weights) when given."""
    if params is None:
        return model.forward_patches(xa, xv, pos_a, pos_v, noise_a=noise_a, noise_v=noise_v)
    fwd = Forwarder(model)
    return functional_call(fwd, {f"model.{k}": v for k, v in params.items()},
                           ("patches", xa, xv, pos_a, pos_v), {"noise_a": noise_a, "noise_v": noise_v})


def interference(method, audio, video, mem_audio, mem_video, with_input_grad: bool = False):
    """(l_before, l_after) (R,) of the memory clips around a virtual step on the current batch (same masks)."""
    ctx, model = method.ctx, method.ctx.model
    cur = model(audio, video, generator=ctx.gen_mask)
    fast = virtual_params(model, ctx.opt, cur.loss, getattr(method, "virtual_optimizer", "adam"))
    xa, xv, pos_a, pos_v = full_patch_inputs(model, mem_audio, mem_video)
    na, nv = draw_noise(ctx.gen_mask, xa.shape[0], xa.shape[1], xv.shape[1], xa.device)
    with torch.set_grad_enabled(with_input_grad):
        before = per_sample_loss(forward_with(model, None, xa, xv, pos_a, pos_v, na, nv), method.cfg)
        after = per_sample_loss(forward_with(model, fast, xa, xv, pos_a, pos_v, na, nv), method.cfg)
    return before, after


def mir_pick(before: torch.Tensor, after: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k candidates whose loss increases most (stable: ties keep candidate order)."""
    score = (after - before).detach().cpu()
    return torch.sort(score, descending=True, stable=True).indices[: min(k, score.numel())]


@register("mir")
class MIR(ER):
    summary = "MIR: replay the C x R memory candidates most interfered by a virtual update (Aljundi 2019)"
    virtual_optimizer = "adam"

    def observe(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        self._current = self.to_device(batch)
        try:
            logs = super().observe(batch)
        finally:
            self._current = None
        if self._last_score is not None:
            logs["interference"] = self._last_score
        return logs

    def replay(self) -> dict[str, torch.Tensor] | None:
        """ER's replay draw, replaced by the MIR retrieval around the current batch."""
        self._last_score = None
        cand = self.memory.sample(self.cfg.continual.mir_candidates * self.replay_size, self.ctx.gen_memory,
                                  self.ctx.device)
        if cand is None:
            return None
        b = self._current
        before, after = interference(self, b["audio"], b["video"], cand["audio"], cand["video"])
        idx = mir_pick(before, after, self.replay_size).to(cand["audio"].device)
        self.last_picked = cand["slot"][idx]
        self._last_score = float((after - before)[idx].mean())
        return {k: v[idx] for k, v in cand.items()}

    _current = None
    _last_score = None
    last_picked = None


__all__ = ["MIR", "per_sample_loss", "full_patch_inputs", "draw_noise", "virtual_params", "forward_with",
           "interference", "mir_pick"]
