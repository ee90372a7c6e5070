"""Multimodal patch selection (section 4.3): Eq. 5 for video, Algorithm 1 for audio, Eq. 6 gather.

Eq. 5: F = Bernoulli(C) marks excluded patches (True = excluded), I~ = I with excluded entries set
to zero, S~ = Multinomial(I~) drawn without replacement, and the first kappa indices are kept.
Sampling without replacement is batched with the Gumbel-top-k trick: sorting log I~ + Gumbel noise
in decreasing order gives exactly the distribution of sequential draws without replacement.

Where fewer than kappa patches have I~ > 0, the order continues with (tiers, in this order):
  0. I~ > 0                   in the multinomial draw order,
  1. not excluded, I = 0      uniformly at random,
  2. excluded, I > 0          by decreasing I (ties by index),
  3. excluded, I = 0          uniformly at random.
So F is honoured first, importance second, and an all-zero I~ falls back to I, then to uniform.

Algorithm 1 (audio, appendix H) chooses whole time chunks of L_c time tokens: chunk importance is
the frequency-summed importance average-pooled over each chunk (a last partial chunk, when
t/p % L_c != 0, is averaged over its actual length), chunks are ordered by a multinomial draw
without replacement, and non-excluded patches are taken chunk after chunk until kappa_a; the tail
of the last chunk (in its time-major flattened order) is pruned so exactly kappa_a remain (the
authors' code instead prunes its head when the following chunk is already chosen: ``trim``). It is
vectorised as one sort of the integer key  F * (n_chunks * chunk_len) + chunk_rank * chunk_len +
position_in_chunk  whose first kappa_a entries are that set; if fewer than kappa_a patches are not
excluded, excluded ones follow in the same chunk order. Selected indices are returned sorted
ascending within each row (the positional embeddings travel with them).
"""
from __future__ import annotations

import torch
from torch import Tensor

AUDIO_MODES = ("time", "frequency", "none")


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    gdev = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gdev).to(device)


def _gumbel(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    u = _uniform(shape, generator, device).clamp(torch.finfo(torch.float32).tiny, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def _log(x: Tensor) -> Tensor:
    return torch.log(x.float().clamp_min(torch.finfo(torch.float32).tiny))


def lex_order(tier: Tensor, key: Tensor) -> Tensor:
    """Permutation (B, L) sorting each row by ascending tier, then descending key (ties by index)."""
    order = torch.argsort(key, dim=-1, descending=True, stable=True)
    return order.gather(1, torch.argsort(tier.gather(1, order), dim=-1, stable=True))


def exclusion_mask(C: Tensor, generator: torch.Generator | None) -> Tensor:
    """F = Bernoulli(C) (Eq. 5, Algorithm 1 line 1), C (B, L) in [0, 1] -> bool (B, L), True = excluded.
    Drawn as U < C with U ~ Uniform[0, 1), so C = 0 never and C = 1 always excludes."""
    return _uniform(tuple(C.shape), generator, C.device) < C.float().clamp(0.0, 1.0)


def multinomial_order(w: Tensor, generator: torch.Generator | None) -> Tensor:
    """Multinomial draw without replacement over all L entries, batched (Gumbel-top-k).

    w (B, L) >= 0 -> order (B, L): positive-weight entries in draw order (the first is drawn with
    probability w / sum w), then zero-weight entries uniformly at random.
    """
    g = _gumbel(tuple(w.shape), generator, w.device)
    pos = w > 0
    return lex_order((~pos).long(), torch.where(pos, _log(w) + g, g))


def rank_video(I: Tensor, F: Tensor, generator: torch.Generator | None) -> Tensor:
    """Eq. 5: S~ (B, L) = Multinomial(I~) without replacement, I~ = I with F zeroed, then the
    fallback tiers of the module docstring. I (B, L) >= 0, F (B, L) bool (True = excluded)."""
    g = _gumbel(tuple(I.shape), generator, I.device)
    pos = I > 0
    tier = torch.where(~F, torch.where(pos, 0, 1), torch.where(pos, 2, 3))
    key = torch.where(tier == 0, _log(I) + g, torch.where(tier == 2, _log(I), g))
    return lex_order(tier, key)


def chunk_importance(I: Tensor, grid: tuple[int, int], chunk_size: int, axis: str = "time") -> Tensor:
    """Algorithm 1 lines 4-6: I (B, nt*nf) time-major -> chunk importance (B, n_chunks).

    axis "time": sum over frequency, average-pool over chunks of chunk_size time tokens;
    axis "frequency": sum over time, chunks of chunk_size frequency tokens. A last partial chunk
    is averaged over its actual size. n_chunks = ceil(n / chunk_size).
    """
    nt, nf = grid
    I3 = I.float().reshape(I.shape[0], nt, nf)
    line = I3.sum(dim=2) if axis == "time" else I3.sum(dim=1)
    n = line.shape[1]
    nc = -(-n // chunk_size)
    padded = torch.nn.functional.pad(line, (0, nc * chunk_size - n))
    sizes = torch.full((nc,), float(chunk_size), device=I.device)
    sizes[-1] = n - (nc - 1) * chunk_size
    return padded.reshape(-1, nc, chunk_size).sum(dim=2) / sizes


def chunked_rank(F: Tensor, chunk_order: Tensor, grid: tuple[int, int], chunk_size: int,
                 axis: str = "time", trim: str = "tail", generator: torch.Generator | None = None) -> Tensor:
    """Algorithm 1 lines 8-24, vectorised: the audio order S~_a (B, M) given the chunk draw order.

    F (B, M) bool exclusions (time-major patches), chunk_order (B, n_chunks) the chunks in draw
    order. Patches are ranked by F * n_chunks * chunk_len + rank(chunk) * chunk_len + position in
    chunk (flattened time-major for axis "time", frequency-major for "frequency"), ascending; the
    first kappa_a entries are Algorithm 1's kept set for any kappa_a, and excluded patches come after
    all others, in chunk order. ``trim`` decides which end of the overflowing (last taken) chunk is
    pruned: "tail" (the paper's Algorithm 1: its last positions), or "neighbour" (the authors' code:
    the head when the following chunk was drawn earlier, the tail when only the preceding one was,
    a side drawn at random -- one uniform per chunk from ``generator`` -- when neither was). The
    position order is reversed per chunk accordingly, which only matters for the chunk that overflows.
    """
    nt, nf = grid
    B = F.shape[0]
    F3 = F.reshape(B, nt, nf)
    if axis == "frequency":
        F3 = F3.transpose(1, 2)
    n, m = F3.shape[1:]
    nc = chunk_order.shape[1]
    chunk_len = chunk_size * m
    dev = F.device
    chunk_rank = torch.argsort(chunk_order, dim=1)                                   # (B, nc)
    along = torch.arange(n, device=dev)
    within = ((along % chunk_size)[:, None] * m + torch.arange(m, device=dev)[None]).expand(B, n, m)
    if trim == "neighbour":
        inf = torch.full((B, 1), nc, device=dev, dtype=chunk_rank.dtype)
        next_first = torch.cat([chunk_rank[:, 1:], inf], dim=1) < chunk_rank
        prev_first = torch.cat([inf, chunk_rank[:, :-1]], dim=1) < chunk_rank
        coin = _uniform((B, nc), generator, dev) < 0.5
        head = next_first | (~prev_first & coin)                                     # (B, nc) trim the head
        within = torch.where(head[:, along // chunk_size][:, :, None], chunk_len - 1 - within, within)
    elif trim != "tail":
        raise ValueError(f"chunked_rank: trim must be 'tail' or 'neighbour', got {trim!r}")
    key = chunk_rank[:, along // chunk_size][:, :, None] * chunk_len + within
    key = key + F3.long() * (nc * chunk_len)
    if axis == "frequency":
        key = key.transpose(1, 2)
    return torch.argsort(key.reshape(B, nt * nf), dim=1)


def rank_audio(I: Tensor, F: Tensor, grid: tuple[int, int], chunk_size: int,
               generator: torch.Generator | None, mode: str = "time", trim: str = "tail") -> Tensor:
    """Audio order S~_a (B, M): Algorithm 1 with chunks along time ("time", the paper's), along
    frequency ("frequency", Fig. 9b), or no chunk constraint ("none": Eq. 5 as for video); ``trim``
    as in :func:`chunked_rank`."""
    if mode not in AUDIO_MODES:
        raise ValueError(f"rank_audio: mode must be one of {AUDIO_MODES}, got {mode!r}")
    nt, nf = grid
    if I.shape[1] != nt * nf or F.shape != I.shape:
        raise ValueError(f"rank_audio: I {tuple(I.shape)} and F {tuple(F.shape)} must be (B, {nt}*{nf})")
    if mode == "none":
        return rank_video(I, F, generator)
    order = multinomial_order(chunk_importance(I, grid, chunk_size, mode), generator)
    return chunked_rank(F, order, grid, chunk_size, mode, trim, generator)


def random_chunks(batch: int, grid: tuple[int, int], kappa_a: int, chunk_size: int,
                  generator: torch.Generator | None, mode: str = "time", trim: str = "tail",
                  device: torch.device | str | None = None) -> Tensor:
    """Random audio selection under Algorithm 1's chunks: Algorithm 1 with a uniform I and C = 0 (every chunk
    order equally likely, whole chunks, the overflowing one trimmed as ``trim`` says; ``mode`` "none": kappa_a
    patches uniformly at random) -> idx (B, kappa_a) sorted ascending. Random draws: chunk Gumbel noise
    (B, n_chunks), then (trim "neighbour") one side per chunk; mode "none": Gumbel noise (B, M)."""
    nt, nf = grid
    _check_kappa(kappa_a, nt * nf)
    I = torch.full((batch, nt * nf), 1.0 / (nt * nf), device=device)
    F = torch.zeros_like(I, dtype=torch.bool)
    return rank_audio(I, F, grid, chunk_size, generator, mode, trim)[:, :kappa_a].sort(dim=1).values


def _check_kappa(kappa: int, L: int) -> None:
    if not 1 <= kappa <= L:
        raise ValueError(f"kappa must be in [1, {L}], got {kappa}")


def select_video(I_v: Tensor, C_v: Tensor, kappa_v: int, generator: torch.Generator | None) -> Tensor:
    """Eq. 5: I_v, C_v (B, N) -> idx (B, kappa_v), kappa_v distinct indices per row, sorted ascending.
    Random draws: F (B, N) uniforms, then Gumbel noise (B, N)."""
    _check_kappa(kappa_v, I_v.shape[1])
    F = exclusion_mask(C_v, generator)
    return rank_video(I_v, F, generator)[:, :kappa_v].sort(dim=1).values


def select_audio(I_a: Tensor, C_a: Tensor, grid: tuple[int, int], kappa_a: int, chunk_size: int,
                 generator: torch.Generator | None, mode: str = "time", trim: str = "tail") -> Tensor:
    """Algorithm 1: I_a, C_a (B, M), grid (nt, nf) with M = nt*nf time-major -> idx (B, kappa_a),
    distinct, sorted ascending. Random draws: F (B, M), then chunk Gumbel noise (B, n_chunks), then
    (trim "neighbour" only) one side per chunk (B, n_chunks)."""
    _check_kappa(kappa_a, I_a.shape[1])
    F = exclusion_mask(C_a, generator)
    return rank_audio(I_a, F, grid, chunk_size, generator, mode, trim)[:, :kappa_a].sort(dim=1).values


def select_topk(I: Tensor, kappa: int) -> Tensor:
    """The authors' selection while the memory is empty: the kappa most important patches, deterministic
    (ties by index). I (B, L) -> idx (B, kappa) sorted ascending."""
    _check_kappa(kappa, I.shape[1])
    return torch.argsort(I, dim=1, descending=True, stable=True)[:, :kappa].sort(dim=1).values


def gather(x: Tensor, idx: Tensor) -> Tensor:
    """Eq. 6: X^[i, j] = X[i, S~[i, j]]; x (B, L, *rest), idx (B, kappa) -> (B, kappa, *rest)."""
    view = idx.reshape(*idx.shape, *([1] * (x.dim() - 2)))
    return x.gather(1, view.expand(*idx.shape, *x.shape[2:]))


__all__ = ["AUDIO_MODES", "lex_order", "exclusion_mask", "multinomial_order", "rank_video", "chunk_importance",
           "chunked_rank", "rank_audio", "random_chunks", "select_video", "select_audio", "select_topk", "gather"]
