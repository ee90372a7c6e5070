"""Modality gap between audio and video embeddings (section 5.2, Fig. 6, 10, 11, 12).

Following Liang et al. (2022), the gap is the distance between the two modality centroids of
L2-normalised embeddings::

    gap = || mean_i z_a[i] / |z_a[i]|  -  mean_i z_v[i] / |z_v[i]| ||_2

It is estimated on each task's evaluation clips after pre-training on each task (Fig. 6 left,
Fig. 10 b, Fig. 12 a). Fig. 10 (a) / 12 (b) report its average decline, see :func:`gap_decline`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from stella.eval.metrics import accuracy_matrix


def _check(name: str, z: torch.Tensor) -> torch.Tensor:
    z = torch.as_tensor(z)
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty (n, D) embedding matrix, got shape {tuple(z.shape)}")
    if not torch.isfinite(z).all():
        raise ValueError(f"{name}: embeddings contain NaN/inf")
    if (z.norm(dim=-1) == 0).any():
        raise ValueError(f"{name}: an embedding is all zeros and cannot be L2-normalised")
    return z.double()


def modality_gap(z_a: torch.Tensor, z_v: torch.Tensor) -> float:
    """Centroid distance of L2-normalised embeddings. z_a (n_a, D), z_v (n_v, D) -> float in [0, 2]."""
    za, zv = _check("z_a", z_a), _check("z_v", z_v)
    if za.shape[1] != zv.shape[1]:
        raise ValueError(f"z_a has dim {za.shape[1]} but z_v has dim {zv.shape[1]}")
    return float((F.normalize(za, dim=-1).mean(0) - F.normalize(zv, dim=-1).mean(0)).norm())


def modality_gaps(emb_by_task: Mapping[Any, Mapping[str, torch.Tensor]], after_task: int | None = None
                  ) -> pd.DataFrame:
    """One gap per task's evaluation embeddings -> tidy rows ``after_task, task, gap``.

    ``emb_by_task`` maps task id -> ``{"z_a", "z_v"}`` (e.g. split from
    :func:`stella.eval.retrieval.extract_embeddings` by its ``task`` field).
    """
    if len(emb_by_task) == 0:
        raise ValueError("no tasks: emb_by_task is empty")
    rows = [{"after_task": after_task, "task": t, "gap": modality_gap(e["z_a"], e["z_v"])}
            for t, e in emb_by_task.items()]
    return pd.DataFrame(rows, columns=["after_task", "task", "gap"])


def gap_decline(gaps: pd.DataFrame | np.ndarray) -> float:
    """Average modality-gap decline (Fig. 10 a, Fig. 12 b).

    ``gaps`` is a ``(T, T)`` matrix ``g[t, i]`` (gap of task ``i`` after task ``t``) or tidy
    :func:`modality_gaps` rows with integer ``after_task``/``task``. The paper compares the gap
    estimated at the completion of each task with the gap at the completion of the last task;
    we read "estimated at the completion of task i" as task ``i``'s own gap ``g[i, i]`` and
    return ``mean_{i<T} (g[i, i] - g[T, i])``: positive when the gap shrank by the end (the
    sign convention of a "decline"; the analogue of forgetting F). Needs ``T >= 2``.
    """
    g = accuracy_matrix(gaps, value="gap") if isinstance(gaps, pd.DataFrame) else np.asarray(gaps, float)
    if g.ndim != 2 or g.shape[0] != g.shape[1]:
        raise ValueError(f"gap matrix must be square (T, T), got shape {g.shape}")
    T = g.shape[0]
    if T < 2:
        raise ValueError(f"gap decline needs at least 2 tasks (T = {T})")
    diag, last = np.diag(g)[:T - 1], g[T - 1, :T - 1]
    if not (np.isfinite(diag).all() and np.isfinite(last).all()):
        raise ValueError("gap matrix lacks a diagonal entry g[i, i] or a last-row entry g[T, i]")
    return float(np.mean(diag - last))


def umap_2d(z_a: torch.Tensor, z_v: torch.Tensor, seed: int = 0, n_neighbors: int = 15,
            min_dist: float = 0.1) -> pd.DataFrame:
    """2-D UMAP of L2-normalised audio and video embeddings, fitted jointly (Fig. 6 right, Fig. 11).

    Returns rows ``x, y, modality ("audio"|"video"), item`` (row index within its modality).
    ``random_state=seed`` makes the layout deterministic (umap then runs single-threaded).
    ``n_neighbors`` is clipped to ``n - 1`` for small sets.
    """
    import umap  # slow import (numba); only needed here

    za, zv = _check("z_a", z_a), _check("z_v", z_v)
    if za.shape[1] != zv.shape[1]:
        raise ValueError(f"z_a has dim {za.shape[1]} but z_v has dim {zv.shape[1]}")
    x = torch.cat([F.normalize(za, dim=-1), F.normalize(zv, dim=-1)]).numpy()
    n = x.shape[0]
    if n < 4:
        raise ValueError(f"UMAP needs at least 4 embeddings in total, got {n}")
    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, n - 1), min_dist=min_dist,
                        random_state=seed, n_jobs=1, init="spectral" if n > 16 else "random")
    xy = reducer.fit_transform(x)
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1],
                         "modality": ["audio"] * za.shape[0] + ["video"] * zv.shape[0],
                         "item": list(range(za.shape[0])) + list(range(zv.shape[0]))})


__all__ = ["modality_gap", "modality_gaps", "gap_decline", "umap_2d"]
