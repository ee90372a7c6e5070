"""Localized Patch Importance Scoring (section 4.1, Eq. 2) and the sampling budget kappa.

The AVM module (Eq. 1) gives cross-modal attention logits, read cross-modally (the book's choices table):

    A_a = mu(q_v, k_a) = q_v k_a^T / (beta sqrt(d))    (B, H, N, M)  video queries on audio keys
    A_v = mu(q_a, k_v) = q_a k_v^T / (beta sqrt(d))    (B, H, M, N)  audio queries on video keys

Eq. 2 turns each into one score per patch: a softmax over the last dimension (the patches being
scored), then the mean over heads and over the paired modality's queries. Every softmax row sums
to one, so I_a and I_v sum to one per sample: they are distributions over patches.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def kappa(n: int, rho: float) -> int:
    """Number of kept patches, kappa = n * rho (section 4.2), rounded half up, clipped to [1, n].

    Paper geometry: kappa(512, 0.5) = 256 audio, kappa(784, 0.5) = 392 video patches.
    """
    if n < 1:
        raise ValueError(f"kappa: need at least one patch, got n={n}")
    if not 0.0 < rho <= 1.0:
        raise ValueError(f"kappa: sampling ratio must be in (0, 1], got {rho}")
    return max(1, min(n, int(math.floor(n * rho + 0.5))))


def mu(q: Tensor, k: Tensor, beta: float) -> Tensor:
    """Eq. 1 attention logits mu(q, k) = q k^T / (beta sqrt(d)); q (..., Lq, d), k (..., Lk, d) -> (..., Lq, Lk)."""
    return q @ k.transpose(-1, -2) / (beta * math.sqrt(q.shape[-1]))


def importance_from_attention(A: Tensor) -> Tensor:
    """Eq. 2 for one modality: A (B, H, Lq, L) logits of the other modality's queries on this
    modality's keys -> I (B, L) = mean over H and Lq of Softmax(A, dim=-1). Each row sums to 1."""
    if A.dim() != 4:
        raise ValueError(f"importance: attention logits must be (B, H, Lq, L), got shape {tuple(A.shape)}")
    return A.float().softmax(dim=-1).mean(dim=(1, 2))


def importance_scores(A_a: Tensor, A_v: Tensor) -> tuple[Tensor, Tensor]:
    """Eq. 2: I_a = MeanPool(Softmax(A_a)), I_v = MeanPool(Softmax(A_v)).

    A_a (B, H, N, M) video queries on audio keys, A_v (B, H, M, N) audio queries on video keys.
    Returns I_a (B, M) and I_v (B, N), float32, each row a probability vector (sums to 1).
    """
    if A_a.shape[0] != A_v.shape[0] or A_a.shape[1] != A_v.shape[1]:
        raise ValueError(f"importance: A_a {tuple(A_a.shape)} and A_v {tuple(A_v.shape)} disagree on (B, H)")
    if A_a.dim() == 4 and A_v.dim() == 4 and (A_a.shape[2] != A_v.shape[3] or A_a.shape[3] != A_v.shape[2]):
        raise ValueError(f"importance: A_a must be (B,H,N,M) and A_v (B,H,M,N), got {tuple(A_a.shape)}, {tuple(A_v.shape)}")
    return importance_from_attention(A_a), importance_from_attention(A_v)


def uniform_importance(batch: int, length: int, device: torch.device | str | None = None) -> Tensor:
    """I = 1/L for every patch, (B, L): importance without LPIS (Table 3 "RCA" row, random, none)."""
    return torch.full((batch, length), 1.0 / length, device=device)


__all__ = ["kappa", "mu", "importance_from_attention", "importance_scores", "uniform_importance"]
