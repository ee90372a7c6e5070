"""The backbone's self-supervised objectives (appendix C): masked reconstruction (Eq. 8) and
symmetric InfoNCE (Eq. 9). Every loss comes with its per-sample version (B,) for MIR-style scoring.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def normalize_patches(target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-patch normalised targets (MAE's norm_pix_loss): (B, K, P) -> (B, K, P)."""
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    return (target - mean) / (var + eps) ** 0.5


def reconstruction_loss_per_sample(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                                   norm_pix: bool = True) -> torch.Tensor:
    """Eq. 8 for one modality, per sample.

    pred, target (B, K, P); mask (B, K) bool, True = masked (a reconstruction target).
    Returns (B,): sum over masked patches of the per-patch mean squared error, divided by |m_i|
    (the number of masked patches of sample i; a sample without masked patches scores 0).
    """
    if norm_pix:
        target = normalize_patches(target)
    err = ((pred - target) ** 2).mean(dim=-1)                       # (B, K)
    m = mask.to(err.dtype)
    return (err * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)


def infonce_per_sample(c_a: torch.Tensor, c_v: torch.Tensor, tau: float) -> torch.Tensor:
    """Eq. 9, per sample, averaged over the two directions (the authors' code averages; the
    paper's Eq. 9 sums, a factor 2 absorbed by lambda).

    c_a, c_v (B, D) pooled embeddings (L2-normalised here). Returns (B,):
    0.5 * (-log softmax_j(z_a,i . z_v,j / tau)[i] - log softmax_j(z_v,i . z_a,j / tau)[i]).
    """
    z_a = F.normalize(c_a, dim=-1)
    z_v = F.normalize(c_v, dim=-1)
    logits = z_a @ z_v.t() / tau                                      # (B, B)
    a2v = -torch.diagonal(F.log_softmax(logits, dim=1))               # (B,)
    v2a = -torch.diagonal(F.log_softmax(logits.t(), dim=1))           # (B,)
    return 0.5 * (a2v + v2a)
