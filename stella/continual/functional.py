"""The algorithms several continual methods share, as functions of explicit modules and tensors.

 * ``per_sample_loss``: l_i = rec_a_i + rec_v_i + lambda con_i (B,), the per-sample form of
   L = l^r + lambda l^c (section 3.1); its mean is ``ModelOutput.loss``. MIR, GMED, ESMER.
 * ``masked_inputs`` / ``forward_with``: every patch of full clips with one masking-noise draw
   (Eq. 8), so that several passes (before / after a virtual step, working model / EMA teacher)
   see the same masks and differ only in their weights.
 * ``virtual_params``: theta' = one step of the run's optimiser on a loss, its state untouched
   (MIR's and GMED's virtual update; the authors' ``step_wo_state_update_adam``).
 * ``interference``: (l_before, l_after) of memory clips around that virtual step (MIR, GMED).
 * ``der_penalty``: DER++'s l^p on the stored pooled embeddings (DER++, STELLA and its ablations).
 * ``make_ema`` / ``ema_update`` / ``ema_pass`` / ``bernoulli``: EMA teachers updated
   stochastically with the warm-up a_t = min(1 - 1/(t + 1), alpha) (CLS-ER, ESMER).

No function here reads a method object or a config: callers pass the values.
"""
from __future__ import annotations

import copy
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch.func import functional_call

from stella.continual.distributed import Forwarder
from stella.models.masking import mask_noise


def per_sample_loss(out, contrast_weight: float) -> torch.Tensor:
    """(B,) pre-training loss per sample: rec_a + rec_v + lambda * contrastive (its mean is out.loss)."""
    return out.rec_a_per_sample + out.rec_v_per_sample + contrast_weight * out.contrastive_per_sample


class MaskedInputs(NamedTuple):
    """All patches of full clips, their grid positions and one masking-noise draw.

    xa (B, M, p*p), xv (B, N, 3p*p), pos_a (B, M), pos_v (B, N), noise_a (B, M), noise_v (B, N)."""

    xa: torch.Tensor
    xv: torch.Tensor
    pos_a: torch.Tensor
    pos_v: torch.Tensor
    noise_a: torch.Tensor
    noise_v: torch.Tensor

    def rows(self, rows: slice) -> "MaskedInputs":
        return MaskedInputs(*(t[rows] for t in self))


def masked_inputs(model, gen: torch.Generator, audio: torch.Tensor, video: torch.Tensor) -> MaskedInputs:
    """Patchify full clips (Eq. 6 with every patch kept) and draw the masking noise as the model
    draws it, audio first, then video, so it can be reused across passes."""
    xa, xv = model.patchify_audio(audio), model.patchify_video(video)
    B = xa.shape[0]
    pos_a = torch.arange(xa.shape[1], device=xa.device).unsqueeze(0).expand(B, -1)
    pos_v = torch.arange(xv.shape[1], device=xv.device).unsqueeze(0).expand(B, -1)
    na, nv = mask_noise(B, xa.shape[1], gen, xa.device), mask_noise(B, xv.shape[1], gen, xa.device)
    return MaskedInputs(xa, xv, pos_a, pos_v, na, nv)


def forward_with(model, params: dict[str, torch.Tensor] | None, inputs: MaskedInputs,
                 num_visible: tuple[int | None, int | None] = (None, None)):
    """model.forward_patches on ``inputs`` with their fixed masks, under ``params`` (virtual
    weights, {parameter name: tensor}) when given; ``num_visible`` as the training pass's (None: the model's)."""
    xa, xv, pos_a, pos_v, na, nv = inputs
    kw = {"noise_a": na, "noise_v": nv, "num_visible_a": num_visible[0], "num_visible_v": num_visible[1]}
    if params is None:
        return model.forward_patches(xa, xv, pos_a, pos_v, **kw)
    fwd = Forwarder(model)
    return functional_call(fwd, {f"model.{k}": v for k, v in params.items()}, ("patches", xa, xv, pos_a, pos_v), kw)


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


def interference(model, opt: torch.optim.Optimizer, gen_mask: torch.Generator, contrast_weight: float,
                 audio: torch.Tensor, video: torch.Tensor, mem_audio: torch.Tensor, mem_video: torch.Tensor,
                 virtual_optimizer: str = "adam", with_input_grad: bool = False,
                 num_visible: tuple[int | None, int | None] = (None, None)) -> tuple[torch.Tensor, torch.Tensor]:
    """(l_before, l_after) (R,): per-sample losses of the memory clips (R of them) before and after a
    virtual step on the current batch (B clips), both passes under the same masks and with the training
    pass's visible counts ``num_visible`` (None: the model's). With ``with_input_grad`` both stay
    differentiable with respect to ``mem_audio`` / ``mem_video``."""
    na, nv = num_visible
    cur = model(audio, video, generator=gen_mask, num_visible_a=na, num_visible_v=nv)
    fast = virtual_params(model, opt, cur.loss, virtual_optimizer)
    inputs = masked_inputs(model, gen_mask, mem_audio, mem_video)
    with torch.set_grad_enabled(with_input_grad):
        before = per_sample_loss(forward_with(model, None, inputs, num_visible), contrast_weight)
        after = per_sample_loss(forward_with(model, fast, inputs, num_visible), contrast_weight)
    return before, after


def der_penalty(out, c_a: torch.Tensor, c_v: torch.Tensor, start: int) -> torch.Tensor:
    """DER++ penalty l^p = MSE(c_a, c_a^p) + MSE(c_v, c_v^p) on the rows from ``start`` on (the replayed
    ones), c_a, c_v (R, D) the pooled embeddings stored at insertion. Each modality counts on its own
    (appendix A); the caller multiplies by alpha, so each modality gets alpha * MSE as in DER++ and
    the authors' code (the book's choices table)."""
    return F.mse_loss(out.c_a[start:], c_a) + F.mse_loss(out.c_v[start:], c_v)


def make_ema(model: torch.nn.Module) -> torch.nn.Module:
    """A frozen copy of ``model`` to be averaged by :func:`ema_update`."""
    ema = copy.deepcopy(model)
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, alpha: float, step: int) -> float:
    """theta_ema <- a theta_ema + (1 - a) theta with a = min(1 - 1/(step + 1), alpha); buffers are
    copied. Returns a."""
    a = min(1.0 - 1.0 / (step + 1), alpha)
    for pe, p in zip(ema.parameters(), model.parameters()):
        pe.mul_(a).add_(p.detach(), alpha=1.0 - a)
    for be, b in zip(ema.buffers(), model.buffers()):
        be.copy_(b)
    return a


@torch.no_grad()
def ema_pass(ema: torch.nn.Module, inputs: MaskedInputs, rows: slice):
    """The EMA teacher's output on ``rows`` of ``inputs``, with the working model's masks."""
    part = inputs.rows(rows)
    return forward_with(ema, None, part._replace(xa=part.xa.detach(), xv=part.xv.detach()))


def bernoulli(gen: torch.Generator, p: float) -> bool:
    """One draw of Bernoulli(p) from ``gen`` (an EMA update happens or not)."""
    return bool(torch.rand(1, generator=gen).item() < p)


__all__ = ["per_sample_loss", "MaskedInputs", "masked_inputs", "forward_with", "virtual_params", "interference",
           "der_penalty", "make_ema", "ema_update", "ema_pass", "bernoulli"]
