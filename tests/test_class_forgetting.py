"""Forgetting of single classes (stella.eval.class_forgetting): recall per class against the whole gallery, F per
class as section 5.1 defines it per task, the overwritten classes set apart."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from stella.config import load_config
from stella.data import build_benchmark
from stella.eval.class_forgetting import class_forgetting, class_recall, forgetting_split, overwritten_classes


def _emb(labels_per_task: dict[int, list[int]], noise: float = 0.0, seed: int = 0) -> dict[int, dict]:
    g = torch.Generator().manual_seed(seed)
    n = sum(len(v) for v in labels_per_task.values())
    out, start = {}, 0
    for t, labels in labels_per_task.items():
        z = torch.eye(n)[start:start + len(labels)]
        start += len(labels)
        out[t] = {"z_a": z + noise * torch.randn(z.shape, generator=g), "z_v": z.clone(), "label": torch.tensor(labels)}
    return out


def test_class_recall_is_perfect_for_identity_embeddings_and_names_each_class_task():
    rows = class_recall(_emb({0: [0, 0, 1, 1], 1: [2, 2]}))
    assert sorted(rows["label"].unique()) == [0, 1, 2] and set(rows["direction"]) == {"A→V", "V→A"}
    assert np.allclose(rows["value"], 100.0)
    assert rows.set_index(["label", "direction"]).loc[(2, "A→V"), "task"] == 1


def test_class_recall_of_a_collapsed_model_is_low():
    emb = {0: {"z_a": torch.ones(4, 3), "z_v": torch.ones(4, 3), "label": torch.tensor([0, 0, 1, 1])}}
    rows = class_recall(emb, ks=(1,))
    assert np.allclose(rows["value"], 0.0)                # pessimistic ties: every clip ranks last of 4


def test_class_forgetting_is_the_drop_from_the_best_earlier_checkpoint():
    rows = pd.DataFrame([
        {"after_task": t, "label": c, "task": task, "direction": "A→V", "value": v}
        for c, task, vals in ((0, 0, [50.0, 60.0, 30.0]), (1, 1, [None, 40.0, 45.0]), (2, 2, [None, None, 20.0]))
        for t, v in enumerate(vals) if v is not None])
    f = class_forgetting(rows).set_index("label")["F"]
    assert f.to_dict() == {0: 30.0, 1: -5.0}                  # the last task's class has no forgetting
    with pytest.raises(ValueError, match="class 0 has no recall after task"):
        class_forgetting(rows.drop(index=1))


def test_the_split_averages_overwritten_and_other_classes_apart():
    f = pd.DataFrame([{"label": c, "task": 0, "direction": d, "F": v} for d in ("A→V", "V→A")
                      for c, v in ((0, 10.0), (1, 2.0), (2, 4.0))])
    s = forgetting_split(f, [0]).set_index("direction")
    assert s.loc["A→V", "overwritten"] == 10.0 and s.loc["V→A", "other"] == 3.0
    assert np.isnan(forgetting_split(f, [7]).loc[0, "overwritten"])


def test_the_overwritten_classes_are_the_earlier_classes_a_later_task_reuses():
    bench = build_benchmark(load_config("smoke", ["data.num_tasks=3", "data.overwrite_pairs=1"]))
    reused = bench.info["reused"]
    ow = overwritten_classes(reused)
    assert len(reused) == 2 and set(ow) <= set(bench.tasks[0].classes) | set(bench.tasks[1].classes)
    classes = bench.info["classes"]
    assert all(classes[new].obj == classes[old].obj for new, old in reused.items())
