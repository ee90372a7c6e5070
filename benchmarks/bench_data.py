"""Data-layer throughput: clips/s for generation, batches/s for loading (batch 16).

    python -m benchmarks.bench_data --preset cpu
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import ConcatDataset, DataLoader

from stella.config import load_config
from stella.data import build_benchmark


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=3, help="loading passes over the (cached) train sets")
    ap.add_argument("overrides", nargs="*", help="section.key=value")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = load_config(args.preset, args.overrides)
    t0 = time.perf_counter()
    bench = build_benchmark(cfg)
    t_build = time.perf_counter() - t0
    datasets = [ds for t in bench.tasks for ds in (t.train, t.eval)]
    n = sum(len(ds) for ds in datasets)
    t0 = time.perf_counter()
    for ds in datasets:
        for i in range(len(ds)):
            ds[i]
    gen = n / (time.perf_counter() - t0)
    train = ConcatDataset([t.train for t in bench.tasks])
    batches = 0
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        for t in bench.tasks:
            t.train.set_epoch(epoch)
        for _ in DataLoader(train, batch_size=args.batch_size, shuffle=True,
                            generator=torch.Generator().manual_seed(epoch)):
            batches += 1
    load = batches / (time.perf_counter() - t0)
    d = cfg.data
    print(f"preset={cfg.preset} dataset={d.dataset} clips={n} geometry: T={d.num_frames} {d.image_size}px "
          f"fbank {d.audio_frames}x{d.mel_bins} augment={d.augment}")
    print(f"build (incl. norm stats) {t_build:.2f} s")
    print(f"generation: {gen:.0f} clips/s (first pass, render + fbank + cache)")
    print(f"loading:    {load:.1f} batches/s (batch {args.batch_size}, cached clips, augmentation on the fly)")
    return {"build_s": t_build, "clips_per_s": gen, "batches_per_s": load}


if __name__ == "__main__":
    main()
