"""Data layer: benchmarks as task sequences of audio-video datasets (section 3.1, appendix B).

``build_benchmark(cfg)`` dispatches on ``cfg.data.dataset``: "synthetic" (procedural clips with
ground truth), "tuxpaint" (real stamp photos and sounds composed like the synthetic clips) or
"manifest" (real videos listed in a CAV-MAE-style manifest, split into Continual-VS/AS tasks).
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from stella.data.benchmark import Benchmark, ClipDataset, Task, sounding_share, sparsity
from stella.data.manifest import build_manifest_benchmark
from stella.data.synthetic import build_synthetic
from stella.data.tuxpaint import build_tuxpaint

if TYPE_CHECKING:
    from stella.config import Config


def build_benchmark(cfg) -> Benchmark:
    """The configured benchmark: tasks in ``cfg.data.task_order``, each with train and eval datasets."""
    kind = cfg.data.dataset
    if kind == "synthetic":
        return build_synthetic(cfg)
    if kind == "tuxpaint":
        return build_tuxpaint(cfg)
    if kind == "manifest":
        return build_manifest_benchmark(cfg)
    raise ValueError(f"data.dataset: unknown dataset {kind!r} (known: synthetic, tuxpaint, manifest)")


WHAT = {"ground_truth": "the sounding object's ground truth in every clip (its mask per frame, when its sound is on)",
        "generated_classes": "classes generated on demand (a task of classes no run has trained on)"}


def provides(cfg) -> frozenset[str]:
    """What ``cfg``'s data has beyond clips and labels (keys of :data:`WHAT`): the synthetic benchmark both, the
    tuxpaint stamps ground truth, a manifest of real videos neither."""
    return {"synthetic": frozenset(WHAT), "tuxpaint": frozenset({"ground_truth"})}.get(cfg.data.dataset, frozenset())


def unseen_tasks(cfg: Config, extra_tasks: int = 1):
    """Held-out tasks of classes the run with ``cfg`` never trained on (the MSR-VTT role, Table 4a).

    Builds the synthetic benchmark with ``data.num_tasks + extra_tasks`` tasks in the default
    order; its first ``num_tasks`` tasks have exactly the trained classes (the class generator
    is a pure function of the seed, task by task), the remaining ``extra_tasks`` tasks have new
    labels, sounds and (mostly) new visual objects. The fbank normalisation is pinned to the
    trained benchmark's so clips are normalised as the model saw them in training. Returns
    ``(trained_benchmark, [Task, ...])`` (the unseen tasks, each with train and eval splits).
    """
    if cfg.data.dataset != "synthetic":
        raise ValueError(f"unseen_tasks needs data.dataset='synthetic' (generated classes), got {cfg.data.dataset!r}")
    if extra_tasks < 1:
        raise ValueError(f"extra_tasks must be >= 1, got {extra_tasks}")
    trained = build_benchmark(cfg)
    mean, std = trained.audio_norm
    data = replace(cfg.data, num_tasks=cfg.data.num_tasks + extra_tasks, task_order="default",
                   audio_norm_mean=float(mean), audio_norm_std=float(std))
    bigger = build_benchmark(replace(cfg, data=data))
    seen = {c for t in trained.tasks for c in t.classes}
    unseen = bigger.tasks[cfg.data.num_tasks:]
    if any(c in seen for t in unseen for c in t.classes):
        raise AssertionError("unseen_tasks: an extra task shares a class with the trained tasks")
    return trained, unseen


__all__ = [
    "Benchmark", "ClipDataset", "Task", "WHAT", "build_benchmark", "provides", "sounding_share", "sparsity",
    "unseen_tasks",
]
