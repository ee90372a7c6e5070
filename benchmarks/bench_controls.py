"""Does the verdict on STELLA survive its controls? Chapter 04b's tables as plain text (nothing asserted).

    python -m benchmarks.bench_controls --preset cpu                       # the chapter's seeds (5 and 3 at cpu)
    python -m benchmarks.bench_controls --preset cpu --seeds 3 --parts budget,table,efficiency
    python -m benchmarks.bench_controls --preset cpu --parts sparsity,diagnosis

budget     visible and kept audio / video tokens per clip of every control (stella.report.chapters.controls.budget_table).
table      every control against DER++, paired over the seeds both have (95 % t-interval, avg recall %, A of both
           directions and F of A→V), the null control, then the chapter's pairs judged (Holm within each family).
efficiency E = (X - Random) / (Oracle - Random) of STELLA, LPIS only and RCA only under both readings (bootstrap
           interval over seeds), with the selection's and the oracle's gains over Random.
sparsity   STELLA - Random, Oracle - Random and STELLA's E at each sparsity level (each level its own pre-training stage).
diagnosis  RCA against the ground truth for the STELLA and RCA-only runs of the first seed.
Runs the store lacks are trained one at a time into --results.
"""
from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from stella.report import claims as C
from stella.report.chapters import controls as CT
from stella.report.chapters import controls_efficiency as CE
from stella.report.chapters import controls_measures as CM
from stella.report.parameters import notebook_setup
from stella.report.stats import paired_verdict

PARTS = ("budget", "table", "efficiency", "sparsity", "diagnosis")


def _cell(v: dict) -> str:
    return f"{v['difference']:+5.1f} [{v['ci_low']:+5.1f}, {v['ci_high']:+5.1f}]"


def against_derpp(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per control: its mean A (A→V), seeds, and the paired difference to DER++ in A (both
    directions) and F (A→V) over the seeds both have."""
    rows = []
    for label in dict.fromkeys(scores["label"]):
        row = {"run": label, "A→V A": scores[(scores.label == label) & (scores.direction == "A→V")]["A"].mean()}
        for value, d in (("A", "A→V"), ("A", "V→A"), ("F", "A→V")) if label != "DER++" else ():
            t = CT.seed_frame(scores, value, d)[[label, "DER++"]].dropna()
            row["seeds"] = len(t)
            row[f"{value} {d} vs DER++"] = _cell(paired_verdict(t[label].to_numpy(), t["DER++"].to_numpy()))
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--seeds", type=int, default=None, help="seeds of every row (default: the chapter's)")
    ap.add_argument("--results", default="results")
    ap.add_argument("--parts", default="budget,table")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"--parts: unknown part(s) {', '.join(sorted(unknown))} ({', '.join(PARTS)})")
    nb = notebook_setup("04b_controls", args.preset, args.results, n_seeds=args.seeds, n_sweep_seeds=args.seeds,
                        n_sparsity_seeds=args.seeds)
    pd.set_option("display.width", 200)
    t0 = time.perf_counter()
    if "budget" in parts:
        print(f"\nvisible tokens per clip at {args.preset}:\n{CT.budget_table(args.preset).to_string(index=False)}")
    if "table" in parts:
        scores = CT.control_scores(nb)
        print(f"\ncontrols against DER++ at {args.preset}, paired, 95 % t-interval (avg recall %):")
        print(against_derpp(scores).round(2).to_string(index=False))
        null = CT.null_control(nb)
        print(f"\nnull control: STELLA with rho = 1 has DER++'s summary.json, number for number, in "
              f"{int(null['identical summary'].sum())} of {len(null)} seeds")
        judged = C.judge(CT.control_comparisons(scores))
        cols = ["family", "claim", "difference", "ci_low", "ci_high", "p_holm", "n_seeds", "verdict"]
        print("\nthe chapter's pairs (first minus second, + = the first side's direction; Holm within each family):")
        print(judged[cols].round(2).to_string(index=False))
    if "efficiency" in parts:
        print(f"\nselection efficiency E at {args.preset} (bootstrap over seeds; gains paired, 95 % t-interval):")
        rows = {k: v for k, v in CT.rows_for(args.preset).items() if k in CT.E_ROWS}
        print(CE.shown(CE.efficiency_table(CT.scores(nb, rows, lambda _: nb.seeds))).to_string(index=False))
    if "sparsity" in parts:
        print(f"\nsparsity levels at {args.preset}:\n{CM.sparsity_levels(args.preset).round(3).to_string(index=False)}")
        print(CE.sparsity_gains(CM.sparsity_scores(nb)).round(2).to_string(index=False))
    if "diagnosis" in parts:
        print(f"\nRCA diagnosis (seed {nb.seeds[0]}, last task's evaluation clips):")
        print(CM.diagnosis(nb).round(3).to_string(index=False))
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
