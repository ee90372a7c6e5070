"""Does the verdict on STELLA survive its controls? The table of issue 19 (printed, nothing asserted).

    python -m benchmarks.bench_controls --preset cpu --seeds 3 [--results DIR] [--parts budget,table,diagnosis]
    python -m benchmarks.bench_controls --preset cpu --seeds 3 --parts sparsity     # one pre-training stage per level

budget     visible audio / video tokens per clip of every row (stella.selection.budget).
table      every control against DER++, paired over the training seeds (A and F, avg recall %, A→V and V→A;
           95 % t-intervals of stella.report.claims.paired_verdict), then the pairs the issue asks about
           (STELLA vs Random at the equal budget, Oracle vs Random, the baselines at STELLA's budget vs their own).
           "Same budget" is the book's reading (``selection.mask_of: selected``: mask 0.5 of STELLA's rho = 0.5
           selection, half the baselines' visible tokens); "equal budget" keeps rho = 0.75 and masks down to the
           baselines' count (``mask_of: full``: 16 / 32 visible drawn from 24 / 48 selected at the cpu geometry).
diagnosis  RCA against the ground truth (stella.eval.diagnosis) for the trained STELLA and RCA runs of the first
           seed: C on the sounding / other video patches and active / silent audio patches, with no past query
           and with the run's final memory, under the paper's Eq. 4 temperature and the authors'; clips of the last
           task's evaluation split.
sparsity   STELLA, Random and the Oracle at three levels of the benchmark's sparsity (data.num_distractors,
           data.object_scale, data.active_fraction), each level with its own pre-training stage: STELLA - Random
           and Oracle - Random with their intervals, beside the measured sparsity of the level's clips.
Runs are trained one at a time (single-threaded at the cpu preset) into --results when missing there.
"""
from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from stella.config import load_config
from stella.continual import METHODS
from stella.continual.methods.oracle import truth_scores
from stella.data import build_benchmark, sparsity
from stella.eval.diagnosis import c_values, memory_queries, rca_frame, rca_summary
from stella.report.claims import paired_verdict
from stella.report.runs import get_run, load_trained, run_config, seeds_for
from stella.selection.budget import visible_tokens

EQUAL = ["selection.rho_a=0.75", "selection.rho_v=0.75", "selection.mask_of=full"]
BUDGET = ["continual.visible_budget=stella"]
RHO1 = ["selection.rho_a=1.0", "selection.rho_v=1.0"]
ROWS = {   # label: (method, overrides)
    "DER++": ("derpp", []),
    "ER": ("er", []),
    "STELLA, same budget (book)": ("stella", []),
    "Random, same budget": ("random", []),
    "RCA only, same budget": ("rca", []),
    "Oracle, same budget": ("oracle", []),
    "Anti-oracle, same budget": ("anti-oracle", []),
    "STELLA, rho = 1": ("stella", RHO1),
    "STELLA, equal budget": ("stella", EQUAL),
    "Random, equal budget": ("random", EQUAL),
    "Oracle, equal budget": ("oracle", EQUAL),
    "DER++ at STELLA's budget": ("derpp", BUDGET),
    "ER at STELLA's budget": ("er", BUDGET),
}
PAIRS = [("STELLA, equal budget", "Random, equal budget"), ("Oracle, same budget", "Random, same budget"),
         ("Oracle, equal budget", "Random, equal budget"), ("Oracle, same budget", "Anti-oracle, same budget"),
         ("STELLA, equal budget", "STELLA, same budget (book)"), ("STELLA, same budget (book)", "DER++ at STELLA's budget"),
         ("DER++ at STELLA's budget", "DER++"), ("ER at STELLA's budget", "ER")]
SPARSITY = {   # level: overrides (each its own pre-training stage; "book" is the cpu book's benchmark)
    "dense": ["data.num_distractors=0", "data.object_scale=1.75", "data.active_fraction=1.0"],
    "book": [],
    "sparse": ["data.num_distractors=6", "data.object_scale=0.75", "data.active_fraction=0.25"],
}
DIRS = ("A→V", "V→A")


def _cell(v: dict) -> str:
    return f"{v['difference']:+5.1f} [{v['ci_low']:+5.1f}, {v['ci_high']:+5.1f}]"


def scores(preset: str, rows: dict, seeds: list[int], results: str, extra: list[str] = ()) -> pd.DataFrame:
    """One row per (label, seed, direction): A and F of the avg recall, training what the store lacks."""
    out = []
    for label, (method, ov) in rows.items():
        for s in seeds:
            t0 = time.perf_counter()
            rd = get_run(preset, method, s, [*extra, *ov], results)
            took = time.perf_counter() - t0
            if took > 2:
                print(f"  trained {label}, seed {s}: {took:.0f} s", flush=True)
            for r in rd.load_json("summary"):
                if r["metric"] == "avg":
                    out.append({"label": label, "seed": s, "direction": r["direction"], "A": r["A"], "F": r["F"]})
    return pd.DataFrame(out)


def paired(df: pd.DataFrame, ours: str, other: str, direction: str, col: str) -> dict:
    a = df[(df.label == ours) & (df.direction == direction)].set_index("seed")[col]
    b = df[(df.label == other) & (df.direction == direction)].set_index("seed")[col]
    seeds = sorted(set(a.index) & set(b.index))
    return paired_verdict(a.loc[seeds].to_numpy(), b.loc[seeds].to_numpy())


def budget_part(preset: str) -> None:
    print(f"\nvisible tokens per clip at {preset} (kept / visible, audio / video):")
    for label, (method, ov) in ROWS.items():
        v = visible_tokens(run_config(preset, method, None, ov), METHODS[method].strategy)
        print(f"  {label:<30} kept {v['kept_a']:>3} / {v['kept_v']:<3}  visible {v['visible_a']:>3} / {v['visible_v']:<3}")


def table_part(preset: str, seeds: list[int], results: str) -> None:
    df = scores(preset, ROWS, seeds, results)
    print(f"\ncontrols against DER++ at {preset}, {len(seeds)} seeds {seeds}, paired, 95 % t-interval (avg recall %):")
    print(f"  {'run':<30} {'A A→V':>10} {'A vs DER++ A→V':>24} {'A vs DER++ V→A':>24} {'F vs DER++ A→V':>24}")
    for label in ROWS:
        mean_a = df[(df.label == label) & (df.direction == "A→V")]["A"].mean()
        cells = [_cell(paired(df, label, "DER++", d, "A")) for d in DIRS] + [_cell(paired(df, label, "DER++", "A→V", "F"))]
        print(f"  {label:<30} {mean_a:>10.1f} " + " ".join(f"{c:>24}" for c in cells))
    same = [get_run(preset, "stella", s, RHO1, results).load_json("summary")
            == get_run(preset, "derpp", s, [], results).load_json("summary") for s in seeds]
    print(f"\nnull control: STELLA with rho = 1 has DER++'s summary.json, number for number, in {sum(same)} of "
          f"{len(same)} seeds")
    print("\npairs (first minus second):")
    for ours, other in PAIRS:
        cells = [_cell(paired(df, ours, other, d, "A")) for d in DIRS] + [_cell(paired(df, ours, other, "A→V", "F"))]
        print(f"  {ours + ' - ' + other:<62} A→V {cells[0]}  V→A {cells[1]}  F(A→V) {cells[2]}")


def diagnosis_part(preset: str, seed: int, results: str) -> None:
    for method in ("stella", "rca"):
        rd = get_run(preset, method, seed, [], results)
        cfg = rd.config
        model, avm = load_trained(rd)
        ds = build_benchmark(cfg).tasks[-1].eval
        frame = rca_frame(model, avm, ds, cfg, past={"none": None, "memory": memory_queries(rd.path)}, seed=seed)
        s = rca_summary(frame)
        print(f"\nRCA diagnosis of the {method} run, seed {seed}, {len(ds)} clips of the last task (eval split), "
              f"means over clips (C = expected excluded share):")
        cols = ["past", "temperature", "judged_sounding", "C_sounding", "C_other_video", "C_active", "C_silent_audio",
                "kept_sounding_rca", "kept_sounding_stella", "kept_sounding_random", "kept_active_rca",
                "kept_active_stella", "kept_active_random"]
        print(s[cols].round(3).to_string(index=False))
        cv = c_values(model, avm, ds, cfg, past={"memory": memory_queries(rd.path)}, seed=seed)
        judged = cv[cv.C > 0].assign(group=lambda f: f.modality + ":" + f.target.map({True: "target", False: "other"}))
        q = judged.groupby(["temperature", "group"])["C"].quantile([0.1, 0.5, 0.9]).unstack().round(3)
        print("C of the judged patches with the memory's past queries (quantiles 0.1 / 0.5 / 0.9; target = sounding "
              "video / active audio):")
        print(q.to_string())


def sparsity_part(preset: str, seeds: list[int], results: str) -> None:
    rows = {"STELLA": ("stella", []), "Random": ("random", []), "Oracle": ("oracle", [])}
    print(f"\nsparsity at {preset}, {len(seeds)} seeds (each level its own pre-training stage):")
    for level, ov in SPARSITY.items():
        cfg = load_config(preset, ov)
        ds = build_benchmark(cfg).tasks[0].eval
        sp = sparsity(ds, cfg.model.patch_size)
        items = [ds[i] for i in range(len(ds))]
        s_a, s_v = truth_scores(torch.stack([x["mask"] for x in items]), torch.stack([x["active"] for x in items]), cfg)
        df = scores(preset, rows, seeds, results, ov)
        cells = {f"{a} - Random {d}": _cell(paired(df, a, "Random", d, "A")) for a in ("STELLA", "Oracle") for d in DIRS}
        print(f"  {level:<7} object patches {sp['video_patches']:.2f}, sounding-object patches while it sounds "
              f"{float((s_v > 0).double().mean()):.2f}, active audio frames {sp['audio_frames']:.2f}"
              f" ({' '.join(ov) or 'the book'})")
        for k, v in cells.items():
            print(f"      {k:<22} {v}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--results", default="results")
    ap.add_argument("--parts", default="budget,table,diagnosis")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - {"budget", "table", "diagnosis", "sparsity"}
    if unknown:
        raise SystemExit(f"--parts: unknown part(s) {', '.join(sorted(unknown))} (budget, table, diagnosis, sparsity)")
    seeds = seeds_for(args.preset, args.seeds)
    t0 = time.perf_counter()
    if "budget" in parts:
        budget_part(args.preset)
    if "table" in parts:
        table_part(args.preset, seeds, args.results)
    if "diagnosis" in parts:
        diagnosis_part(args.preset, seeds[0], args.results)
    if "sparsity" in parts:
        sparsity_part(args.preset, seeds, args.results)
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
