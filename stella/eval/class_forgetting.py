"""Forgetting of single classes: the multimodal correlation overwriting of section 4.2 (Fig. 3) measured.

RCA is meant to keep a model from overwriting what a past class's audio-visual pair meant when a later task
shows the same visual object with a new sound. The benchmark knows which classes those are
(``Benchmark.info["reused"]``: later class -> the earlier class whose visual object it reuses), so their
forgetting can be set apart from the other past classes':

* :func:`class_recall`: per class, the avg recall (mean of R@1, R@5, R@10, %) of its evaluation clips as
  queries against the gallery of every task's evaluation clips (the protocol of
  :func:`stella.eval.retrieval.retrieval_scores`, no task identity), in both directions.
* :func:`class_forgetting`: per class learned before the last task, section 5.1's forgetting of one task
  applied to one class, F_c = max_{i <= t < T} acc_t(c) - acc_T(c) (i the class's task, acc_t after task t).
* :func:`overwritten_classes`: the past classes whose visual object a later task reuses.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from stella.eval.retrieval import DIRECTIONS, recall_at_k


def class_recall(emb_by_task: Mapping[int, Mapping[str, torch.Tensor]], ks: Sequence[int] = (1, 5, 10)) -> pd.DataFrame:
    """``emb_by_task``: task position -> :func:`stella.eval.retrieval.extract_embeddings` dict (``z_a``, ``z_v``
    (n, D), ``label`` (n,)) of that task's evaluation clips. Returns one row per (class, direction): ``label``,
    ``task`` (the position of the task holding its queries), ``direction``, ``value`` (avg recall over ``ks``, %)."""
    if not emb_by_task:
        raise ValueError("class_recall: no tasks to evaluate")
    za, zv, labels, owner = [], [], [], []
    for t, e in emb_by_task.items():
        za.append(torch.nn.functional.normalize(torch.as_tensor(e["z_a"]).double(), dim=-1))
        zv.append(torch.nn.functional.normalize(torch.as_tensor(e["z_v"]).double(), dim=-1))
        labels.append(torch.as_tensor(e["label"]).long())
        owner += [int(t)] * za[-1].shape[0]
    za, zv, labels, owner = torch.cat(za), torch.cat(zv), torch.cat(labels), torch.as_tensor(owner)
    rows = []
    for c in torch.unique(labels).tolist():
        q = torch.nonzero(labels == c).flatten()
        for direction, sim in (("A→V", za[q] @ zv.T), ("V→A", zv[q] @ za.T)):
            rec = recall_at_k(sim, q, ks)
            rows.append({"label": int(c), "task": int(owner[q[0]]), "direction": direction,
                         "value": float(np.mean(list(rec.values())))})
    return pd.DataFrame(rows, columns=["label", "task", "direction", "value"])


def class_forgetting(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows``: :func:`class_recall` frames with an ``after_task`` column (0-based, every task after the class's
    own). One row per class learned before the last task and direction: ``label``, ``task``, ``direction``, ``F``
    (max over the checkpoints from its task to the one before the last, minus the last; %p, may be negative)."""
    for c in ("after_task", "label", "task", "direction", "value"):
        if c not in rows.columns:
            raise ValueError(f"class_forgetting: rows have no column {c!r}")
    last = int(rows["after_task"].max())
    out = []
    for (label, task, d), g in rows.groupby(["label", "task", "direction"], sort=True):
        if task >= last:
            continue
        acc = g.set_index("after_task")["value"]
        missing = [t for t in range(task, last + 1) if t not in acc.index]
        if missing:
            raise ValueError(f"class_forgetting: class {label} has no recall after task(s) {missing}")
        out.append({"label": int(label), "task": int(task), "direction": d,
                    "F": float(acc.loc[task:last - 1].max() - acc.loc[last])})
    return pd.DataFrame(out, columns=["label", "task", "direction", "F"])


def overwritten_classes(reused: Mapping[int, int]) -> list[int]:
    """The classes whose visual object a later class reuses with a new sound, from ``Benchmark.info["reused"]``
    (later class -> earlier class)."""
    return sorted(set(int(c) for c in reused.values()))


def forgetting_split(forgetting: pd.DataFrame, overwritten: Sequence[int]) -> pd.DataFrame:
    """Mean F of :func:`class_forgetting` per direction over the ``overwritten`` classes and over the other past
    classes: columns ``direction``, ``overwritten``, ``other`` (NaN where a group is empty)."""
    ow = forgetting["label"].isin(list(overwritten))
    rows = []
    for d in DIRECTIONS:
        part = forgetting["direction"] == d
        mean = lambda m: float(forgetting.loc[m, "F"].mean()) if m.any() else float("nan")   # noqa: E731
        rows.append({"direction": d, "overwritten": mean(part & ow), "other": mean(part & ~ow)})
    return pd.DataFrame(rows)


__all__ = ["class_recall", "class_forgetting", "overwritten_classes", "forgetting_split"]
