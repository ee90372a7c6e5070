"""Oracle and anti-oracle selection: the ceiling (and floor) of what any patch selection can buy.

Given ground-truth scores instead of the AVM's importance -- for video the share of each patch's pixels
on the sounding object in the frames where it sounds, for audio the share of each patch's fbank frames
where the sound is on (``stella.continual.methods.oracle`` computes them from a clip's ``mask`` and
``active``) -- the oracle keeps the highest-scoring patches first and the anti-oracle the lowest first,
at STELLA's budget kappa_a = kappa(M, rho_a), kappa_v = kappa(N, rho_v) and with Algorithm 1's chunk
structure for audio:

  video:  S~_v = patches by decreasing score (anti: increasing), ties in random order;
  audio:  chunk score = the patch scores frequency-summed and average-pooled over each chunk of L_c time
          tokens (``chunk_importance``, as Algorithm 1 pools I_a); chunks by decreasing chunk score
          (anti: increasing), ties in random order; patches taken chunk after chunk
          (``chunked_rank``, nothing excluded), the overflowing chunk trimmed as ``selection.chunk_trim``
          says. ``selection.audio_mode`` "frequency" chunks along frequency, "none" ranks audio like video.

Nothing is sampled beyond the tie-breaks: with no tie the kept set is a function of the scores alone.

Per modality (the controls that change one thing): "oracle-video" / "anti-oracle-video" rank video by the
ground truth and take audio exactly as Random does (``sampling.random_chunks``: Algorithm 1's chunks in a
uniformly random order), "oracle-audio" / "anti-oracle-audio" rank audio by the ground truth and take video
uniformly at random (a random order: the same draws as ``variants.random_selection``). :data:`TRUTH`
lists each strategy's ranked modalities and direction.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .sampling import _uniform, chunk_importance, chunked_rank, random_chunks

TRUTH = {   # strategy: (modalities ranked by the ground truth, best first); the others are drawn at random
    "oracle": (("audio", "video"), True), "anti-oracle": (("audio", "video"), False),
    "oracle-video": (("video",), True), "anti-oracle-video": (("video",), False),
    "oracle-audio": (("audio",), True), "anti-oracle-audio": (("audio",), False)}
TRUTH_STRATEGIES = tuple(TRUTH)                  # strategies that select from ground truth, not from a model


def truth_order(score: Tensor, generator: torch.Generator | None, descending: bool = True) -> Tensor:
    """score (B, L) -> permutation (B, L): by decreasing score (increasing when not ``descending``), ties in
    an order drawn uniformly from ``generator`` (one uniform per entry)."""
    perm = _uniform(tuple(score.shape), generator, score.device).argsort(dim=1)
    order = torch.argsort(score.float().gather(1, perm), dim=1, descending=descending, stable=True)
    return perm.gather(1, order)


def oracle_rank_audio(score_a: Tensor, grid: tuple[int, int], chunk_size: int, generator: torch.Generator | None,
                      descending: bool = True, mode: str = "time", trim: str = "tail") -> Tensor:
    """Audio order S~_a (B, M) under Algorithm 1's chunks, chunks ranked by their pooled ground-truth score.
    score_a (B, M) time-major; mode "time" / "frequency" chunk along that axis, "none" ranks patches alone.
    Random draws: the chunk tie-break (B, n_chunks), then (trim "neighbour") one side per chunk."""
    if mode == "none":
        return truth_order(score_a, generator, descending)
    order = truth_order(chunk_importance(score_a.float(), grid, chunk_size, mode), generator, descending)
    F = torch.zeros_like(score_a, dtype=torch.bool)
    return chunked_rank(F, order, grid, chunk_size, mode, trim, generator)


def oracle_selection(score_a: Tensor, score_v: Tensor, grid: tuple[int, int], kappa_a: int, kappa_v: int,
                     chunk_size: int, generator: torch.Generator | None, *, anti: bool = False,
                     mode: str = "time", trim: str = "tail", modalities: tuple[str, ...] = ("audio", "video")
                     ) -> tuple[Tensor, Tensor]:
    """(idx_a (B, kappa_a), idx_v (B, kappa_v)), sorted ascending: the kappa best (``anti``: worst) patches of
    each modality in ``modalities`` by ground truth, audio in Algorithm 1 chunks; a modality left out is drawn
    at random (audio: ``random_chunks`` in ``mode``; video: a uniform random kappa_v). score_a (B, M),
    score_v (B, N) >= 0. Random draws: audio first (tie-breaks, or the random chunks), then video."""
    for name, s, k in (("score_a", score_a, kappa_a), ("score_v", score_v, kappa_v)):
        if s.dim() != 2 or not 1 <= k <= s.shape[1]:
            raise ValueError(f"oracle_selection: {name} must be (B, L) with kappa in [1, L], got {tuple(s.shape)}, {k}")
    if not modalities or set(modalities) - {"audio", "video"}:
        raise ValueError(f"oracle_selection: modalities must be audio and/or video, got {modalities!r}")
    if "audio" in modalities:
        idx_a = oracle_rank_audio(score_a, grid, chunk_size, generator, not anti, mode, trim)[:, :kappa_a]
    else:
        idx_a = random_chunks(score_a.shape[0], grid, kappa_a, chunk_size, generator, mode, trim, score_a.device)
    ranked_v = score_v if "video" in modalities else torch.zeros_like(score_v)
    idx_v = truth_order(ranked_v, generator, not anti)[:, :kappa_v]
    return idx_a.sort(dim=1).values, idx_v.sort(dim=1).values


def truth_selection(strategy: str, score_a: Tensor, score_v: Tensor, grid: tuple[int, int], kappa_a: int,
                    kappa_v: int, chunk_size: int, generator: torch.Generator | None, mode: str = "time",
                    trim: str = "tail") -> tuple[Tensor, Tensor]:
    """:func:`oracle_selection` under one of :data:`TRUTH`'s strategies."""
    if strategy not in TRUTH:
        raise ValueError(f"truth_selection: unknown strategy {strategy!r} (known: {', '.join(TRUTH)})")
    modalities, best = TRUTH[strategy]
    return oracle_selection(score_a, score_v, grid, kappa_a, kappa_v, chunk_size, generator, anti=not best,
                            mode=mode, trim=trim, modalities=modalities)


__all__ = ["TRUTH", "TRUTH_STRATEGIES", "truth_order", "oracle_rank_audio", "oracle_selection", "truth_selection"]
