"""Table 2 measured: throughput and peak training memory of every method, side by side in one run.

    python -m benchmarks.bench_methods --preset cpu [--device cuda] [--steps 10] [--set continual.batch_size=48]

Peak memory = saved-for-backward bytes + parameters + optimiser state + method extras (EMA
models), plus CUDA max_memory_allocated on a GPU; rehearsal memory bytes are reported apart.
The STELLA / DER++ ratios are the targets of the trainer issue (paper: 17.45/30.95 GB, 17.29/17.79).
"""
from __future__ import annotations

import argparse

import torch

from stella.continual import METHODS
from stella.report.efficiency_table import measure_methods, ratios
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
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    df = measure_methods(args.preset, args.methods, steps=args.steps, prefill=3, device=args.device,
                         overrides=args.set)
    mb = lambda c: (df[c] / 2**20).round(2)  # noqa: E731
    table = df[["method", "batch_size", "throughput"]].assign(
        peak_mb=mb("peak_bytes"), saved_mb=mb("saved_bytes"), extra_mb=mb("extra_bytes"),
        memory_items=df["memory_capacity"], rehearsal_mb=(df["item_bytes"] * df["memory_capacity"] / 2**20).round(2))
    print(f"preset {args.preset} {' '.join(args.set)}, device {args.device}, {args.steps} timed steps per method (median)")
    print(table.to_string(index=False))
    if {"stella", "derpp"} <= set(df["method"]):
        r = ratios(df)
        print(f"STELLA / DER++ memory {r['memory']:.3f} (paper {CLAIMS['memory_ratio_stella_derpp']:.3f}), "
              f"throughput {r['throughput']:.3f} (paper {CLAIMS['throughput_ratio_stella_derpp']:.3f})")


if __name__ == "__main__":
    main()
