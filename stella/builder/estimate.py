"""What the book's runs at a preset cost: FLOPs, V100-hours at the paper's own throughput, GPU seconds.

For each run of a plan (:func:`stella.report.plan.book_runs`):

* **FLOPs per training step**: one ``observe`` of the run's method at the run's config, counted by
  ``torch.utils.flop_counter.FlopCounterMode`` (the counter ``benchmarks/bench_step.py`` uses) on a step
  built as :mod:`stella.continual.memory_count` builds it: under ``FakeTensorMode`` at ViT-B (shapes, no
  data, no compute: about ten seconds a method on one core), with real tensors at the tiny sizes. The
  method first observes one batch, so a replay method's count includes its replayed batch. Counts are
  kept in ``<results>/estimates/`` by the config (less its seed, memory size and task order, which
  change no step's shapes), so a second estimate is immediate.
* **steps**: the trainer's rule (:class:`stella.continual.trainer.Trainer`): every task, epochs x full
  batches of its training clips (a joint method: one task of all of them), at the method's batch
  (STELLA++ 1.66x). Clips per task come from the manifest's split without decoding anything
  (:func:`task_clips`); a clip that fails to decode lowers the real count.
* **evaluation**: after each task, the unmasked forward pass of every task's evaluation clips
  (``model.embed``), counted the same way per clip.
* **V100-hours** (ViT-B runs): the FLOPs at the rate Table 2 implies: Finetune's counted FLOPs per
  sample at the paper's geometry (batch 9) times its throughput there (29.46 samples/s on one V100,
  :func:`stella.report.paper_numbers.table2`). The paper trained in mixed precision, so this is the
  rate of the authors' code on their GPU, not a peak; a smaller model's steps do not run at it, so
  its runs get none.
* **measured** (a GPU present): seconds of one real step of each method on it, at the preset's
  values, synthetic clips at the run's geometry; x steps.
"""
from __future__ import annotations

import contextlib
import statistics
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from stella.config import Config, load_config
from stella.continual import METHODS
from stella.continual.memory_count import SMALL_MODELS, build_counted, fake_mode, synthetic_batch
from stella.continual.stream import num_batches
from stella.continual.trainer import resolve_method_config
from stella.data.splits import assign_tasks, benchmark_order, entry_labels, label_to_task, load_split, read_manifest
from stella.eval.efficiency import synchronize
from stella.report import paper_numbers as paper
from stella.report.runs import run_config
from stella.store import atomic_write_json, read_json

PAPER_REFERENCE = ("finetune", 9)        # Table 2's row and batch that calibrates the V100 rate
PAPER_SIZE = "base"                      # the model Table 2 measured: its rate applies to ViT-B steps only


def task_clips(cfg: Config) -> list[tuple[str, int, int]]:
    """(task, training clips, evaluation clips) of every task of ``cfg``'s benchmark, without decoding:
    for a manifest, the rule of :func:`stella.data.manifest.build_manifest_benchmark` (the first
    ``classes_per_task`` classes of each task in the split's order, per class the last ``eval_per_class``
    clips for evaluation and up to ``train_per_class`` of the others); for the synthetic benchmarks,
    ``classes_per_task`` x ``train_per_class`` (``eval_per_class``)."""
    d = cfg.data
    if d.dataset != "manifest":
        return [(f"task {i + 1}", d.classes_per_task * d.train_per_class, d.classes_per_task * d.eval_per_class)
                for i in range(d.num_tasks)]
    mapping = label_to_task(d.benchmark, d.category_csv or None)
    by_task, _ = assign_tasks(read_manifest(d.manifest), mapping)
    split = load_split(d.benchmark)
    out = []
    for name in benchmark_order(d.benchmark, d.task_order)[: d.num_tasks]:
        per_label: dict[str, int] = {}
        for e in by_task.get(name, []):
            lab = next(l for l in entry_labels(e) if mapping.get(l) == name)
            per_label[lab] = per_label.get(lab, 0) + 1
        order = split["tasks"].get(name, [])
        labels = sorted(per_label, key=lambda l: (order.index(l) if l in order else 10 ** 6, l))[: d.classes_per_task]
        out.append((name, sum(min(d.train_per_class, max(0, per_label[l] - d.eval_per_class)) for l in labels),
                    sum(min(d.eval_per_class, per_label[l]) for l in labels)))
    return out


def run_steps(cfg: Config, clips: list[tuple[str, int, int]]) -> int:
    """Training steps of one run of ``cfg`` (its method resolved) over ``clips`` (:func:`task_clips`)."""
    c = cfg.continual
    batch = max(2, round(c.batch_size * c.batch_multiplier))
    sizes = [sum(n for _, n, _ in clips)] if METHODS[c.method].joint else [n for _, n, _ in clips]
    return c.epochs_per_task * sum(num_batches(n, batch) for n in sizes)


def counted_config(cfg: Config) -> Config:
    """``cfg`` as its step is counted: the rehearsal memory sized to one replay batch (as
    :func:`stella.continual.memory_count.count_step` does: the host-side memory changes no step), the default
    task order and seed 0 (neither changes a step's shapes)."""
    c = cfg.continual
    replay = c.replay_batch_size or c.batch_size
    memory = [f"continual.memory_size={max(replay, 2)}"] if c.memory_size else []
    return cfg.with_overrides([*memory, "data.task_order=default", "run.seed=0"])


def count_key(cfg: Config) -> str:
    """The digest of :func:`counted_config`: runs that differ only in seed, memory size or task order share it."""
    return counted_config(cfg).digest()


def count_flops(cfg: Config) -> dict[str, float]:
    """FLOPs of one training step of ``cfg.continual.method`` (``train``, after one warm-up step), its
    stream ``batch`` and the forward FLOPs of one evaluation clip (``embed``): fake tensors at every size
    but :data:`stella.continual.memory_count.SMALL_MODELS`, whose real steps are faster."""
    cfg = resolve_method_config(counted_config(cfg))
    fake = cfg.model.size not in SMALL_MODELS
    with torch.random.fork_rng(devices=[]), (fake_mode() if fake else contextlib.nullcontext()):
        method, batch = build_counted(cfg)
        first, second = synthetic_batch(cfg, batch), synthetic_batch(cfg, batch)
        method.begin_task(0)
        method.observe(first)
        with FlopCounterMode(display=False) as train:
            method.observe(second)
        with FlopCounterMode(display=False) as embed, torch.no_grad():
            method.ctx.model.embed(second["audio"][:1], second["video"][:1])
    return {"train": float(train.get_total_flops()), "batch": batch, "embed": float(embed.get_total_flops())}


def cached_count(cfg: Config, results: str | Path) -> dict[str, float]:
    """:func:`count_flops`, kept in ``<results>/estimates/flops-<count_key>.json`` (atomic)."""
    path = Path(results) / "estimates" / f"flops-{count_key(cfg)}.json"
    if path.exists():
        return read_json(path)
    out = count_flops(cfg)
    atomic_write_json(path, out)
    return out


def v100_rate(results: str | Path) -> float:
    """FLOP/s of the authors' code on one V100 as Table 2 implies it: Finetune's counted FLOPs per sample at
    the paper's geometry and batch 9, times its measured throughput (samples/s)."""
    method, batch = PAPER_REFERENCE
    cfg = load_config("paper", [f"continual.method={method}", f"continual.batch_size={batch}", "data.dataset=synthetic",
                                "data.manifest=", "pretrain.source=none", "run.device=cpu"])
    count = cached_count(cfg, results)
    throughput = paper.table2().set_index("method").loc[method, "throughput"]
    return count["train"] / count["batch"] * float(throughput)


def measure_seconds(cfg: Config, device: torch.device, steps: int = 3) -> float | None:
    """Median seconds of a real training step of ``cfg``'s method on ``device`` (two warm-up steps first),
    synthetic clips at its geometry; None when the step does not fit in the device's memory."""
    cfg = resolve_method_config(cfg)
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            method, batch = build_counted(cfg, device)
            method.begin_task(0)
            times = []
            for i in range(steps + 2):
                b = synthetic_batch(cfg, batch, device)
                synchronize(device)
                t0 = time.perf_counter()
                method.observe(b)
                synchronize(device)
                times.append(time.perf_counter() - t0)
        return statistics.median(times[2:])
    except torch.cuda.OutOfMemoryError:
        return None
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()


def estimate(plan: pd.DataFrame, preset: str, results: str | Path, device: torch.device | None = None,
             write: Callable[[str], None] = print) -> pd.DataFrame:
    """One row per run of ``plan`` (``method``, ``seed``, ``overrides``, ``key``): ``steps``,
    ``tflop_per_step``, ``pflop`` (training and evaluation), ``v100_hours`` (NaN but at ViT-B) and, with a ``device``,
    ``measured_hours`` (module docstring). Prints a line per step count it has to compute."""
    rows, clips, measured, rate = [], {}, {}, None
    for r in plan.itertuples():
        overrides = [o for o in r.overrides.split(", ") if o]
        cfg = run_config(preset, r.method, int(r.seed), overrides)
        order = cfg.data.task_order
        if order not in clips:
            clips[order] = task_clips(cfg)
        key = count_key(cfg)
        if not (Path(results) / "estimates" / f"flops-{key}.json").exists():
            write(f"  counting the FLOPs of a {r.method} step" + (f" ({', '.join(overrides)})" if overrides else ""))
        count = cached_count(cfg, results)
        steps = run_steps(cfg, clips[order])
        evals = cfg.data.num_tasks * sum(e for _, _, e in clips[order])
        flops = steps * count["train"] + evals * count["embed"]
        if rate is None and cfg.model.size == PAPER_SIZE:
            rate = v100_rate(results)
        row = {"key": r.key, "chapter": r.chapter, "method": r.method, "seed": r.seed, "overrides": r.overrides,
               "steps": steps, "tflop_per_step": count["train"] / 1e12, "pflop": flops / 1e15,
               "v100_hours": flops / rate / 3600 if cfg.model.size == PAPER_SIZE else float("nan")}
        if device is not None:
            if r.method not in measured:
                write(f"  timing a {r.method} step on {device}")
                measured[r.method] = measure_seconds(run_config(preset, r.method), device)
            secs = measured[r.method]
            row["measured_hours"] = None if secs is None else secs * steps / 3600
        rows.append(row)
    return pd.DataFrame(rows)


def clip_summary(cfg: Config) -> pd.DataFrame:
    """:func:`task_clips` as a frame: task, train clips, eval clips (the clips the runs will use)."""
    return pd.DataFrame(task_clips(cfg), columns=["task", "train clips", "eval clips"])


__all__ = ["task_clips", "run_steps", "count_key", "count_flops", "cached_count", "v100_rate", "measure_seconds",
           "estimate", "clip_summary"]
