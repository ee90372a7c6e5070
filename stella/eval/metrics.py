"""Continual-learning metrics as pure functions of the accuracy matrix (section 5.1).

``acc`` is a ``(T, T)`` array: row ``t`` holds the scores measured after pre-training on
task ``t`` (0-based here, ``t = 1..T`` in the paper), column ``i`` the downstream task of
``D_i``. The paper only estimates ``{acc[t, i]}_{i <= t}``: entries above the diagonal
(``t < i``, a task evaluated before it was learned) are never read, so they may be NaN.

Average accuracy (section 5.1)::

    A = 1/T * sum_{i=1..T} acc[T, i]

Average forgetting (section 5.1)::

    F = 1/(T-1) * sum_{i=1..T-1} max_{t in {i..T-1}} (acc[t, i] - acc[T, i])

The maximum runs over checkpoints taken after task ``i`` was learned (``t >= i``), the
entries the paper defines. The authors' public script differs: it also counts checkpoints
from before a task was learned (``t < i``) and the last task; we follow the paper.
Forgetting can be negative (backward transfer) and is not clipped at zero.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd


def _check_acc(acc: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    a = np.asarray(acc, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"accuracy matrix must be square (T, T) with rows = after task t, "
                         f"columns = task i; got shape {a.shape}")
    if a.shape[0] == 0:
        raise ValueError("accuracy matrix is empty (T = 0)")
    used = np.tril(np.ones(a.shape, dtype=bool))
    bad = np.argwhere(used & ~np.isfinite(a))
    if len(bad):
        t, i = bad[0]
        raise ValueError(f"accuracy matrix has a non-finite used entry acc[{t}, {i}] = {a[t, i]} "
                         f"(entries with t >= i are required; {len(bad)} bad in total)")
    return a


def average_accuracy(acc: np.ndarray | Sequence[Sequence[float]]) -> float:
    """A: mean of the last row, ``acc[T, :]``. Defined for any ``T >= 1``."""
    a = _check_acc(acc)
    return float(a[-1].mean())


def forgetting(acc: np.ndarray | Sequence[Sequence[float]]) -> float:
    """F: mean over tasks ``i < T`` of ``max_{i <= t < T} acc[t, i] - acc[T, i]``.

    Raises ValueError for ``T < 2``: forgetting is undefined with a single task (the paper's
    ``1/(T-1)`` has no terms), and a silent NaN would propagate into tables unnoticed.
    """
    a = _check_acc(acc)
    T = a.shape[0]
    if T < 2:
        raise ValueError(f"forgetting needs at least 2 tasks (T = {T}); it is undefined for T = 1")
    drops = [a[i:T - 1, i].max() - a[T - 1, i] for i in range(T - 1)]
    return float(np.mean(drops))


def per_task_forgetting(acc: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """The ``T-1`` terms averaged by :func:`forgetting`, one per task ``i < T``."""
    a = _check_acc(acc)
    T = a.shape[0]
    if T < 2:
        raise ValueError(f"forgetting needs at least 2 tasks (T = {T}); it is undefined for T = 1")
    return np.array([a[i:T - 1, i].max() - a[T - 1, i] for i in range(T - 1)])


def accuracy_matrix(rows: pd.DataFrame, after: str = "after_task", task: str = "task",
                    value: str = "value", num_tasks: int | None = None) -> np.ndarray:
    """Pivot tidy rows ``(after, task, value)`` into ``acc[t, i]`` (NaN where not measured).

    Task ids must be integers ``0..T-1`` in the task order. Duplicate ``(after, task)`` pairs
    raise, since they would be averaged silently otherwise.
    """
    for c in (after, task, value):
        if c not in rows.columns:
            raise ValueError(f"rows have no column {c!r} (columns: {list(rows.columns)})")
    if rows.empty:
        raise ValueError("no rows to build an accuracy matrix from")
    dup = rows.duplicated([after, task])
    if dup.any():
        r = rows[dup].iloc[0]
        raise ValueError(f"duplicate result for {after}={r[after]}, {task}={r[task]}")
    T = num_tasks if num_tasks is not None else int(max(rows[after].max(), rows[task].max())) + 1
    acc = np.full((T, T), np.nan)
    for t, i, v in zip(rows[after].astype(int), rows[task].astype(int), rows[value].astype(float)):
        if not (0 <= t < T and 0 <= i < T):
            raise ValueError(f"{after}={t} / {task}={i} is outside 0..{T - 1}")
        acc[t, i] = v
    return acc


def summarize_matrices(acc_by_key: Mapping[object, np.ndarray]) -> pd.DataFrame:
    """A and F of several accuracy matrices: one row per key, columns ``key, A, F``.

    F is NaN (not an error) here only when ``T == 1``, so one-task smoke runs still tabulate.
    """
    out = []
    for key, acc in acc_by_key.items():
        a = _check_acc(acc)
        out.append({"key": key, "A": average_accuracy(a),
                     "F": forgetting(a) if a.shape[0] >= 2 else float("nan")})
    return pd.DataFrame(out, columns=["key", "A", "F"])


__all__ = ["average_accuracy", "forgetting", "per_task_forgetting", "accuracy_matrix",
           "summarize_matrices"]
