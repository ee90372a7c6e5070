"""Zero-shot audio-visual retrieval (section 5.2, Table 1, Table 7; appendix B).

Protocol (as the authors' retrieval code does it; the paper names only zero-shot retrieval):
unmasked inputs, mean-pooled unimodal embeddings, L2-normalised, cosine similarity. For task
``i`` the queries are task ``i``'s evaluation clips and the gallery is the evaluation set of
*all* tasks, so no task identity is used at test time. Both directions are reported: A->V (audio queries, video
gallery) and V->A. Scores are in percent, like the paper's tables.

Ties: the rank of the ground-truth item counts every *other* gallery item whose similarity is
greater than or equal to it (pessimistic ranking). A collapsed model whose embeddings are all
equal therefore ranks every item last instead of first.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from stella.eval.metrics import accuracy_matrix
from stella.eval.metrics import average_accuracy, forgetting

DIRECTIONS = ("A→V", "V→A")
METRICS = ("R@1", "R@5", "R@10", "avg")


def ranks(sim: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """1-based rank of the ground truth per query. sim (Q, G), gt (Q,) gallery indices -> (Q,)."""
    sim = torch.as_tensor(sim, dtype=torch.float64)
    gt = torch.as_tensor(gt, dtype=torch.long)
    if sim.ndim != 2:
        raise ValueError(f"similarity matrix must be (Q, G), got shape {tuple(sim.shape)}")
    Q, G = sim.shape
    if Q == 0 or G == 0:
        raise ValueError(f"empty retrieval problem: {Q} queries, {G} gallery items")
    if gt.shape != (Q,):
        raise ValueError(f"gt must have shape ({Q},), got {tuple(gt.shape)}")
    if gt.min() < 0 or gt.max() >= G:
        raise ValueError(f"gt indices must lie in 0..{G - 1}, got {gt.min().item()}..{gt.max().item()}")
    if not torch.isfinite(sim).all():
        raise ValueError("similarity matrix contains NaN or inf")
    pos = sim.gather(1, gt[:, None])
    return (sim >= pos).sum(1)


def recall_at_k(sim: torch.Tensor, gt: torch.Tensor, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``{"R@k": percent of queries whose ground truth ranks <= k}`` (pessimistic ties)."""
    r = ranks(sim, gt)
    return {f"R@{k}": 100.0 * (r <= k).double().mean().item() for k in ks}


def chance_recall(gallery_size: int, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Expected R@k (%) of a random ranking over ``gallery_size`` items, and their mean ("avg"):
    100 * min(k, G) / G. The floor every row of Table 1 should be read against."""
    if gallery_size < 1:
        raise ValueError(f"gallery_size must be >= 1, got {gallery_size}")
    rec = {f"R@{k}": 100.0 * min(k, gallery_size) / gallery_size for k in ks}
    rec["avg"] = float(np.mean(list(rec.values())))
    return rec


def median_rank(sim: torch.Tensor, gt: torch.Tensor) -> float:
    """Median of the 1-based ranks (numpy median: mean of the two middle ranks for even Q)."""
    return float(np.median(ranks(sim, gt).numpy()))


def _check_embeddings(name: str, z: torch.Tensor) -> None:
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty (n, D) embedding matrix, got shape {tuple(z.shape)}")
    if not torch.isfinite(z).all():
        bad = (~torch.isfinite(z)).any(1).nonzero().flatten()
        raise ValueError(f"{name}: {len(bad)} embeddings contain NaN/inf (first rows {bad[:5].tolist()})")


@torch.no_grad()
def extract_embeddings(model: torch.nn.Module, dataset: Any, batch_size: int = 32,
                       device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Embed a dataset with ``model.embed(audio, video)`` in eval mode, on unmasked inputs.

    Returns CPU tensors ``z_a, z_v`` (n, D) L2-normalised, and ``label, task, index`` (n,).
    The model's train/eval mode is restored afterwards.
    """
    if len(dataset) == 0:
        raise ValueError("empty evaluation split: the dataset has no clips to embed")
    was_training = model.training
    model.eval()
    out: dict[str, list[torch.Tensor]] = {k: [] for k in ("z_a", "z_v", "label", "task", "index")}
    try:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
            z_a, z_v = model.embed(batch["audio"].to(device), batch["video"].to(device))
            out["z_a"].append(z_a.float().cpu())
            out["z_v"].append(z_v.float().cpu())
            n = z_a.shape[0]
            for k in ("label", "task", "index"):
                v = batch.get(k)
                out[k].append(torch.as_tensor(v).long().cpu() if v is not None else torch.full((n,), -1))
    finally:
        model.train(was_training)
    res = {k: torch.cat(v) for k, v in out.items()}
    _check_embeddings("z_a", res["z_a"])
    _check_embeddings("z_v", res["z_v"])
    return res


def _split_by_task(emb: Mapping[str, torch.Tensor]) -> dict[int, dict[str, torch.Tensor]]:
    tasks = torch.as_tensor(emb["task"])
    return {int(t): {k: v[tasks == t] for k, v in emb.items()} for t in torch.unique(tasks).tolist()}


def retrieval_scores(emb_by_task: Mapping[Any, Mapping[str, torch.Tensor]] | Mapping[str, torch.Tensor],
                     ks: Sequence[int] = (1, 5, 10)) -> pd.DataFrame:
    """Per-task zero-shot retrieval, gallery = every task's evaluation clips.

    ``emb_by_task`` maps task id -> ``{"z_a": (n_i, D), "z_v": (n_i, D)}``, or is a single
    :func:`extract_embeddings` dict whose ``task`` field splits it. Returns tidy rows
    ``task, direction, metric, value`` with metrics ``R@k`` for ``ks``, ``avg`` (mean of the
    R@k, the "Avg" column of Table 1) and ``MdR`` (median rank).
    """
    if "z_a" in emb_by_task:
        emb_by_task = _split_by_task(emb_by_task)  # type: ignore[arg-type]
    if len(emb_by_task) == 0:
        raise ValueError("no tasks to evaluate: emb_by_task is empty")
    names = list(emb_by_task)
    za, zv, owner = [], [], []
    for t in names:
        e = emb_by_task[t]
        for k in ("z_a", "z_v"):
            if k not in e:
                raise ValueError(f"task {t!r}: embeddings have no {k!r}")
            _check_embeddings(f"task {t!r} {k}", torch.as_tensor(e[k]))
        if e["z_a"].shape != e["z_v"].shape:
            raise ValueError(f"task {t!r}: z_a {tuple(e['z_a'].shape)} and z_v {tuple(e['z_v'].shape)} differ")
        za.append(torch.nn.functional.normalize(torch.as_tensor(e["z_a"]).double(), dim=-1))
        zv.append(torch.nn.functional.normalize(torch.as_tensor(e["z_v"]).double(), dim=-1))
        owner += [t] * e["z_a"].shape[0]
    gal_a, gal_v = torch.cat(za), torch.cat(zv)
    rows, start = [], 0
    for t, qa, qv in zip(names, za, zv):
        gt = torch.arange(start, start + qa.shape[0])
        start += qa.shape[0]
        for direction, sim in (("A→V", qa @ gal_v.T), ("V→A", qv @ gal_a.T)):
            rec = recall_at_k(sim, gt, ks)
            rec["avg"] = float(np.mean(list(rec.values())))
            rec["MdR"] = median_rank(sim, gt)
            rows += [{"task": t, "direction": direction, "metric": m, "value": v} for m, v in rec.items()]
    return pd.DataFrame(rows, columns=["task", "direction", "metric", "value"])


def accuracy_matrices(rows: pd.DataFrame | Sequence[pd.DataFrame], num_tasks: int | None = None
                      ) -> dict[tuple[str, str], np.ndarray]:
    """``{(direction, metric): acc (T, T)}`` from retrieval rows carrying an ``after_task`` column:
    one :func:`stella.eval.metrics.accuracy_matrix` per direction and metric.

    ``rows`` is the concatenation (or a list) of :func:`retrieval_scores` frames, each with
    ``after_task = t`` added after pre-training on task ``t``; tasks are integers ``0..T-1``.
    """
    df = pd.concat(list(rows), ignore_index=True) if not isinstance(rows, pd.DataFrame) else rows
    for c in ("after_task", "task", "direction", "metric", "value"):
        if c not in df.columns:
            raise ValueError(f"retrieval rows have no column {c!r} (columns: {list(df.columns)})")
    return {(d, m): accuracy_matrix(g, num_tasks=num_tasks)
            for (d, m), g in df.groupby(["direction", "metric"], sort=False)}


def summarize(acc_by_metric: Mapping[tuple[str, str], np.ndarray],
              metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Table 1 layout: one row per direction, columns ``(metric, "A")`` and ``(metric, "F")``.

    A and F follow section 5.1 (see :mod:`stella.eval.metrics`). The ``avg`` column is the mean
    of the R@k columns, as the paper's Table 1 prints it: its A equals A of the per-task mean
    recall (A is linear), its F is the mean of the R@k F values (e.g. Finetune A→V: 4.16, 11.98,
    15.35 -> 10.50), which is >= F of the per-task mean recall because the max in F is not
    linear. F is NaN for a single task. Lower-is-better ``MdR`` is left out by default.
    """
    if not acc_by_metric:
        raise ValueError("no accuracy matrices to summarise")
    data: dict[str, dict[tuple[str, str], float]] = {}
    for (direction, metric), acc in acc_by_metric.items():
        if metric not in metrics:
            continue
        acc = np.asarray(acc, dtype=float)
        row = data.setdefault(direction, {})
        row[(metric, "A")] = average_accuracy(acc)
        row[(metric, "F")] = forgetting(acc) if acc.shape[0] >= 2 else float("nan")
    for direction, row in data.items():
        recalls = [np.asarray(a, dtype=float) for (d, m), a in acc_by_metric.items() if d == direction and m.startswith("R@")]
        if ("avg", "F") in row and recalls and recalls[0].shape[0] >= 2:
            row[("avg", "F")] = float(np.mean([forgetting(a) for a in recalls]))
    if not data:
        raise ValueError(f"none of the metrics {list(metrics)} is present in the accuracy matrices")
    cols = pd.MultiIndex.from_tuples([(m, s) for m in metrics for s in ("A", "F")
                                      if any((m, s) in r for r in data.values())])
    order = [d for d in DIRECTIONS if d in data] + [d for d in data if d not in DIRECTIONS]
    table = pd.DataFrame([data[d] for d in order], index=pd.Index(order, name="direction"))
    return table.reindex(columns=cols)


__all__ = ["DIRECTIONS", "METRICS", "ranks", "recall_at_k", "chance_recall", "median_rank", "extract_embeddings",
           "retrieval_scores", "accuracy_matrices", "summarize"]
