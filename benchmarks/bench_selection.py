"""Time STELLA's selection (Eq. 2-5, Algorithm 1) per batch, batched vs a per-sample loop.

    python -m benchmarks.bench_selection --preset cpu
    python -m benchmarks.bench_selection --preset paper      # B=12, H=12, M=512, N=784, d=64

Inputs are random tensors of the preset's geometry (the AVM is not run). "batched" is
stella.selection (importance, pooled queries, RCA with a paired past query, sampling); "loop" runs
the same equations one sample at a time with torch.multinomial and the literal Algorithm 1 loop
from tests/test_selection_sampling.py. Prints milliseconds per batch (median of --repeat runs).
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import time
from pathlib import Path

import torch

from stella.config import load_config
from stella.selection import (correlation_scores, importance_scores, kappa, mu, past_query_set, pooled_queries,
                              select_audio, select_video)

GEOMETRY = {"cpu": None, "paper": dict(B=12, H=12, d=64, grid=(64, 8), N=784, chunk=4)}


def _naive_module():
    path = Path(__file__).resolve().parents[1] / "tests" / "test_selection_sampling.py"
    spec = importlib.util.spec_from_file_location("_selection_reference", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def geometry(preset: str) -> dict:
    if GEOMETRY.get(preset):
        return GEOMETRY[preset]
    cfg = load_config(preset)
    return dict(B=cfg.continual.batch_size, H=cfg.model.num_heads, d=cfg.model.embed_dim // cfg.model.num_heads,
                grid=cfg.audio_grid, N=cfg.num_video_patches, chunk=cfg.selection.chunk_size)


def batched(t: dict, g: torch.Generator, beta: float, rho: float, chunk: int, grid: tuple[int, int]):
    I_a, I_v = importance_scores(t["A_a"], t["A_v"])
    M, N = I_a.shape[1], I_v.shape[1]
    ka, kv = kappa(M, rho), kappa(N, rho)
    qa, ka_hat, keep_a = pooled_queries(t["q_a"], t["k_a"], I_a, ka)
    qv, kv_hat, keep_v = pooled_queries(t["q_v"], t["k_v"], I_v, kv)
    B = I_a.shape[0]
    C_a = correlation_scores(qv, ka_hat, keep_a, past_query_set(t["past_v"], B), M, beta)
    C_v = correlation_scores(qa, kv_hat, keep_v, past_query_set(t["past_a"], B), N, beta)
    return select_audio(I_a, C_a, grid, ka, chunk, g), select_video(I_v, C_v, kv, g)


def loop(t: dict, g: torch.Generator, beta: float, rho: float, chunk: int, grid: tuple[int, int], ref):
    out_a, out_v = [], []
    for b in range(t["A_a"].shape[0]):
        I_a = t["A_a"][b].softmax(-1).mean((0, 1))
        I_v = t["A_v"][b].softmax(-1).mean((0, 1))
        M, N = I_a.numel(), I_v.numel()
        ka, kv = kappa(M, rho), kappa(N, rho)
        C = {}
        for name, I, q, k, k_n, q_other, past, L in (("a", I_a, t["q_a"][b], t["k_a"][b], ka, "v", t["past_v"][b], M),
                                                     ("v", I_v, t["q_v"][b], t["k_v"][b], kv, "a", t["past_a"][b], N)):
            top = torch.argsort(I, descending=True)[:k_n]
            w = I[top] / I[top].sum()
            t[f"qhat_{name}"] = (q[:, top] * w[None, :, None]).sum(1)
            t[f"khat_{name}"], t[f"keep_{name}"], t[f"past_{name}_b"], t[f"L_{name}"] = k[:, top], top, past, L
        for name, other in (("a", "v"), ("v", "a")):
            c = torch.zeros(t[f"L_{name}"])
            for j, patch in enumerate(t[f"keep_{name}"].tolist()):
                share = 0.0
                for h in range(t["q_a"].shape[1]):
                    k_j = t[f"khat_{name}"][h, j]
                    cur = float(t[f"qhat_{other}"][h] @ k_j) / (beta * math.sqrt(k_j.numel()))
                    past = float(t[f"past_{other}_b"][h] @ k_j) / (beta * math.sqrt(k_j.numel()))
                    share += 1.0 / (1.0 + math.exp(cur - past))
                c[patch] = share / t["q_a"].shape[1]
            C[name] = c
        out_a += ref.naive_select_audio(I_a[None], C["a"][None], grid, ka, chunk, g)
        out_v.append(ref.naive_select_video(I_v[None], C["v"][None], kv, g)[0])
    return out_a, out_v


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--loop-repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    geo = geometry(args.preset)
    B, H, d, grid, N, chunk = geo["B"], geo["H"], geo["d"], geo["grid"], geo["N"], geo["chunk"]
    M, beta, rho = grid[0] * grid[1], 0.4, 0.5
    g = torch.Generator().manual_seed(0)
    t = {n: torch.randn(B, H, L, d, generator=g) for n, L in (("q_a", M), ("k_a", M), ("q_v", N), ("k_v", N))}
    t["A_a"], t["A_v"] = mu(t["q_v"], t["k_a"], beta), mu(t["q_a"], t["k_v"], beta)
    t["past_a"], t["past_v"] = torch.randn(B, H, d, generator=g), torch.randn(B, H, d, generator=g)
    ref = _naive_module()
    with torch.no_grad():
        ms_b = timed(lambda: batched(t, g, beta, rho, chunk, grid), args.repeat)
        ms_i = timed(lambda: importance_scores(t["A_a"], t["A_v"]), args.repeat)
        ms_l = timed(lambda: loop(dict(t), g, beta, rho, chunk, grid, ref), args.loop_repeat)
    print(f"selection benchmark, preset {args.preset}: B={B} H={H} d={d} M={M} ({grid[0]}x{grid[1]}) N={N} "
          f"L_c={chunk} threads={torch.get_num_threads()}")
    print(f"  batched (stella.selection): {ms_b:9.2f} ms/batch")
    print(f"    of which Eq. 2 softmax  : {ms_i:9.2f} ms/batch")
    print(f"  per-sample loop           : {ms_l:9.2f} ms/batch   ({ms_l / ms_b:.1f}x)")
    return {"preset": args.preset, "batched_ms": ms_b, "importance_ms": ms_i, "loop_ms": ms_l}


if __name__ == "__main__":
    main()
