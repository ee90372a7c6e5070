"""Does the embedded benchmark carry the paper's signal? The figures of issue 12, item 3 (nothing asserted).

    python -m benchmarks.bench_signal --preset cpu [--seeds 3] [--results results] [--threads 1]

1. The pre-training stage (section 5.1; stella.continual.pretrain), computed once into the run store
   (or read from it): its time, size and the losses it reaches.
2. After pre-training, on clips of classes no stage has trained on (``--unseen-tasks`` extra tasks of
   stella.data.unseen_tasks, 3 by default: 12 classes, 384 clips; one task's 4 classes and ~60 clips with
   sparse audio leave a +-12 %p interval on the audio share), STELLA's and the random selection drawn
   ``--draws`` times per clip: the share of the sounding object's video patches and of the active
   audio patches that STELLA's selection keeps, and the AUC of the AVM map (definitions:
   stella.eval.signal), beside a random selection / map and the target.
3. Continual runs from the pre-trained start, ``--seeds`` training seeds each (shared with the book's
   run store when --results is the book's): A and F (avg recall, %, both directions) of multitask,
   finetune, ER, DER++, STELLA and the Table 3 selections (random, LPIS-only, RCA-only), with chance,
   the seed std and the targets; STELLA against each of them as a paired difference over seeds.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from torch.utils.data import ConcatDataset

from stella.config import load_config
from stella.continual import resolve_method_config, run_experiment
from stella.continual.pretrain import ensure_pretrained, pretrain_log, pretrained_models
from stella.eval.retrieval import chance_recall
from stella.eval.signal import signal_frame, signal_summary

METHODS = ("multitask", "finetune", "er", "derpp", "stella", "random", "lpis", "rca")
DIRS = ("A→V", "V→A")


def _ci(x: pd.Series) -> str:
    x = x.dropna()
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else float("nan")
    return f"{100 * x.mean():5.1f} ± {100 * half:4.1f}"


def pretraining(cfg, root: str) -> None:
    t0 = time.perf_counter()
    ensure_pretrained(cfg, root, progress=cfg.run.progress)
    took = time.perf_counter() - t0
    _, s = pretrain_log(cfg, root)
    p = cfg.pretrain
    print(f"pre-training: {p.classes} reserved classes x {p.clips_per_class} clips, {p.steps} joint + {p.avm_steps} "
          f"AVM-only steps, batch {p.batch_size}; computed in {s['seconds']:.0f} s "
          f"({'this call' if took > 1 else 'cached'}), weights {s['weights_bytes'] / 2**20:.1f} MB")
    print("  reached (mean of the last 50 steps): " + ", ".join(
        f"{k} {v:.3f}" for k, v in s.items() if k.startswith(("joint_", "avm_"))))


def localisation(cfg, root: str, extra_tasks: int = 3, draws: int = 8) -> dict:
    from stella.data import unseen_tasks

    model, avm = pretrained_models(cfg, root)
    bench, unseen = unseen_tasks(cfg, extra_tasks)
    rows = {}
    for name, ds in ((f"unseen classes ({extra_tasks} extra tasks)", ConcatDataset([d for t in unseen for d in (t.train, t.eval)])),
                     ("continual classes (eval split)", ConcatDataset([t.eval for t in bench.tasks]))):
        fr = signal_frame(model, avm, ds, cfg, draws=draws)
        s = signal_summary(fr)
        rows[name] = s
        sparse = fr[fr["active_tokens"] < 0.5]
        print(f"\nafter pre-training, {name}: {len(fr)} clips; the object covers {100 * s['object_patches']:.1f} % of "
              f"the video patches ({100 * fr['object_patches'].max():.1f} % at most), sounding time tokens "
              f"{100 * s['active_tokens']:.1f} % of the audio ({len(sparse)} clips under half)")
        print(f"  {'kept share (%, mean ± 95% CI over clips)':44s} {'STELLA (Eq.5/Alg.1)':>20s} {'top-kappa':>14s} "
              f"{'random':>14s}  target")
        for key, label, frame in (("kept_sounding", "video: sounding object while it sounds", fr),
                                  ("kept_sounding_area", "  the same, share of its pixels", fr),
                                  ("kept_sounding_majority", "  the same, patches >= half covered", fr),
                                  ("kept_object", "video: the object in every frame", fr),
                                  ("kept_active", "audio: active patches (clips < 1/2 active)", sparse)):
            target = ">= 75" if key in ("kept_sounding", "kept_active") else "(reported)"
            print(f"  {label:44s} {_ci(frame[key + '_stella']):>20s} {_ci(frame[key + '_topk']):>14s} "
                  f"{_ci(frame[key + '_random']):>14s}  {target}")
        print(f"  video-query attention on active audio (Softmax(A_a), beta 1): all queries "
              f"{100 * s['audio_attention_active']:.1f} %, sounding-object queries "
              f"{100 * s['audio_attention_active_sounding_queries']:.1f} %, chance {100 * s['active_tokens']:.1f} %")
        for gt in ("sounding", "object"):
            a, r = s[f"auc_avm_{gt}"], s[f"auc_random_{gt}"]
            am, rm = s[f"auc_avm_{gt}_median"], s[f"auc_random_{gt}_median"]
            print(f"  AUC vs the {gt} mask: AVM map {a:.3f}, random map {r:.3f} ({a / max(r, 1e-9):.1f}x, target >= 2x); "
                  f"median binarisation {am:.3f} vs {rm:.3f}")
    return rows


def continual(preset: str, seeds: list[int], results: str, methods=METHODS, sets=()) -> pd.DataFrame:
    rows = []
    for m in methods:
        for s in seeds:
            cfg = resolve_method_config(load_config(preset, [f"continual.method={m}", f"run.seed={s}", *sets]))
            t0 = time.perf_counter()
            rd = run_experiment(cfg, results_dir=results)
            took = time.perf_counter() - t0
            for r in rd.load_json("summary"):
                if r["metric"] == "avg":
                    rows.append({"method": m, "seed": s, "direction": r["direction"], "A": r["A"], "F": r["F"],
                                 "seconds": took})
    return pd.DataFrame(rows)


def report_continual(df: pd.DataFrame, gallery: int) -> None:
    chance = chance_recall(gallery)["avg"]
    g = df.groupby(["method", "direction"], sort=False)
    mean, std = g[["A", "F"]].mean(), g[["A", "F"]].std(ddof=1)
    n = df["seed"].nunique()
    print(f"\ncontinual runs from the pre-trained start: {n} seeds, avg recall (%) over R@1/5/10, gallery {gallery} "
          f"clips, chance {chance:.2f}")
    print(f"  {'method':10s} " + "  ".join(f"{'A ' + d:>15s} {'F ' + d:>15s}" for d in DIRS))
    for m in df["method"].unique():
        cells = []
        for d in DIRS:
            a, sa = mean.loc[(m, d), "A"], std.loc[(m, d), "A"]
            f, sf = mean.loc[(m, d), "F"], std.loc[(m, d), "F"]
            cells.append(f"{a:7.2f} ± {sa:5.2f} " + (f"{f:7.2f} ± {sf:5.2f}" if np.isfinite(f) else f"{'-':>15s}"))
        print(f"  {m:10s} " + "  ".join(cells))
    secs = df.groupby("method", sort=False)["seconds"].median()
    print("  wall seconds per run (median; ~0 when read from the store): " +
          ", ".join(f"{m} {v:.0f}" for m, v in secs.items()))
    print("\ntargets (issue 12, item 3):")
    for d in DIRS:
        if "multitask" in df["method"].values:
            a = mean.loc[("multitask", d), "A"]
            print(f"  {d} multitask A - chance = {a - chance:6.2f} %p (target >= 20)")
        if "finetune" in df["method"].values:
            f, sf = mean.loc[("finetune", d), "F"], std.loc[("finetune", d), "F"]
            print(f"  {d} finetune F / its seed std = {f:.2f} / {sf:.2f} = {f / max(sf, 1e-9):.1f} (target >= 3)")
            for m in ("er", "derpp"):
                if m in df["method"].values:
                    diff = mean.loc[(m, d), "A"] - mean.loc[("finetune", d), "A"]
                    print(f"  {d} {m} A - finetune A = {diff:6.2f} %p (target >= 10)")
    if "stella" in df["method"].values:
        print("\nSTELLA minus each method, paired by seed (mean ± std over seeds, %p; A higher is better, F lower):")
        wide = df.pivot_table(index=["direction", "seed"], columns="method", values=["A", "F"])
        for other in [m for m in ("derpp", "random", "lpis", "rca", "er", "finetune") if m in df["method"].values]:
            cells = []
            for d in DIRS:
                for k in ("A", "F"):
                    diff = (wide[(k, "stella")] - wide[(k, other)]).loc[d]
                    cells.append(f"{k} {d} {diff.mean():+6.2f} ± {diff.std(ddof=1):4.2f}")
            print(f"  vs {other:8s} " + "   ".join(cells))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--results", default="results")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--methods", nargs="*", default=list(METHODS))
    ap.add_argument("--skip-continual", action="store_true")
    ap.add_argument("--unseen-tasks", type=int, default=3, help="extra tasks of unseen classes (4 classes each)")
    ap.add_argument("--draws", type=int, default=8, help="sampled selections per clip, kept shares averaged")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = resolve_method_config(load_config(args.preset, ["continual.method=stella", *args.set]))
    if cfg.pretrain.source in ("synthetic", "manifest"):
        pretraining(cfg, args.results)
    if cfg.data.dataset == "synthetic":
        localisation(cfg, args.results, args.unseen_tasks, args.draws)
    if args.skip_continual:
        return
    seeds = [cfg.run.seed + i for i in range(args.seeds)]
    df = continual(args.preset, seeds, args.results, args.methods, args.set)
    from stella.data import build_benchmark

    report_continual(df, sum(len(t.eval) for t in build_benchmark(cfg).tasks))


if __name__ == "__main__":
    main()
