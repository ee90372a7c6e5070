"""Data layer: benchmarks as task sequences of audio-video datasets (section 3.1, appendix B).

``build_benchmark(cfg)`` dispatches on ``cfg.data.dataset``: "synthetic" (procedural clips with
ground truth), "tuxpaint" (real stamp photos and sounds composed like the synthetic clips) or
"manifest" (real videos listed in a CAV-MAE-style manifest, split into Continual-VS/AS tasks).
"""
from __future__ import annotations

from stella.data.benchmark import Benchmark, ClipDataset, Task, sparsity


def build_benchmark(cfg) -> Benchmark:
    """The configured benchmark: tasks in ``cfg.data.task_order``, each with train and eval datasets."""
    kind = cfg.data.dataset
    if kind == "synthetic":
        from stella.data.synthetic import build_synthetic
        return build_synthetic(cfg)
    if kind == "tuxpaint":
        from stella.data.tuxpaint import build_tuxpaint
        return build_tuxpaint(cfg)
    if kind == "manifest":
        from stella.data.manifest import build_manifest_benchmark
        return build_manifest_benchmark(cfg)
    raise ValueError(f"data.dataset: unknown dataset {kind!r} (known: synthetic, tuxpaint, manifest)")


__all__ = ["Benchmark", "ClipDataset", "Task", "build_benchmark", "sparsity"]
