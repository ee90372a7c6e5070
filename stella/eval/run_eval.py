"""What the trainer measures after each task, and the run's summary (Table 1 rows).

After task t every task's evaluation split is embedded with the current model and scored
(zero-shot retrieval with the gallery of all tasks, no task identity) together with the
modality gap per task. Rows are tidy dicts ``after_task, task, direction, metric, value``;
the gap rows have ``direction = "gap"``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from stella.eval.gap import modality_gaps
from stella.eval.metrics import average_accuracy
from stella.eval.retrieval import METRICS, accuracy_matrices, extract_embeddings, retrieval_scores, summarize


def embed_tasks(model: torch.nn.Module, bench, device: torch.device, batch_size: int = 64) -> dict[int, dict]:
    """task index -> extract_embeddings dict of that task's evaluation split."""
    return {t.index: extract_embeddings(model, t.eval, batch_size, device) for t in bench.tasks}


def evaluate_after_task(model: torch.nn.Module, bench, after_task: int, device: torch.device) -> list[dict]:
    emb = embed_tasks(model, bench, device)
    ret = retrieval_scores(emb)
    ret["after_task"] = after_task
    gaps = modality_gaps(emb, after_task=after_task)
    gap_rows = [{"after_task": after_task, "task": int(r.task), "direction": "gap", "metric": "gap",
                 "value": float(r.gap)} for r in gaps.itertuples()]
    rows = [{k: (int(v) if k in ("task", "after_task") else v) for k, v in r.items()}
            for r in ret.to_dict("records")]
    return rows + gap_rows


def retrieval_frame(results: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(results)
    if df.empty:
        raise ValueError("no evaluation results: the run evaluated nothing")
    return df[df["direction"] != "gap"]


def summarize_results(results: list[dict], joint: bool = False) -> list[dict]:
    """Rows ``direction, metric, A, F`` (section 5.1). Multitask is evaluated once: A only, F = NaN."""
    df = retrieval_frame(results)
    if joint:
        out = []
        for (d, m), g in df.groupby(["direction", "metric"], sort=False):
            if m in METRICS:
                out.append({"direction": d, "metric": m, "A": float(g["value"].mean()), "F": float("nan")})
        return out
    table = summarize(accuracy_matrices(df))
    return [{"direction": d, "metric": m, "A": float(table.loc[d, (m, "A")]), "F": float(table.loc[d, (m, "F")])}
            for d in table.index for m in METRICS]


def gap_matrix(results: list[dict]) -> np.ndarray:
    """g[t, i]: modality gap of task i's evaluation embeddings after task t."""
    df = pd.DataFrame(results)
    g = df[df["direction"] == "gap"]
    T = int(max(g["after_task"].max(), g["task"].max())) + 1
    out = np.full((T, T), np.nan)
    for r in g.itertuples():
        out[int(r.after_task), int(r.task)] = r.value
    return out


__all__ = ["embed_tasks", "evaluate_after_task", "summarize_results", "gap_matrix",
           "average_accuracy"]
