"""Patch bookkeeping of one clip (chapter 00): selected indices -> pixel masks, audio grids, Algorithm 1's chunks.

Pure functions of index tensors. Conventions follow docs/CONTRACTS.md: video patches are
frame-major over ``video_grid = (T, H/p, W/p)``, audio patches time-major over
``audio_grid = (t/p, f/p)``.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd
import torch


def video_patch_pixels(idx: torch.Tensor, video_grid: Sequence[int], patch: int) -> torch.Tensor:
    """Selected video patch indices (k,) of one clip -> bool (T, H, W) pixel mask of those patches."""
    T, gh, gw = video_grid
    sel = torch.zeros(T * gh * gw, dtype=torch.bool)
    sel[torch.as_tensor(idx).long()] = True
    g = sel.reshape(T, gh, gw)
    return g.repeat_interleave(patch, 1).repeat_interleave(patch, 2)


def audio_patch_grid(idx: torch.Tensor, audio_grid: Sequence[int]) -> torch.Tensor:
    """Selected audio patch indices (k,) -> bool (t/p, f/p) grid (time-major)."""
    nt, nf = audio_grid
    sel = torch.zeros(nt * nf, dtype=torch.bool)
    sel[torch.as_tensor(idx).long()] = True
    return sel.reshape(nt, nf)


def chunk_status(idx: torch.Tensor, audio_grid: Sequence[int], chunk_size: int,
                 excluded: torch.Tensor | None = None, chunk_order: torch.Tensor | None = None) -> pd.DataFrame:
    """Algorithm 1's outcome per time chunk of one clip: how many of its patches were kept.

    Rows ``chunk, first token, last token, patches, excluded (F), kept, status`` (plus ``draw
    rank`` when ``chunk_order`` (n_chunks,) is given). ``excluded`` is the clip's F (M,) bool.
    Status: "chosen" (every non-excluded patch kept), "pruned tail" (some non-excluded patches
    dropped to meet kappa_a) or "not chosen" (nothing kept).
    """
    g = audio_patch_grid(idx, audio_grid)
    nt, nf = audio_grid
    ex = torch.zeros(nt, nf, dtype=torch.bool) if excluded is None else torch.as_tensor(excluded).bool().reshape(nt, nf)
    rank = None if chunk_order is None else torch.argsort(torch.as_tensor(chunk_order)).tolist()
    rows = []
    for c, s in enumerate(range(0, nt, chunk_size)):
        e = min(s + chunk_size, nt)
        kept, total, n_ex = int(g[s:e].sum()), (e - s) * nf, int((ex[s:e] & ~g[s:e]).sum())
        status = "not chosen" if kept == 0 else ("chosen" if kept + n_ex == total else "pruned tail")
        row = {"chunk": c, "first token": s, "last token": e - 1, "patches": total, "excluded (F)": n_ex,
               "kept": kept, "status": status}
        if rank is not None:
            row["draw rank"] = rank[c]
        rows.append(row)
    return pd.DataFrame(rows)
