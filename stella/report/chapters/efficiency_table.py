"""Table 2 measured: per-method throughput and peak training memory, side by side in one process.

For each method a :class:`stella.continual.trainer.Trainer` is built exactly as for training
(same resolved config, model, optimisers, method object, batch size incl. STELLA++'s 1.66x),
on a temporary run directory that is deleted afterwards. Each method first observes
``prefill`` batches (so its rehearsal memory holds replayable items and every lazily created
state exists), then the methods take turns: ``steps`` rounds, one timed ``observe()`` per
method per round (interleaved, so drifting machine load hits all methods alike). Throughput
is the stream batch size over the median step time (samples/s).

Memory is measured on one further ``observe()`` per method with
:func:`stella.eval.efficiency.measure_step`: bytes saved for backward (activations) +
parameters (backbone + AVM) + both optimisers' state + ``method.extra_bytes()`` (CLS-ER's
EMA models, ESMER's semantic memory); on CUDA also ``torch.cuda.max_memory_allocated`` of
that step. The rehearsal memory is reported separately (``memory_bytes = memory.nbytes()``,
``item_bytes`` and ``capacity``), as in the paper's section 5.2 where the memory is 5.47 GB
beside the GPU numbers.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd
import torch
from IPython.display import Markdown

from stella import __version__
from stella.config import load_config
from stella.continual.memory_count import count_methods
from stella.continual.stream import batches
from stella.continual.trainer import Trainer
from stella.eval.efficiency import measure_step, module_bytes, optimizer_bytes, synchronize
from stella.report import paper_numbers as paper
from stella.report.display import show
from stella.report.gpu_check import DEFAULT_DIR, gpu_table2
from stella.report.runs import cached_frame, run_config
from stella.report.tables import fmt_bytes, side_by_side
from stella.store import RunStore


def _batch_stream(trainer) -> Iterator[dict]:
    _, data = trainer.task_datasets()[0]
    epoch = 0
    while True:
        n = 0
        for _, b in batches(data, trainer.batch_size, trainer.cfg.run.seed, 0, epoch):
            n += 1
            yield b
        if n == 0:
            raise ValueError(f"{len(data)} clips cannot fill one batch of {trainer.batch_size}")
        epoch += 1


def build_trainer(preset: str, method: str, root: str, overrides: Iterable[str] = (), device: str = "cpu",
                  task_order: str | None = None):
    """A Trainer for ``method`` at ``preset`` on a run directory under ``root`` (nothing is trained).

    It starts from random weights (``pretrain.source=none``): the weights' values change neither the
    memory nor the time of a step, and a measurement must not compute a pre-training stage."""
    cfg = run_config(preset, method, overrides=[*overrides, f"run.device={device}", "run.progress=false", "pretrain.source=none"],
                     task_order=task_order)
    return Trainer(cfg, RunStore(root).dir(cfg))


def measure_methods(preset: str, methods: Iterable[str], steps: int = 5, prefill: int = 3, device: str = "cpu",
                    overrides: Iterable[str] = (), batches: int | None = None) -> pd.DataFrame:
    """One row per method: batch size, step times, throughput, memory parts and rehearsal memory.

    ``batches`` (default ``prefill + steps + 1``) distinct stream batches are materialised per
    method before anything is timed, so data rendering never counts as training time."""
    methods = list(methods)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if prefill < 0:
        raise ValueError(f"prefill must be >= 0, got {prefill}")
    if not methods:
        raise ValueError("no methods to measure")
    n_batches = batches or (prefill + steps + 1)
    with tempfile.TemporaryDirectory(prefix="stella-eff-") as root:
        trainers, feeds = {}, {}
        for m in methods:
            tr = build_trainer(preset, m, root, overrides, device)
            stream = _batch_stream(tr)
            feeds[m] = [next(stream) for _ in range(n_batches)]
            trainers[m] = tr
        pos = {m: 0 for m in methods}

        def next_batch(m):
            b = feeds[m][pos[m] % len(feeds[m])]
            pos[m] += 1
            return b

        for m in methods:
            trainers[m].method.begin_task(0)
            for _ in range(prefill):
                trainers[m].method.observe(next_batch(m))
        times = {m: [] for m in methods}
        for _ in range(steps):
            for m in methods:
                tr = trainers[m]
                b = next_batch(m)
                synchronize(tr.device)
                t0 = time.perf_counter()
                tr.method.observe(b)
                synchronize(tr.device)
                times[m].append(time.perf_counter() - t0)
        rows = []
        for m in methods:
            tr = trainers[m]
            ctx, meth = tr.ctx, tr.method
            b = next_batch(m)
            params = list(ctx.model.parameters()) + list(ctx.avm.parameters())
            extra = meth.extra_bytes()
            avm_opt = optimizer_bytes(ctx.avm_opt)
            stats = measure_step(lambda: meth.observe(b), params, ctx.opt, extras_bytes=extra + avm_opt,
                                 device=tr.device)
            opt_b = stats["optimizer_bytes"] + avm_opt
            med = statistics.median(times[m])
            mem = meth.memory
            item = mem.nbytes() // mem.capacity if mem.capacity and mem.data else 0
            row = {"method": m, "batch_size": tr.batch_size, "steps": steps,
                   "step_s": med, "throughput": tr.batch_size / med,
                   "saved_bytes": stats["saved_bytes"], "param_bytes": stats["param_bytes"],
                   "optimizer_bytes": opt_b, "extra_bytes": extra,
                   "peak_bytes": stats["saved_bytes"] + stats["param_bytes"] + opt_b + extra,
                   "memory_items": len(mem), "memory_capacity": mem.capacity, "item_bytes": item,
                   "memory_bytes": mem.nbytes(), "model_bytes": module_bytes(ctx.model) + module_bytes(ctx.avm),
                   "device": str(tr.device)}
            if "cuda_peak_bytes" in stats:
                row["cuda_peak_bytes"] = stats["cuda_peak_bytes"]
            rows.append(row)
        del trainers, feeds
    return pd.DataFrame(rows)


def ratios(df: pd.DataFrame, num: str = "stella", den: str = "derpp",
           memory_col: str | None = None) -> dict:
    """``memory`` and ``throughput`` ratios num/den of a :func:`measure_methods` frame
    (memory: ``cuda_peak_bytes`` when measured on CUDA, else ``peak_bytes``)."""
    t = df.set_index("method")
    for m in (num, den):
        if m not in t.index:
            raise KeyError(f"method {m!r} not in the efficiency frame (have {list(t.index)})")
    col = memory_col or ("cuda_peak_bytes" if "cuda_peak_bytes" in t.columns else "peak_bytes")
    return {"memory": float(t.at[num, col] / t.at[den, col]),
            "throughput": float(t.at[num, "throughput"] / t.at[den, "throughput"]), "memory_col": col}



def memory_column(eff: pd.DataFrame) -> str:
    """``cuda_peak_bytes`` when measured on CUDA, else ``peak_bytes``."""
    return "cuda_peak_bytes" if "cuda_peak_bytes" in eff.columns else "peak_bytes"


def cost_table(eff: pd.DataFrame) -> pd.DataFrame:
    """Per method: batch, median step time, throughput and the parts of the peak training memory."""
    cols = ["batch_size", "step_s", "throughput", "saved_bytes", "param_bytes", "optimizer_bytes", "extra_bytes",
            memory_column(eff)]
    return eff.set_index("method")[cols]


def cost_formats(eff: pd.DataFrame) -> dict:
    """How :func:`cost_table`'s columns are shown: seconds, samples/s, bytes as KiB / MiB."""
    return {"step_s": "{:.4f}", "throughput": "{:.1f}",
            **{c: fmt_bytes for c in ("saved_bytes", "param_bytes", "optimizer_bytes", "extra_bytes", memory_column(eff))}}


MEMORY_VIEW_FORMATS = {**{c: "{:.2f}" for c in ("weights, grads, Adam, batches (GB)", "activations (GB)", "total (GB)",
                                                 "paper GB")},
                       **{c: "{:.3f}" for c in ("/ DER++", "/ Finetune", "paper / DER++", "paper / Finetune")}}
REHEARSAL_FORMATS = {"item_bytes": fmt_bytes, "memory_bytes": fmt_bytes, "budget (capacity x item)": fmt_bytes,
                     "bytes / DER++": "{:.3f}", "bytes over ER (%)": "{:+.1f}", "extra model bytes": fmt_bytes,
                     "extra model / backbone + AVM": "{:.2f}"}


def gpu_section(mem: pd.DataFrame, directory: str | Path = DEFAULT_DIR):
    """Table 2 as ``benchmarks/paper_gpu.sh`` measured it on a GPU (its device and date), beside the memory
    counted at the same geometry for the same method and reading (``mem``: :func:`paper_geometry_memory`);
    a one-line Markdown when the script has not run on a GPU."""
    gpu = gpu_table2(directory)
    if gpu is None:
        return Markdown("*No GPU figures: `benchmarks/paper_gpu.sh` has not run on a GPU for this build* (every number "
                        "of the book comes from the CPU; the counts above need no GPU).")
    counted = mem.set_index(["method", "reading"])["total_bytes"] / 1e9
    view = gpu.set_index(["method", "reading"])
    col = "cuda_peak_mb" if "cuda_peak_mb" in view.columns else "peak_mb"
    out = pd.DataFrame({"counted (GB)": counted.reindex(view.index), "GPU peak (GB)": view[col] / 1024,
                        "GPU throughput": view["throughput"], "batch": view["batch_size"]})
    out.index = [f"{paper.label(m)} ({'' if r == '-' else r + ', '}B={int(b)})" for (m, r), b in
                 zip(out.index, out["batch"])]
    return show(out.drop(columns="batch"), digits=2,
                caption=f"Table 2 measured on {gpu['device'].iloc[0]} ({gpu['date'].iloc[0]}, torch "
                        f"{gpu['torch'].iloc[0]}) by benchmarks/paper_gpu.sh at the {gpu['preset'].iloc[0]} preset: "
                        "CUDA's peak memory and the throughput (samples/s) beside the bytes counted at the same geometry.")


EFFICIENCY_COLUMNS = ("memory (MiB)", "memory (GB)", "memory / DER++", "throughput", "throughput / DER++")


def ratio(rounds: pd.DataFrame, col: str, a: str, b: str) -> pd.Series:
    """Per measurement round (``round`` column of the rounds frame): ``col`` of method ``a`` over method ``b``'s."""
    t = rounds.pivot_table(index="round", columns="method", values=col)
    return t[a] / t[b]


def table2(eff: pd.DataFrame, acc: pd.DataFrame, methods: Iterable[str], preset: str,
           part: str = "all", rounds: pd.DataFrame | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Table 2, ours beside the paper's: A/F (``acc``: :func:`stella.report.tables.af_table` means),
    memory (ours MiB, the paper's GB), throughput, and both relative to DER++. Rows are labelled
    with their batch size; returns the side-by-side frame and the rows not to rank (STELLA++).
    ``part``: "all", "accuracy" (the A/F columns) or "efficiency" (memory and throughput), two tables
    that each fit a 1280 px page. With ``rounds`` (the rounds ``eff`` is the median of), each "/ DER++"
    column is the mean over rounds of the per-round ratio: the number chapter 03's claims judge."""
    if part not in ("all", "accuracy", "efficiency"):
        raise ValueError(f"part: 'all', 'accuracy' or 'efficiency', got {part!r}")

    view = eff.set_index("method")
    col = memory_column(eff)
    ours = acc.join(view[[col, "throughput"]])
    ours["memory (MiB)"] = ours.pop(col) / 2**20
    for c, base, raw in (("memory / DER++", "memory (MiB)", col), ("throughput / DER++", "throughput", "throughput")):
        if "derpp" not in ours.index:
            ours[c] = float("nan")
        elif rounds is not None:
            ours[c] = pd.Series({m: ratio(rounds, raw, m, "derpp").mean() for m in ours.index if m in view.index})
        else:
            ours[c] = ours[base] / ours.at["derpp", base]
    full = paper.table2().set_index("method")
    theirs = full.drop(columns="source").reindex(list(methods)).rename(columns={"gpu_mem_gb": "memory (GB)"})
    theirs["memory / DER++"] = theirs["memory (GB)"] / full.at["derpp", "gpu_mem_gb"]
    theirs["throughput / DER++"] = theirs["throughput"] / full.at["derpp", "throughput"]

    def label(m):
        return f"{paper.label(m)} (B={int(view.at[m, 'batch_size'])})"

    if part != "all":
        pick = (lambda c: c in EFFICIENCY_COLUMNS) if part == "efficiency" else (lambda c: c not in EFFICIENCY_COLUMNS)
        ours, theirs = ours[[c for c in ours.columns if pick(c)]], theirs[[c for c in theirs.columns if pick(c)]]
    sbs = side_by_side(ours.rename(index=label), theirs.rename(index=label), f"ours ({preset})", "paper T2")
    order = [c for c in ours.columns if c not in EFFICIENCY_COLUMNS] + list(EFFICIENCY_COLUMNS)   # MiB beside GB
    name = lambda col: col[:-1] if len(col) > 2 else col[0]                                        # noqa: E731
    sbs = sbs[sorted(sbs.columns, key=lambda col: order.index(name(col)) if name(col) in order else len(order))]
    return sbs, [label(m) for m in ("stella++",) if m in view.index]


def rehearsal_table(eff: pd.DataFrame) -> pd.DataFrame:
    """Rehearsal memory per method: capacity (clips), bytes per clip, bytes held, the byte budget, and
    instances and bytes relative to DER++ (section 5.2)."""
    rm = eff.set_index("method")[["memory_capacity", "item_bytes", "memory_bytes"]].copy()
    rm["budget (capacity x item)"] = rm["memory_capacity"] * rm["item_bytes"]
    if "derpp" in rm.index:
        rm["instances / DER++"] = rm["memory_capacity"] / rm.at["derpp", "memory_capacity"]
        rm["bytes / DER++"] = rm["memory_bytes"] / rm.at["derpp", "memory_bytes"]
    if "er" in rm.index:
        rm["bytes over ER (%)"] = 100 * (rm["memory_bytes"] / rm.at["er", "memory_bytes"] - 1)
    view = eff.set_index("method")
    rm["extra model bytes"] = view["extra_bytes"]
    rm["extra model / backbone + AVM"] = view["extra_bytes"] / view["model_bytes"]
    return rm


def paper_rehearsal_table() -> pd.DataFrame:
    """Section 5.2's memory numbers (:data:`stella.report.paper_numbers.MEMORY_GB`), the ones
    :func:`rehearsal_sentences` sets ours beside."""
    gb = paper.MEMORY_GB
    return pd.DataFrame([
        {"what": "STELLA's extra rehearsal bytes over raw clips", "GB": gb["stella_extra"],
         "of (GB)": f"{gb['rehearsal_memory']:.2f}", "share (%)": f"{100 * gb['stella_extra'] / gb['rehearsal_memory']:+.1f}"},
        {"what": "CLS-ER's extra models", "GB": gb["clser_extra"], "of (GB)": "", "share (%)": ""},
        {"what": "ESMER's extra model", "GB": gb["esmer_extra"], "of (GB)": "", "share (%)": ""}])


def rehearsal_sentences(eff: pd.DataFrame) -> list[str]:
    """Section 5.2's memory statements measured, read off :func:`rehearsal_table`: STELLA+'s instances per byte,
    STELLA's extra bytes, CLS-ER's and ESMER's extra models (the paper's numbers from
    :mod:`stella.report.paper_numbers`)."""
    view = rehearsal_table(eff)
    out = []
    if {"stella+", "er"} <= set(view.index):
        x = view.at["stella+", "memory_capacity"] / view.at["er", "memory_capacity"]
        y = view.at["stella+", "memory_bytes"] / view.at["er", "memory_bytes"]
        out.append(f"STELLA+ holds {x:.2f}x the instances of ER in {y:.3f}x the bytes; more instances in no more "
                   f"bytes: {'yes' if x > 1 and y <= 1.0 else 'no'}; about twice as many (>= 1.8x): "
                   f"{'yes' if x >= 1.8 else 'no'}")
    if {"stella", "er"} <= set(view.index):
        gb = paper.MEMORY_GB
        out.append(f"STELLA's extra rehearsal bytes (queries, scores, DER++ targets) over ER's raw clips: ours "
                   f"{view.at['stella', 'bytes over ER (%)']:+.1f} %, paper {100 * gb['stella_extra'] / gb['rehearsal_memory']:+.1f} % "
                   f"({gb['stella_extra']} / {gb['rehearsal_memory']} GB)")
    for m, k in (("clser", "clser_extra"), ("esmer", "esmer_extra")):
        if m in view.index:
            out.append(f"{paper.label(m)} extra model bytes: ours {fmt_bytes(view.at[m, 'extra model bytes'])} "
                       f"({view.at[m, 'extra model / backbone + AVM']:.2f}x the backbone + AVM), "
                       f"paper {paper.MEMORY_GB[k]} GB")
    return out


TABLE2_METHODS = ("finetune", "er", "mir", "derpp", "gmed", "clser", "lump", "esmer", "stella", "stella+", "stella++")


def paper_geometry_memory(methods: Iterable[str] = TABLE2_METHODS, results_dir: str | None = None,
                          preset: str = "paper", batch_size: int | None = None) -> pd.DataFrame:
    """Table 2's training memory counted at the paper's geometry: one tidy row per (method, reading).

    ``preset`` "paper" is ViT-B, 4 frames of 224 x 224, 1024 x 128 fbank frames; the batch is the
    paper's Table 2 batch (9; STELLA++ 1.66x = 15) unless ``batch_size``. Counted without compute by
    :func:`stella.continual.memory_count.count_methods` (both ``selection.mask_of`` readings for the
    patch-selecting methods). Columns: ``method, reading, batch_size``, the components (bytes),
    ``total_bytes``, ``total_gb``, ``/ DER++`` and ``/ Finetune`` (total over that method's total),
    ``paper_gb``, ``paper / DER++``, ``paper / Finetune``. With ``results_dir`` the frame is kept in
    ``<results_dir>/memory-count/`` (one file per methods, preset, batch and package version)."""
    methods = list(methods)
    batch = batch_size or paper.TABLE2_BATCH["default"]
    sets = [f"continual.batch_size={batch}"]

    def compute() -> pd.DataFrame:
        return count_methods(preset, methods, sets).assign(torch=torch.__version__)

    if results_dir is None:
        df = compute()
    else:

        params = {"methods": methods, "preset": preset, "batch_size": batch, "version": __version__}
        df = cached_frame(Path(results_dir) / "memory-count", "paper-geometry", params, compute)
    df = df.copy()
    df["total_gb"] = df["total_bytes"] / 1e9
    for label, m in (("/ DER++", "derpp"), ("/ Finetune", "finetune")):
        base = df.loc[df["method"] == m, "total_bytes"]
        df[label] = df["total_bytes"] / base.iloc[0] if len(base) else float("nan")
    t2 = paper.table2().set_index("method")["gpu_mem_gb"]
    df["paper_gb"] = df["method"].map(t2)
    df["paper / DER++"] = df["paper_gb"] / t2["derpp"]
    df["paper / Finetune"] = df["paper_gb"] / t2["finetune"]
    return df


def paper_memory_view(df: pd.DataFrame) -> pd.DataFrame:
    """The reader's view of :func:`paper_geometry_memory` (8 columns, fits a 1280 px page): GB of the
    fixed part (weights, gradients, Adam, extra models, batches) and of the activations, the total,
    its ratios beside the paper's. Rows: method (reading, batch)."""
    gb = 1e9
    fixed = df[["param_bytes", "grad_bytes", "optimizer_bytes", "extra_bytes", "batch_bytes",
                "rehearsal_batch_bytes"]].sum(axis=1)
    view = pd.DataFrame({
        "weights, grads, Adam, batches (GB)": fixed / gb, "activations (GB)": df["saved_bytes"] / gb,
        "total (GB)": df["total_bytes"] / gb, "/ DER++": df["/ DER++"], "/ Finetune": df["/ Finetune"],
        "paper GB": df["paper_gb"], "paper / DER++": df["paper / DER++"], "paper / Finetune": df["paper / Finetune"]})
    view.index = [f"{paper.label(m)} ({'' if r == '-' else r + ', '}B={int(b)})"
                  for m, r, b in zip(df["method"], df["reading"], df["batch_size"])]
    return view


def geometry_note(preset: str) -> str:
    """``preset``'s model and clip geometry in words, e.g. for a caption."""
    cfg = load_config(preset)
    d, m = cfg.data, cfg.model
    return (f"model size {m.size} (embed dim {m.embed_dim}), {d.num_frames} frames of {d.image_size} × {d.image_size}, "
            f"{d.audio_frames} × {d.mel_bins} fbank frames, mask ratio {m.mask_ratio}")
