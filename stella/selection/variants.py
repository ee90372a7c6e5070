"""Ablation variants of the patch selection (Table 3, Fig. 9b).

Table 3 compares STELLA with
  * "random": kappa patches per modality drawn at random: video uniformly without replacement, audio in
    Algorithm 1's chunks taken in a uniformly random order (``sampling.random_chunks``), as STELLA and the
    oracle take audio; "random-patches" draws the kappa_a audio patches uniformly over all M instead (the
    paper does not say which its Random does: the book's choices table);
  * "mats": motion-aware token selection (Hwang et al., 2022), adapted to audio-video: a video
    patch scores its mean absolute temporal difference |x_t - x_{t-1}| (the first frame uses the next
    frame, |x_1 - x_0|; a single-frame clip has no motion and scores zero), an audio patch its
    energy mean(x^2). Patches are drawn without replacement with probability proportional to the
    score (Gumbel-top-k, the same sampler as Eq. 5 with nothing excluded), not deterministically:
    the noise keeps static patches occasionally visible, as MATS' stochastic selection does;
  * "lpis": STELLA without RCA, C = 0 (no patch is excluded);
  * "rca": STELLA without LPIS in the sampling: Eq. 3-4 still use the AVM importance to pool the
    queries and pick the judged keys (with a uniform I every tie would keep the first kappa indices),
    but Eq. 5 / Algorithm 1 sample from a uniform I = 1/L, with the RCA exclusions.
Fig. 9b's audio variants ("frequency", "none") are `rank_audio` modes in sampling.py. The controls
"oracle" / "anti-oracle" (ground truth first / last, joint or per modality) live in oracle.py.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .importance import uniform_importance
from .oracle import TRUTH_STRATEGIES
from .sampling import rank_video

STRATEGIES = ("none", "stella", "lpis", "rca", "random", "random-patches", "mats") + TRUTH_STRATEGIES
AVM_STRATEGIES = ("stella", "lpis", "rca")      # the ones that score patches with the AVM (Eq. 1-4)


def random_selection(batch: int, length: int, kappa: int, generator: torch.Generator | None,
                     device: torch.device | str | None = None) -> Tensor:
    """Uniform selection without replacement: (B, kappa) distinct indices in [0, L), sorted ascending."""
    if not 1 <= kappa <= length:
        raise ValueError(f"random_selection: kappa must be in [1, {length}], got {kappa}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    gdev = generator.device if generator is not None else device
    u = torch.rand(batch, length, generator=generator, device=gdev).to(device)
    return u.argsort(dim=1)[:, :kappa].sort(dim=1).values


def motion_scores(patches_v: Tensor, video_grid: tuple[int, int, int]) -> Tensor:
    """MATS video score: patches_v (B, N, P), frame-major over (T, h, w) -> (B, N) mean |x_t - x_{t-1}|
    over the patch's pixels; frame 0 uses |x_1 - x_0|; T = 1 gives zeros."""
    T, h, w = video_grid
    B, N, P = patches_v.shape
    if N != T * h * w:
        raise ValueError(f"motion_scores: {N} patches do not match the video grid {video_grid}")
    x = patches_v.float().reshape(B, T, h * w, P)
    if T == 1:
        return torch.zeros(B, N, device=patches_v.device)
    diff = (x[:, 1:] - x[:, :-1]).abs().mean(dim=-1)                   # (B, T-1, hw)
    return torch.cat([diff[:, :1], diff], dim=1).reshape(B, N)


def energy_scores(patches_a: Tensor) -> Tensor:
    """MATS audio score: patches_a (B, M, P) -> (B, M) patch energy mean(x^2)."""
    return patches_a.float().pow(2).mean(dim=-1)


def normalise_scores(s: Tensor) -> Tensor:
    """Non-negative scores (B, L) -> rows summing to one (uniform where a row is all zero)."""
    s = s.clamp_min(0.0)
    total = s.sum(dim=1, keepdim=True)
    return torch.where(total > 0, s / total.clamp_min(torch.finfo(s.dtype).tiny), torch.full_like(s, 1.0 / s.shape[1]))


def mats_selection(scores: Tensor, kappa: int, generator: torch.Generator | None) -> Tensor:
    """MATS-style selection: scores (B, L) >= 0 -> (B, kappa) indices drawn without replacement with
    probability proportional to the score (zero scores last, at random), sorted ascending."""
    if not 1 <= kappa <= scores.shape[1]:
        raise ValueError(f"mats_selection: kappa must be in [1, {scores.shape[1]}], got {kappa}")
    F = torch.zeros_like(scores, dtype=torch.bool)
    return rank_video(scores, F, generator)[:, :kappa].sort(dim=1).values


def ablate_scores(strategy: str, I: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
    """The (I, C) that the sampler sees under a Table 3 strategy: "stella" unchanged, "lpis" C = 0,
    "rca" I = 1/L. I, C (B, L)."""
    if strategy == "stella":
        return I, C
    if strategy == "lpis":
        return I, torch.zeros_like(C)
    if strategy == "rca":
        return uniform_importance(I.shape[0], I.shape[1], I.device), C
    raise ValueError(f"ablate_scores: strategy must be stella/lpis/rca, got {strategy!r}")


__all__ = ["STRATEGIES", "random_selection", "motion_scores", "energy_scores", "normalise_scores",
           "mats_selection", "ablate_scores"]
