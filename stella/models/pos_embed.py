"""Sine-cosine positional embeddings for the audio and video patch grids (appendix C).

Audio patches are time-major over the ``(t/p, f/p)`` grid and get a 2-D sin-cos embedding over
(time, frequency). Video patches are frame-major over ``(T, h/p, w/p)``; as in the authors' code
each frame gets the same 2-D sin-cos embedding over (row, column) with NO temporal term. A learned
embedding (``model.pos_embed = "learned"``) starts from these tables and can learn the frame order;
``"learned_time"`` starts it with a 1-D sin-cos of the frame index added (``temporal=True``), so
that a small model trained briefly can tell the frames apart (and align them with the audio's
time) from the first step; the fixed variant (``"sincos"``) always adds it.
"""
from __future__ import annotations

import torch


def sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    """pos (L,) -> (L, dim): [sin(pos * w), cos(pos * w)] with w = 1 / 10000^(2i/dim), as in MAE."""
    if dim % 2 != 0:
        raise ValueError(f"sin-cos embedding needs an even dimension, got {dim}")
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000 ** omega                                     # (dim/2,)
    out = pos.to(torch.float64).reshape(-1, 1) * omega.reshape(1, -1)  # (L, dim/2)
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def sincos_2d(dim: int, rows: int, cols: int) -> torch.Tensor:
    """(rows * cols, dim), row-major: the first half of the channels encodes the column index,
    the second half the row index (MAE's ``get_2d_sincos_pos_embed``)."""
    if dim % 4 != 0:
        raise ValueError(f"2-D sin-cos embedding needs a dimension divisible by 4, got {dim}")
    r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    emb_c = sincos_1d(dim // 2, c.reshape(-1))
    emb_r = sincos_1d(dim // 2, r.reshape(-1))
    return torch.cat([emb_c, emb_r], dim=1)


def audio_pos_embed(dim: int, grid: tuple[int, int]) -> torch.Tensor:
    """(M, dim) for the time-major audio grid ``(t/p, f/p)``; row = time token, column = mel band."""
    return sincos_2d(dim, grid[0], grid[1]).float()


def video_pos_embed(dim: int, grid: tuple[int, int, int], temporal: bool = False) -> torch.Tensor:
    """(N, dim) for the frame-major video grid ``(T, h/p, w/p)``.

    Every frame repeats the same spatial 2-D table; ``temporal=True`` adds sincos_1d(frame index).
    """
    T, h, w = grid
    spatial = sincos_2d(dim, h, w)                                   # (h*w, dim)
    emb = spatial.unsqueeze(0).repeat(T, 1, 1)                       # (T, h*w, dim)
    if temporal:
        emb = emb + sincos_1d(dim, torch.arange(T)).unsqueeze(1)
    return emb.reshape(T * h * w, dim).float()
