"""Calibrate the procedural benchmark on the oracle, never on STELLA (issue 30, items 3 and 4b; nothing asserted).

    python -m benchmarks.bench_calibrate --jobs 2                       # coarse, then refine, then the table
    python -m benchmarks.bench_calibrate --stage coarse --jobs 2        # one stage
    python -m benchmarks.bench_calibrate --stage table                  # print the table from the store only
    python -m benchmarks.bench_calibrate --preset smoke --settings today --coarse-seeds 2   # the code paths, seconds
    python -m benchmarks.bench_calibrate --stage table --record benchmarks/records/calibration-cpu.json  # the book's

The record (``--record``) is what chapter 04b shows: the sweep is not part of ``make book`` (it trains its own
stages), so its numbers travel as a file that names the commit, the machine and the command that wrote them.

The generator's knobs (``data.silent_object``, ``data.distractors``, ``data.sound_cue`` and the sparsity knobs
``data.object_scale``, ``data.active_fraction``; :data:`SETTINGS`, every knob spelled out so that a setting means the
same whatever the preset's default, each setting its own pre-training stage) are swept at the cpu preset, and
every setting is judged by what the ground truth can buy, never by STELLA: no STELLA, LPIS or RCA run is in the
run list (:func:`sweep_runs`; ``tests/test_bench_calibrate.py`` checks it). Random takes audio in Algorithm 1's
chunks, as the oracle does (``stella.selection.random_chunks``).

coarse   every setting: Oracle and Random at the selected reading, ``--coarse-seeds`` seeds; the
         pre-training stage's AVM on unseen classes with matched and negative audio and the visual-only maps
         (stella.eval.sound_dependence).
refine   the ``--refine`` best settings by the coarse gap (the smaller of Oracle − Random's two directions, the
         selected reading; or ``--candidates NAME,...``): Oracle, Random and Oracle (video) at ``--seeds`` seeds under
         the selected reading of ``selection.mask_of`` and ``--full-seeds`` under the full one, both at the paper's
         rho = 0.5, and Multitask, Finetune and DER++ at ``--phenomena-seeds``.
table    per setting, from the store (nothing trained): Oracle − Random and Oracle (video) − Random (A, both
         directions, both readings; paired over seeds, 95 % t-interval), the phenomena the book relies on, and the
         gate: Oracle − Random >= GATE %p in A in both directions with the interval above 0 under the reading the
         main tables use (the cpu preset's, ``selected``), every phenomenon kept.

Phenomena: Multitask above chance (A, both directions, one-sample t over seeds); Finetune forgets (F > 0, both
directions); rehearsal above Finetune (DER++ − Finetune in A, both directions); the stage's AVM localises (AUC of
its map minus the random map's, bootstrap over clips) and localises because of the sound (matched audio beats
silence, noise, another class's sound and the brightness map in AUC, bootstrap intervals above 0).
Runs go to the run store ``--results`` (resumable: a rerun trains only what is missing) with ``--jobs`` worker
processes of one thread each.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from stella.data.synthetic import TODAY, TODAY_OVERRIDES

GATE = 10.0
MAIN_READING = "selected"
RHO = ("selection.rho_a=0.5", "selection.rho_v=0.5")                 # the paper's rho
READINGS = {"selected": (*RHO, "selection.mask_of=selected"), "full": (*RHO, "selection.mask_of=full")}
ARMS = {"Oracle": "oracle", "Random": "random", "Oracle (video)": "oracle-video"}
PHENOMENA = {"Multitask": "multitask", "Finetune": "finetune", "DER++": "derpp"}


def _knobs(**changed: str) -> tuple[str, ...]:
    """The generator's knobs as overrides: today's values (synthetic.TODAY) with ``changed`` ones replaced."""
    return tuple(f"data.{k}={'null' if v is None else v}" for k, v in {**TODAY, **changed}.items())


SETTINGS = {   # name: data overrides, every knob spelled out (whatever the preset's default); each its own stage
    "today": TODAY_OVERRIDES,
    "placeholder": _knobs(silent_object="placeholder"),
    "class distractors": _knobs(distractors="classes"),
    "placeholder + class distractors": _knobs(silent_object="placeholder", distractors="classes"),
    "placeholder + class distractors + class cue": _knobs(silent_object="placeholder", distractors="classes",
                                                          sound_cue="class"),
    "placeholder + class distractors + large object": _knobs(silent_object="placeholder", distractors="classes",
                                                             object_scale=1.5),
    "lit distractors": _knobs(distractors="lit"),
    "sparse sound": _knobs(active_fraction=0.25),
    "sparse sound + placeholder": _knobs(silent_object="placeholder", active_fraction=0.25),
    "sparse sound + placeholder + class distractors": _knobs(silent_object="placeholder", distractors="classes",
                                                             active_fraction=0.25),
}
DIRS = ("A→V", "V→A")
NEGATIVES = ("avm:silence", "avm:noise", "avm:mismatched", "brightness")


class Run(NamedTuple):
    setting: str
    method: str
    seed: int
    overrides: tuple[str, ...]


def seeds(preset: str, n: int) -> list[int]:
    from stella.report.runs import seeds_for

    return seeds_for(preset, n)


def sweep_runs(preset: str, stage: str, settings: list[str], n_seeds: int, n_coarse: int, n_full: int,
               n_phenomena: int) -> list[Run]:
    """Every run of a stage, first-needed first: "coarse" (Oracle and Random, the main reading, ``n_coarse`` seeds
    per setting) or "refine" (the settings are the candidates: every arm at ``n_seeds`` seeds under the main reading
    and ``n_full`` under the other, the phenomena's methods at ``n_phenomena``)."""
    unknown = [c for c in settings if c not in SETTINGS]
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)} (known: {', '.join(SETTINGS)})")
    if stage == "coarse":
        return [Run(s, ARMS[a], seed, (*SETTINGS[s], *READINGS[MAIN_READING])) for seed in seeds(preset, n_coarse)
                for s in settings for a in ("Oracle", "Random")]
    if stage != "refine":
        raise ValueError(f"sweep_runs: stage must be 'coarse' or 'refine', got {stage!r}")
    out = [Run(s, m, seed, (*SETTINGS[s], *READINGS[r])) for s in settings for r in READINGS
           for seed in seeds(preset, n_seeds if r == MAIN_READING else n_full) for m in ARMS.values()]
    return out + [Run(s, m, seed, SETTINGS[s]) for s in settings for seed in seeds(preset, n_phenomena)
                  for m in PHENOMENA.values()]


# --------------------------------------------------------------------------- workers
def _init(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)
    from stella.continual import worker_cache

    worker_cache.enable()


def _train(preset: str, run: Run, results: str) -> float:
    import logging

    from stella.report.runs import get_run, quiet

    logging.disable(logging.WARNING)
    t0 = time.perf_counter()
    with quiet():
        get_run(preset, run.method, run.seed, (*run.overrides, "run.progress=false"), results)
    return time.perf_counter() - t0


def _localise(preset: str, setting: str, results: str) -> float:
    t0 = time.perf_counter()
    sound_dependence(preset, setting, results)
    return time.perf_counter() - t0


def sound_dependence(preset: str, setting: str, results: str) -> pd.DataFrame:
    """Per-clip frame of stella.eval.sound_dependence for the setting's pre-training stage on one unseen task's
    clips (its 4 classes, train and eval: 128 clips at cpu), kept in the stage's directory."""
    from stella.report.chapters.controls_measures import stage_sound_frame   # after the worker pins its threads
    from stella.report.runs import run_config

    return stage_sound_frame(run_config(preset, "finetune", None, SETTINGS[setting]), results)


def execute(preset: str, runs: list[Run], settings: list[str], results: str, jobs: int, write=print) -> None:
    """Train the missing ``runs`` and measure the stages of ``settings`` with ``jobs`` one-thread processes: the first
    run of each setting first (so the stages compute side by side), the measurements last."""
    from stella.report.runs import run_config

    todo = [r for r in runs if not (Path(results) / run_config(preset, r.method, r.seed, r.overrides).digest()
                                    / "COMPLETE").exists()]
    first = list({r.setting: r for r in reversed(todo)}.values())[::-1]
    order = first + [r for r in todo if r not in first]
    write(f"{len(todo)} of {len(runs)} runs to train, {len(settings)} stages to measure, {jobs} processes")
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init, initargs=(1,)) as pool:
        running = {pool.submit(_train, preset, r, results):
                   f"{r.setting}: {r.method}, seed {r.seed}, {', '.join(o for o in r.overrides if 'mask_of' in o)}"
                   for r in order}
        running.update({pool.submit(_localise, preset, s, results): f"{s}: localisation" for s in settings})
        total, done = len(running), 0
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                what = running.pop(fut)
                done += 1
                try:
                    write(f"  {time.perf_counter() - t0:6.0f} s  {done}/{total}  {what}: {fut.result():.0f} s", flush=True)
                except Exception as e:                       # noqa: BLE001 - reported; the table shows the gap
                    write(f"  {what}: failed ({type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]})", flush=True)


# --------------------------------------------------------------------------- the table, from the store
def stored(preset: str, results: str, setting: str, method: str, overrides: tuple[str, ...], max_seeds: int = 10
           ) -> pd.DataFrame:
    """A, F (avg recall) per seed and direction of the complete runs of ``method`` at the setting among the first
    ``max_seeds`` seeds (nothing trained)."""
    from stella.report.runs import run_config
    from stella.store import read_json

    rows = []
    for seed in seeds(preset, max_seeds):
        path = Path(results) / run_config(preset, method, seed, (*SETTINGS[setting], *overrides)).digest()
        if (path / "COMPLETE").exists():
            rows += [{"seed": seed, "direction": r["direction"], "A": r["A"], "F": r["F"]}
                     for r in read_json(path / "summary.json") if r["metric"] == "avg"]
    return pd.DataFrame(rows, columns=["seed", "direction", "A", "F"])


def paired(a: pd.DataFrame, b: pd.DataFrame | float, direction: str, value: str = "A") -> dict:
    """a − b (b a frame: paired over the seeds both have; a number: one-sample) with the 95 % t-interval."""
    from stella.report.stats import paired_verdict

    x = a[a["direction"] == direction].set_index("seed")[value]
    if isinstance(b, pd.DataFrame):
        y = b[b["direction"] == direction].set_index("seed")[value]
        common = x.index.intersection(y.index)
        x, y = x.loc[common], y.loc[common]
    else:
        y = pd.Series(b, index=x.index)
    v = paired_verdict(x.to_numpy(), y.to_numpy())
    return {"d": v["difference"], "lo": v["ci_low"], "hi": v["ci_high"], "n": v["n_seeds"]}


def _cell(v: dict) -> str:
    if not v or v["n"] == 0:
        return "-"
    if v["n"] < 2:
        return f"{v['d']:+.1f} (n=1)"
    return f"{v['d']:+.1f} [{v['lo']:+.1f}, {v['hi']:+.1f}] n={v['n']}"


def holds(v: dict, at_least: float = 0.0) -> bool | None:
    """The interval lies above 0 and the difference reaches ``at_least`` (None: fewer than two seeds)."""
    if not v or v["n"] < 2:
        return None
    return bool(v["lo"] > 0 and v["d"] >= at_least)


def setting_rows(preset: str, setting: str, results: str) -> tuple[dict, dict, dict, list[dict]]:
    """(selection row, phenomena row, verdicts, records) of one setting from the store; the records are the same
    numbers unformatted, one per quantity (what ``--record`` writes)."""
    from stella.continual.pretrain import pretrain_dir
    from stella.eval.retrieval import chance_recall
    from stella.eval.sound_dependence import sound_dependence_summary
    from stella.report.runs import gallery_size, run_config

    sel, ph, ok, raw = {"setting": setting}, {"setting": setting}, {}, []

    def keep(quantity: str, v: dict, direction: str | None = None, reading: str | None = None) -> None:
        raw.append({"setting": setting, "quantity": quantity, "direction": direction, "reading": reading,
                    **{k: (None if v.get(k) != v.get(k) else v.get(k)) for k in ("d", "lo", "hi", "n")}})

    for reading, ov in READINGS.items():
        arm = {name: stored(preset, results, setting, m, ov) for name, m in ARMS.items()}
        for name in ("Oracle", "Oracle (video)"):
            for d in DIRS:
                v = paired(arm[name], arm["Random"], d)
                sel[f"{name} − Random {reading} {d}"] = _cell(v)
                keep(f"{name} − Random", v, d, reading)
                if name == "Oracle" and reading == MAIN_READING:
                    ok[f"gap {d}"] = holds(v, GATE)
    runs = {name: stored(preset, results, setting, m, ()) for name, m in PHENOMENA.items()}
    chance = chance_recall(gallery_size(preset))["avg"]
    for d in DIRS:
        for key, v in ((f"Multitask − chance {d}", paired(runs["Multitask"], chance, d)),
                       (f"Finetune F {d}", paired(runs["Finetune"], 0.0, d, "F")),
                       (f"DER++ − Finetune {d}", paired(runs["DER++"], runs["Finetune"], d))):
            ph[key] = _cell(v)
            ok[key] = holds(v)
            keep(key.removesuffix(f" {d}"), v, d)
    stage = pretrain_dir(run_config(preset, "finetune", None, SETTINGS[setting]), results)
    frames = sorted(stage.glob("sound-dependence-*.json")) if stage is not None and stage.exists() else []
    if frames:
        from stella.store import read_json

        stored_frame = read_json(frames[0])
        s = sound_dependence_summary(pd.DataFrame(stored_frame["rows"], columns=stored_frame["columns"])).set_index("map")
        ph["AVM AUC (matched)"] = f"{s.at['avm:matched', 'AUC']:.3f}"
        keep("AVM AUC (matched)", {"d": float(s.at["avm:matched", "AUC"]), "n": int(s.at["avm:matched", "clips"])})
        for m in ("random", *NEGATIVES):
            r = s.loc[m]
            ph[f"matched − {m} (AUC)"] = f"{r['d_auc']:+.3f} [{r['d_auc_low']:+.3f}, {r['d_auc_high']:+.3f}]"
            keep(f"matched − {m} (AUC)", {"d": float(r["d_auc"]), "lo": float(r["d_auc_low"]),
                                          "hi": float(r["d_auc_high"]), "n": int(r["clips"])})
        ok["AVM localises"] = bool(s.at["random", "d_auc_low"] > 0)
        ok["because of the sound"] = bool((s.loc[list(NEGATIVES), "d_auc_low"] > 0).all())
    return sel, ph, ok, raw


def gate(ok: dict) -> str:
    """"pass", or what fails / is not measured yet."""
    missing = [k for k, v in ok.items() if v is None]
    failed = [k for k, v in ok.items() if v is False]
    if "AVM localises" not in ok:
        missing.append("localisation")
    if failed:
        return "fail: " + ", ".join(failed)
    return "pass" if not missing else "open: " + ", ".join(missing)


def table(preset: str, results: str, settings: list[str], write=print, record: str = "",
          command: str = "") -> pd.DataFrame:
    """Print the calibration table of ``settings`` from the store; returns the gate per setting. With ``record`` a
    path, also write the same numbers there as JSON (:func:`write_record`)."""
    rows = [setting_rows(preset, s, results) for s in settings]
    with pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_colwidth", 40):
        write(f"\nOracle − Random in A (avg recall, %p), paired over seeds, 95 % t-interval; preset {preset}, rho 0.5, "
              f"Random = Algorithm 1's chunks for audio:")
        sel = pd.DataFrame([r[0] for r in rows]).set_index("setting")
        for reading in READINGS:
            cols = [c for c in sel.columns if f" {reading} " in c]
            write(f"\n[{reading} reading]\n" + sel[cols].rename(columns=lambda c: c.replace(f" {reading}", ""))
                  .to_string())
        ph = pd.DataFrame([r[1] for r in rows]).set_index("setting")
        write("\nPhenomena (runs: A, F in %p, 95 % t-interval over seeds; AUC: the pre-training stage's AVM on one "
              "unseen task's clips, 95 % bootstrap over clips):")
        half = [c for c in ph.columns if "AUC" not in c]
        write(ph[half].to_string())
        write(ph[[c for c in ph.columns if "AUC" in c]].to_string())
        verdict = pd.DataFrame({"setting": settings, "gate": [gate(r[2]) for r in rows]}).set_index("setting")
        write(f"\nGate: Oracle − Random >= {GATE:.0f} %p in A in both directions, interval above 0 ({MAIN_READING} "
              f"reading), every phenomenon kept:\n{verdict.to_string()}")
    if record:
        write_record(record, preset, settings, rows, command)
        write(f"\nwrote {record}")
    return verdict


def write_record(path: str, preset: str, settings: list[str], rows: list, command: str) -> None:
    """The calibration's numbers as JSON at ``path`` (atomically): ``provenance`` (commit, versions, machine, date,
    the command), ``rule`` (the gate), per setting its ``knobs`` (the data overrides that differ from the benchmark
    as first built), ``checks`` (True / False / None: not measured) and ``gate``, and ``rows``: one per quantity,
    ``d`` the estimate, ``lo`` / ``hi`` its 95 % interval, ``n`` seeds (clips for the AUC rows). Chapter 04b shows
    it (stella.report.chapters.calibration)."""
    from stella.atomic import atomic_write_json
    from stella.report.provenance import provenance

    today = set(TODAY_OVERRIDES)
    atomic_write_json(path, {
        "provenance": {**provenance(preset), "command": command},
        "rule": {"gate": GATE, "reading": MAIN_READING, "rho": 0.5, "directions": list(DIRS),
                 "negatives": list(NEGATIVES)},
        "settings": [{"setting": s, "knobs": [o for o in SETTINGS[s] if o not in today], "checks": r[2],
                      "gate": gate(r[2])} for s, r in zip(settings, rows)],
        "rows": [x for r in rows for x in r[3]],
    })


def coarse_gap(preset: str, results: str, setting: str, n_coarse: int) -> float:
    """The smaller of the two directions' Oracle − Random (selected reading) of a setting over the coarse stage's
    ``n_coarse`` seeds (what ranks the settings, whatever the refine stage added); -inf when not stored."""
    arm = {name: stored(preset, results, setting, ARMS[name], READINGS[MAIN_READING], n_coarse)
           for name in ("Oracle", "Random")}
    vals = [paired(arm["Oracle"], arm["Random"], d)["d"] for d in DIRS]
    return float(min(vals)) if all(v == v for v in vals) else float("-inf")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--stage", default="all", choices=("all", "coarse", "refine", "table"))
    ap.add_argument("--results", default="results")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--settings", default=",".join(SETTINGS), help="the settings swept (comma-separated)")
    ap.add_argument("--coarse-seeds", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--full-seeds", type=int, default=3)
    ap.add_argument("--phenomena-seeds", type=int, default=5)
    ap.add_argument("--refine", type=int, default=2, help="how many of the coarse stage's best settings to refine")
    ap.add_argument("--candidates", default="", help="settings to refine (comma-separated), instead of the best")
    ap.add_argument("--record", default="", help="also write the table's numbers as JSON here (chapter 04b reads "
                    "benchmarks/records/calibration-cpu.json)")
    args = ap.parse_args(argv)
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    t0 = time.perf_counter()
    if args.stage in ("all", "coarse"):
        execute(args.preset, sweep_runs(args.preset, "coarse", settings, args.seeds, args.coarse_seeds,
                                        args.full_seeds, args.phenomena_seeds), settings, args.results, args.jobs)
    if args.stage in ("all", "refine"):
        cands = [c.strip() for c in args.candidates.split(",") if c.strip()]
        if not cands:
            gap = {s: coarse_gap(args.preset, args.results, s, args.coarse_seeds) for s in settings}
            cands = sorted(settings, key=gap.get, reverse=True)[: args.refine]
        print(f"refining: {', '.join(cands)}")
        execute(args.preset, sweep_runs(args.preset, "refine", cands, args.seeds, args.coarse_seeds,
                                        args.full_seeds, args.phenomena_seeds), cands, args.results, args.jobs)
    command = "python -m benchmarks.bench_calibrate " + " ".join(argv if argv is not None else sys.argv[1:])
    table(args.preset, args.results, settings, record=args.record, command=command)
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
