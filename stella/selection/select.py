"""The trainer's entry points: one call per batch runs Eq. 2-6 / Algorithm 1 under a strategy.

The strategy is an argument, not a config value: every method passes its own ``Method.strategy``
("stella", the Table 3 ablations "lpis" / "rca" / "random" / "mats", the controls "random-patches" and
"oracle" / "anti-oracle" (joint or per modality) that select from ground-truth scores passed as I_a, I_v, or
"none" for the baselines,
which keeps every patch); it defaults to "stella", the paper's method.

`select` handles the current batch (Algorithm 2 lines 2-8): importance (Eq. 2), pooled queries
(Eq. 3), correlation with the past pooled queries from the memory (Eq. 4), then the sampling
(Eq. 5, Algorithm 1). It returns the indices to gather (Eq. 6) and what Algorithm 2 line 9 stores
with each new memory item: I, C and q^. Replayed samples do not go through the AVM again: they are
picked with their STORED I^p, C^p by `select_from_scores` (Algorithm 2 line 7; the book's choices table).

Past queries cross modalities: C_v = f(q^_a, k^_v, q^p_a) and C_a = f(q^_v, k^_a, q^p_v), so
`q_hat_past_a` (the stored AUDIO pooled queries) drives the VIDEO correlation and vice versa.
Every function runs under no_grad: selection is not differentiated.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from stella.config import Config

from .correlation import correlation_scores, past_query_set, pooled_queries
from .importance import importance_scores, kappa, uniform_importance
from .oracle import TRUTH_STRATEGIES, truth_selection
from .sampling import random_chunks, select_audio, select_topk, select_video
from .variants import AVM_STRATEGIES, STRATEGIES, ablate_scores, energy_scores, mats_selection, motion_scores, \
    normalise_scores, random_selection


@dataclass
class Selection:
    """Selected indices and the scores behind them.

    idx_a (B, kappa_a), idx_v (B, kappa_v): distinct patch indices, sorted ascending per row.
    I_a (B, M), I_v (B, N): the importance the sampler used (uniform for none/random/rca, the
    normalised motion/energy score for mats); C_a (B, M), C_v (B, N): the correlation scores it used
    (zero where RCA is off). q_hat_a, q_hat_v (B, H, d): Eq. 3 pooled queries for the memory, None
    when no AVM was involved (none/random/mats, or replayed samples).
    """

    idx_a: Tensor
    idx_v: Tensor
    I_a: Tensor
    I_v: Tensor
    C_a: Tensor
    C_v: Tensor
    q_hat_a: Tensor | None = None
    q_hat_v: Tensor | None = None

    @property
    def kappa_a(self) -> int:
        return self.idx_a.shape[1]

    @property
    def kappa_v(self) -> int:
        return self.idx_v.shape[1]


def _check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"select: unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")


def budgets(cfg: Config, M: int, N: int, *, strategy: str = "stella") -> tuple[int, int]:
    """(kappa_a, kappa_v) = (kappa(M, rho_a), kappa(N, rho_v)); everything when strategy is none."""
    _check_strategy(strategy)
    if strategy == "none":
        return M, N
    return kappa(M, cfg.selection.rho_a), kappa(N, cfg.selection.rho_v)


def _check_grid(cfg: Config, M: int) -> tuple[int, int]:
    nt, nf = cfg.audio_grid
    if nt * nf != M:
        raise ValueError(f"select: {M} audio patches do not match cfg.audio_grid {cfg.audio_grid}")
    return nt, nf


def _batch_of(*candidates: Any) -> tuple[int, torch.device]:
    for c in candidates:
        t = getattr(c, "k_a", c)
        if isinstance(t, Tensor):
            return t.shape[0], t.device
    raise ValueError("select: pass avm_out, I_a/I_v or patches so the batch size is known")


def _all(B: int, L: int, device: torch.device) -> Tensor:
    return torch.arange(L, device=device).expand(B, L).clone()


@torch.no_grad()
def select_from_scores(cfg: Config, I_a: Tensor, I_v: Tensor, C_a: Tensor, C_v: Tensor,
                       generator: torch.Generator | None, *, strategy: str = "stella") -> Selection:
    """PICK with given scores (Algorithm 2 lines 7-8): I_a, C_a (B, M), I_v, C_v (B, N) -> Selection
    (q_hat None). Used for replayed samples with their stored I^p, C^p. Strategy "none" keeps all,
    "random" ignores the scores (audio: Algorithm 1's chunks in a random order, ``random_chunks``; video
    uniform), "random-patches" too but draws audio patches uniformly over all M (the chunks ignored; the book's
    choices table), "mats" samples proportionally to the stored score with the audio chunk constraint off, the
    ground-truth controls (``oracle.TRUTH``: "oracle", "anti-oracle" and their per-modality variants) read I_a,
    I_v as ground-truth scores (:mod:`stella.selection.oracle`), stella/lpis/rca use Algorithm 1 with
    cfg.selection.audio_mode for audio and Eq. 5 for video. Random draws: audio first, then video."""
    sc = cfg.selection
    B, M = I_a.shape
    N = I_v.shape[1]
    grid = _check_grid(cfg, M)
    ka, kv = budgets(cfg, M, N, strategy=strategy)
    dev = I_a.device
    if strategy == "none":
        idx_a, idx_v = _all(B, M, dev), _all(B, N, dev)
    elif strategy == "random":
        idx_a = random_chunks(B, grid, ka, sc.chunk_size, generator, sc.audio_mode, sc.chunk_trim, dev)
        idx_v = random_selection(B, N, kv, generator, dev)
    elif strategy == "random-patches":
        idx_a = random_selection(B, M, ka, generator, dev)
        idx_v = random_selection(B, N, kv, generator, dev)
    elif strategy == "mats":
        idx_a, idx_v = mats_selection(I_a, ka, generator), mats_selection(I_v, kv, generator)
    elif strategy in TRUTH_STRATEGIES:
        idx_a, idx_v = truth_selection(strategy, I_a, I_v, grid, ka, kv, sc.chunk_size, generator, sc.audio_mode,
                                       sc.chunk_trim)
    else:
        idx_a = select_audio(I_a, C_a, grid, ka, sc.chunk_size, generator, sc.audio_mode, sc.chunk_trim)
        idx_v = select_video(I_v, C_v, kv, generator)
    return Selection(idx_a, idx_v, I_a, I_v, C_a, C_v)


@torch.no_grad()
def select(cfg: Config, avm_out: Any, I_a: Tensor | None, I_v: Tensor | None,
           q_hat_past_a: Tensor | None, q_hat_past_v: Tensor | None, generator: torch.Generator | None,
           patches_a: Tensor | None = None, patches_v: Tensor | None = None, *,
           strategy: str = "stella") -> Selection:
    """Select the current batch's patches under ``strategy`` (Algorithm 2 lines 2-8).

    avm_out: AVMOutput with q_a, k_a (B, H, M, d), q_v, k_v (B, H, N, d), A_a (B, H, N, M),
    A_v (B, H, M, N) computed with beta = cfg.selection.beta; needed for stella/lpis/rca.
    I_a (B, M), I_v (B, N): Eq. 2 importance, or None to compute it from avm_out.A_a / A_v.
    q_hat_past_a, q_hat_past_v (R, H, d): the replayed samples' stored pooled queries, or None /
    R = 0 for an empty memory; combined per cfg.selection.past_queries ("paired" / "mean").
    patches_a (B, M, P_a), patches_v (B, N, P_v): raw patches, needed for "mats" only.
    For none/random/mats no AVM is needed (avm_out may be None) and q_hat stays None; oracle /
    anti-oracle need no AVM either but the ground-truth scores as I_a, I_v.
    Fidelity switches (cfg.selection): ``corr_temperature`` "beta" scales Eq. 4's logits by
    1/(beta sqrt d) as the paper's mu does, "sqrt_d" by 1/sqrt d as the authors' code does;
    ``empty_memory`` "topk" replaces the sampling by the deterministic top-kappa of I for both
    modalities (no chunks) while the memory is empty, as the authors' code does ("sample": Eq. 5 and
    Algorithm 1 with C = 0); RCA-only keeps sampling (its I is uniform, a top-kappa would be the
    first kappa indices); ``chunk_trim``, see :func:`stella.selection.sampling.chunked_rank`.
    """
    sc = cfg.selection
    _check_strategy(strategy)
    if strategy in TRUTH_STRATEGIES:
        if I_a is None or I_v is None:
            raise ValueError(f"select: strategy {strategy!r} needs the ground-truth scores as I_a (B, M) and I_v (B, N)")
        return select_from_scores(cfg, I_a, I_v, torch.zeros_like(I_a), torch.zeros_like(I_v), generator,
                                  strategy=strategy)
    if strategy not in AVM_STRATEGIES:
        if strategy == "mats":
            if patches_a is None or patches_v is None:
                raise ValueError("select: strategy 'mats' needs patches_a and patches_v")
            I_a = normalise_scores(energy_scores(patches_a))
            I_v = normalise_scores(motion_scores(patches_v, cfg.video_grid))
        else:
            B, dev = _batch_of(avm_out, I_a, I_v, patches_a, patches_v)
            I_a = uniform_importance(B, cfg.num_audio_patches, dev)
            I_v = uniform_importance(B, cfg.num_video_patches, dev)
        return select_from_scores(cfg, I_a, I_v, torch.zeros_like(I_a), torch.zeros_like(I_v), generator,
                                  strategy=strategy)

    if avm_out is None:
        raise ValueError(f"select: strategy {strategy!r} needs the AVM output")
    if I_a is None or I_v is None:
        I_a, I_v = importance_scores(avm_out.A_a, avm_out.A_v)
    B, M = I_a.shape
    N = I_v.shape[1]
    _check_grid(cfg, M)
    ka, kv = budgets(cfg, M, N, strategy=strategy)
    q_hat_a, k_hat_a, keep_a = pooled_queries(avm_out.q_a, avm_out.k_a, I_a, ka, sc.descending)
    q_hat_v, k_hat_v, keep_v = pooled_queries(avm_out.q_v, avm_out.k_v, I_v, kv, sc.descending)
    past_a = past_query_set(q_hat_past_a, B, sc.past_queries)
    past_v = past_query_set(q_hat_past_v, B, sc.past_queries)
    corr_beta = sc.beta if sc.corr_temperature == "beta" else 1.0
    C_a = correlation_scores(q_hat_v, k_hat_a, keep_a, past_v, M, corr_beta)
    C_v = correlation_scores(q_hat_a, k_hat_v, keep_v, past_a, N, corr_beta)
    Ia_s, Ca_s = ablate_scores(strategy, I_a, C_a)
    Iv_s, Cv_s = ablate_scores(strategy, I_v, C_v)
    if sc.empty_memory == "topk" and past_a is None and past_v is None and strategy != "rca":
        out = Selection(select_topk(Ia_s, ka), select_topk(Iv_s, kv), Ia_s, Iv_s, Ca_s, Cv_s)
    else:
        out = select_from_scores(cfg, Ia_s, Iv_s, Ca_s, Cv_s, generator, strategy=strategy)
    out.q_hat_a, out.q_hat_v = q_hat_a, q_hat_v
    return out


__all__ = ["Selection", "budgets", "select", "select_from_scores"]
