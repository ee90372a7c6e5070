"""Is a training step at a preset compute-bound? FLOPs, achieved GFLOP/s, matmul share, and what
torch.compile buys, measured side by side in one process.

    python -m benchmarks.bench_step --preset cpu [--batch 16 32] [--compile]

One pre-training step of the backbone (Eq. 8-9: forward, backward, AdamW) on random clips at the
preset's geometry and ``run.num_threads`` threads: the FLOPs of forward + backward
(``torch.utils.flop_counter``), the eager step time (median of ``--steps``), the GFLOP/s that makes,
and the share of the profiled time spent in matrix products (``aten::mm`` / ``addmm`` / ``bmm``).
A step whose time is mostly matrix products at a high GFLOP/s is compute-bound: running several
seeds as one batched model (``torch.func``) or cutting Python overhead cannot make it much cheaper.
``--compile`` adds the same step under ``torch.compile`` (the first step's seconds include compiling;
inductor keeps an on-disk cache, so a second process pays less). Figures are printed, nothing asserted.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time


def step_figures(preset: str, batch: int, steps: int, compile_: bool) -> dict[str, float]:
    import torch
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.flop_counter import FlopCounterMode

    from stella.config import load_config
    from stella.models import build_model

    cfg = load_config(preset)
    d = cfg.data
    model, _ = build_model(cfg)
    gen = torch.Generator().manual_seed(0)
    audio = torch.randn(batch, d.audio_frames, d.mel_bins, generator=gen)                     # (B, t, f)
    video = torch.randn(batch, d.num_frames, 3, d.image_size, d.image_size, generator=gen)   # (B, T, 3, H, W)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def loss_of(a, v):
        return model(a, v, generator=gen).loss

    def timed(fn) -> tuple[float, float]:
        t0 = time.perf_counter()
        fn(audio, video).backward()
        opt.step()
        opt.zero_grad()
        first = time.perf_counter() - t0
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            fn(audio, video).backward()
            opt.step()
            opt.zero_grad()
            times.append(time.perf_counter() - t0)
        return first, statistics.median(times)

    with FlopCounterMode(display=False) as fc:
        loss_of(audio, video).backward()
    opt.zero_grad()
    flops = fc.get_total_flops()
    _, eager = timed(loss_of)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            loss_of(audio, video).backward()
            opt.step()
            opt.zero_grad()
    ops = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ops)
    mm = sum(e.self_cpu_time_total for e in ops if e.key in ("aten::mm", "aten::addmm", "aten::bmm"))
    out = {"GFLOP per step (forward + backward)": flops / 1e9, "eager step (ms)": eager * 1e3,
           "achieved GFLOP/s": flops / eager / 1e9, "matrix products (% of op time)": 100 * mm / total}
    if compile_:
        first, compiled = timed(torch.compile(loss_of))
        out["compiled: first step incl. compiling (s)"] = first
        out["compiled step (ms)"] = compiled * 1e3
        out["compiled / eager"] = compiled / eager
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--batch", type=int, nargs="*", default=[16, 32], help="16: a finetune step; 32: with a replay batch")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--compile", action="store_true", help="also time the step under torch.compile")
    args = ap.parse_args(argv)
    from stella.config import load_config

    threads = load_config(args.preset).run.num_threads
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    import torch

    if threads:
        torch.set_num_threads(threads)
    print(f"one backbone step at {args.preset} on {torch.get_num_threads()} thread(s), median of {args.steps}:")
    rows = {b: step_figures(args.preset, b, args.steps, args.compile) for b in args.batch}
    width = max(len(k) for r in rows.values() for k in r) + 2
    print(f"{'':<{width}}" + "".join(f"{f'batch {b}':>12}" for b in rows))
    for k in next(iter(rows.values())):
        print(f"{k:<{width}}" + "".join(f"{r[k]:12.2f}" for r in rows.values()))


if __name__ == "__main__":
    main()
