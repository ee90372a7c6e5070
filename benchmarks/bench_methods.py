"""Table 2 measured: throughput and peak training memory of every method, side by side in one run.

    python -m benchmarks.bench_methods --preset cpu [--device cuda] [--steps 10] [--set continual.batch_size=48] [--alone]

Peak memory = saved-for-backward bytes + parameters + optimiser state + method extras (EMA
models), plus CUDA max_memory_allocated on a GPU (``cuda_peak_mb``); rehearsal memory bytes are
reported apart. Side by side (the default) the steps of the methods are interleaved, so throughput
ratios share the machine's state, but every trainer is alive at once and CUDA's peak counts them
all; ``--alone`` measures one method after another with only its trainer alive, so CUDA's peak is
that method's own.
The STELLA / DER++ ratios are the targets of the trainer issue (paper: 17.45/30.95 GB, 17.29/17.79).
"""
from __future__ import annotations

import argparse
import gc

import pandas as pd
import torch

from stella.continual import METHODS
from stella.report.chapters.efficiency_table import measure_methods, ratios
from stella.report.paper_numbers import CLAIMS


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--methods", nargs="*", default=[m for m in METHODS if m != "multitask"])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="config override for every method (repeatable)")
    ap.add_argument("--alone", action="store_true",
                    help="one method after another, only its trainer alive (CUDA's peak is its own)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    frames = []
    for group in ([[m] for m in args.methods] if args.alone else [args.methods]):
        frames.append(measure_methods(args.preset, group, steps=args.steps, prefill=3, device=args.device,
                                      overrides=args.set))
        gc.collect()                                  # the group's trainers are gone before the next one's peak
        if args.device == "cuda":
            torch.cuda.empty_cache()
    df = pd.concat(frames, ignore_index=True)
    mb = lambda c: (df[c] / 2**20).round(2)  # noqa: E731
    table = df[["method", "batch_size", "throughput"]].assign(
        peak_mb=mb("peak_bytes"), saved_mb=mb("saved_bytes"), extra_mb=mb("extra_bytes"),
        memory_items=df["memory_capacity"], rehearsal_mb=(df["item_bytes"] * df["memory_capacity"] / 2**20).round(2))
    if "cuda_peak_bytes" in df:
        table["cuda_peak_mb"] = mb("cuda_peak_bytes")
    print(f"preset {args.preset} {' '.join(args.set)}, device {args.device}, {args.steps} timed steps per method "
          f"(median), {'one method at a time' if args.alone else 'side by side'}")
    print(table.to_string(index=False))
    if {"stella", "derpp"} <= set(df["method"]):
        r = ratios(df)
        print(f"STELLA / DER++ memory {r['memory']:.3f} (paper {CLAIMS['memory_ratio_stella_derpp']:.3f}), "
              f"throughput {r['throughput']:.3f} (paper {CLAIMS['throughput_ratio_stella_derpp']:.3f})")


if __name__ == "__main__":
    main()
