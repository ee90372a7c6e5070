"""``stella paper``: from a user's manifest and a released CAV-MAE checkpoint to the book at a paper preset.

One command, six steps, each printed:

1. **the preset**: ``--preset`` (``paper``, ``paper-as`` or any) with ``data.dataset=manifest``, the
   manifest and category file (absolute paths), the ``model.*`` values the checkpoint fixes
   (:func:`stella.models.convert_cavmae.model_overrides`: CAV-MAE's 11 + 1 layers) and ``--set`` values,
   resolved once and written to ``<results>/presets/<name>-<digest>.yaml`` (its ``preset:`` stays the base
   name, so the notebooks' per-preset defaults and the run keys are those of ``--preset <name> --set ...``);
2. **the split**: :func:`stella.data.splits.split_manifest` into ``<results>/splits/<digest>/`` (one
   manifest per task, ``unknown_labels.json``), the clips each task's runs will use (:func:`task_clips`);
   training reads the one manifest with the same category file and the same rule;
3. **the start**: the checkpoint converted and the AVM pre-trained on the frozen backbone
   (:func:`stella.builder.paper_start.ensure_start`), a stage of the store; the preset then reads it
   (``pretrain.source=checkpoint``);
4. **the plan**: :func:`stella.report.plan.book_runs` at that preset (every run of the book, ``--only``
   choosing notebooks, not runs), less what real clips cannot train (:func:`real_data_skips`), restricted
   to ``--shard i/n``, each run marked complete or to train;
5. **the estimate**: FLOPs, V100-hours at Table 2's rate and, on a GPU, measured hours
   (:func:`stella.builder.estimate.estimate`);
6. **training** what is missing (:func:`stella.builder.prefetch.prefetch_runs`, resumable through the run
   store) and **the book** at the preset (:func:`stella.builder.driver.build_book`), unless ``--dry-run``
   (steps 1-5 only: nothing trained or converted; it writes the split, the preset file and the FLOP counts),
   ``--commands`` (one ``stella train`` line per
   run to train, for a job array) or ``--shard`` (a shard trains; the book is built by one final
   ``stella paper`` without ``--shard`` once every shard is done).

Shards split the plan's runs by position (run k goes to shard k mod n + 1), so machines sharing a run
store never train one run twice, whatever the filesystem's locks do; a stage several shards need (the
converted start) is computed under the store's ``flock`` lock (book/paper_scale.md says on which shared
filesystems that lock holds across machines).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import yaml

from stella.builder.driver import build_book, notebook_paths
from stella.builder.estimate import clip_summary, estimate
from stella.builder.paper_start import avm_steps, ensure_start, start_dir, start_spec
from stella.builder.prefetch import default_jobs, prefetch_runs
from stella.config import Config, load_config, preset_path
from stella.continual import METHODS
from stella.data.splits import entry_labels, label_to_task, read_manifest, split_manifest
from stella.models.convert_cavmae import model_overrides, read_cavmae
from stella.overrides import read_preset
from stella.report.plan import book_runs
from stella.store import RunStore, atomic_write_bytes

REPO = Path(__file__).resolve().parents[2]
GENERATOR_KEYS = ("data.num_distractors", "data.object_scale", "data.active_fraction", "data.noise_level")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> "Shard":
        if text is None:
            return cls()
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise ValueError(f"--shard: expected i/n (e.g. 2/4), got {text!r}") from None
        if not 1 <= i <= n:
            raise ValueError(f"--shard: expected 1 <= i <= n, got {text!r}")
        return cls(i, n)

    def rows(self, plan: pd.DataFrame) -> pd.DataFrame:
        """The plan's runs of this shard: positions k with k mod count == index - 1 (the plan's order)."""
        return plan.iloc[[k for k in range(len(plan)) if k % self.count == self.index - 1]]


def shown(path: str | Path) -> str:
    """``path`` relative to the repository (the notebooks' working directory) when inside it, else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def resolve(preset: str, manifest: str | Path, category_csv: str | Path | None, model: dict,
            sets: list[str]) -> Config:
    """The preset with the manifest, the category file, the checkpoint's ``model.*`` values and ``sets``."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise FileNotFoundError(f"--manifest {manifest}: " + ("is not a file" if manifest.exists() else "does not exist"))
    if category_csv is not None and not Path(category_csv).is_file():
        raise FileNotFoundError(f"--category-csv {category_csv}: does not exist")
    overrides = ["data.dataset=manifest", f"data.manifest={manifest.resolve()}",
                 *([f"data.category_csv={Path(category_csv).resolve()}"] if category_csv else []),
                 *(f"model.{k}={v}" for k, v in model.items()), *sets]
    return load_config(preset, overrides)


def write_preset(cfg: Config, results: Path, base: str | Path) -> Path:
    """``cfg`` as a preset file ``<results>/presets/<name>-<digest>.yaml`` with the ``book`` section of the
    preset ``base`` (how the book runs: stella.report.chapter.Traits); written atomically, and the same
    config gives the same file, so every shard writes the same one."""
    path = results / "presets" / f"{cfg.preset}-{cfg.digest()[:8]}.yaml"
    if not path.exists():
        book = read_preset(preset_path(base)).get("book")
        atomic_write_bytes(path, yaml.safe_dump({**cfg.to_dict(), **({"book": book} if book else {})},
                                                sort_keys=False).encode())
    return path


def changes(cfg: Config, base: str) -> list[str]:
    """``section.key=value`` for every value of ``cfg`` that differs from the preset ``base``'s."""
    ref = load_config(base).to_dict()
    return [f"{s}.{k}={v}" for s, values in cfg.to_dict().items() if isinstance(values, dict)
            for k, v in values.items() if ref[s].get(k) != v]


def real_data_skips(plan: pd.DataFrame, cfg: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs to train, runs left out with a ``reason``) for ``cfg``'s data: real clips carry no ground truth
    (the oracle controls' selection) and have no generator (``GENERATOR_KEYS``: the same clips again under
    another run key). The synthetic benchmarks keep every run."""
    if cfg.data.dataset != "manifest":
        return plan, plan.iloc[:0].assign(reason=[])
    truth = plan["method"].map(lambda m: callable(getattr(METHODS[m], "truth", None)))   # reads the batch's ground truth
    generator = plan["overrides"].map(lambda o: any(part.split("=")[0] in GENERATOR_KEYS for part in o.split(", ")))
    reason = pd.Series("", index=plan.index)
    reason[generator] = "varies the synthetic benchmark's generator"
    reason[truth] = "selects by the synthetic benchmark's ground truth"
    return plan[reason == ""], plan[reason != ""].assign(reason=reason[reason != ""])


def train_command(preset: str, row, results: Path) -> str:
    """The ``stella train`` line of one plan row (the run key it trains is the row's ``key``)."""
    sets = [o for o in row.overrides.split(", ") if o]
    return shlex.join(["stella", "train", "--preset", preset, "--method", row.method, "--seed", str(row.seed),
                       "--results", str(results), *(x for s in sets for x in ("--set", s))])


def plan_table(plan: pd.DataFrame, cost: pd.DataFrame) -> pd.DataFrame:
    """One line per (chapter, method, overrides): seeds, runs, runs to train, V100-hours (and measured)."""
    df = plan.merge(cost[[c for c in cost.columns if c in ("key", "steps", "v100_hours", "measured_hours")]], on="key")
    agg = {"seed": lambda s: ", ".join(map(str, sorted(s))), "key": "size", "todo": "sum", "steps": "first",
           "v100_hours": lambda h: h.sum(min_count=1)}
    if "measured_hours" in df:
        agg["measured_hours"] = lambda h: None if h.isna().any() else h.sum()
    out = df.groupby(["chapter", "method", "overrides"], sort=False).agg(agg).reset_index()
    return out.rename(columns={"seed": "seeds", "key": "runs", "todo": "to train", "steps": "steps a run",
                               "v100_hours": "V100-h, its runs", "measured_hours": "measured GPU-h, its runs"})


def print_plan(plan: pd.DataFrame, skipped: pd.DataFrame, cost: pd.DataFrame, shard: Shard, write=print) -> None:
    """The run list grouped, the runs left out with their reason, and the totals of the estimate."""
    with pd.option_context("display.width", 250, "display.max_colwidth", 70, "display.max_rows", 500):
        write(plan_table(plan, cost).to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    for reason, rows in skipped.groupby("reason", sort=False):
        write(f"left out ({reason}): {len(rows)} runs, {', '.join(dict.fromkeys(rows['method']))}")
    todo = cost[cost["key"].isin(plan.loc[plan["todo"], "key"])]
    where = f"shard {shard.index}/{shard.count}: " if shard.count > 1 else ""
    for label, part in (("all", cost), ("to train", todo)):
        hours = part["v100_hours"].sum(min_count=1)
        line = (f"{where}{label}: {len(part)} runs, {part['steps'].sum():,} steps, {part['pflop'].sum():,.4g} PFLOP"
                + (f", {hours:,.4g} V100-hours at Table 2's rate" if hours == hours else
                   (", V100-hours only for ViT-B runs (Table 2's rate)" if len(part) else "")))
        if "measured_hours" in part and len(part):
            known = part["measured_hours"].dropna()
            line += f", {known.sum():,.4g} GPU-hours measured on this GPU" + \
                (f" ({len(part) - len(known)} runs' steps do not fit in its memory)" if len(known) < len(part) else "")
        write(line)


def gpu_device():
    """The CUDA device when one is present (the estimate then times a step of each method on it)."""
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else None


def run_paper(preset: str, manifest: str, checkpoint: str, results: str = "results", category_csv: str | None = None,
              pretrain_manifest: str | None = None, avm_epochs: int = 10, sets: list[str] | None = None,
              only: list[str] | None = None, shard: str | None = None, dry_run: bool = False, commands: bool = False,
              book: bool = True, jobs: int | None = None, stage: str | None = None, write=print) -> Path | None:
    """The module docstring's six steps; returns the book's index.html (or executed notebooks' directory
    with ``only``), None when no book is built."""
    part = Shard.parse(shard)
    results_dir = Path(results)
    RunStore(results_dir).writable()
    state = read_cavmae(checkpoint)
    cfg = resolve(preset, manifest, category_csv, model_overrides(state), list(sets or []))
    del state
    write(f"== 1. preset {cfg.preset} for {manifest}; changed from the preset: " + "; ".join(changes(cfg, preset)))

    split_dir = results_dir / "splits" / cfg.digest()[:8]
    split = split_manifest(cfg.data.manifest, cfg.data.benchmark, split_dir, cfg.data.category_csv or None,
                           cfg.data.task_order)
    write(f"== 2. split ({cfg.data.benchmark}, order {cfg.data.task_order}) into {shown(split_dir)}: "
          + ", ".join(f"{t} {n}" for t, n in split["counts"].items())
          + (f"; {sum(split['unknown'].values())} clips with labels outside it" if split["unknown"] else ""))
    write(clip_summary(cfg).to_string(index=False))

    clips = Path(pretrain_manifest or manifest)
    spec = start_spec(cfg, checkpoint, clips, avm_epochs)
    start = start_dir(spec, results_dir) / "weights.pt"
    if dry_run:
        outside = label_to_task(cfg.data.benchmark, cfg.data.category_csv or None)
        n = sum(not any(l in outside for l in entry_labels(e)) for e in read_manifest(clips))
        write(f"== 3. converted start {shown(start)}: " + ("found" if (start.parent / "COMPLETE").exists() else
              f"to compute ({avm_epochs} AVM epoch(s) on up to {n} clips of {clips} outside the benchmark, "
              f"{avm_steps(n, cfg.continual.batch_size, avm_epochs)} steps)"))
    else:
        start = ensure_start(cfg, checkpoint, clips, avm_epochs, results_dir, write=lambda s: write(f"== 3. {s}"))
    cfg = cfg.with_overrides(["pretrain.source=checkpoint", f"pretrain.checkpoint={start.resolve()}"])
    preset_file = str(write_preset(cfg, results_dir, preset).resolve())   # the notebooks' pages show it relative or as <results_dir>

    if only:
        notebook_paths(REPO, only)                       # a bad --only fails before anything is trained
    plan, skipped = real_data_skips(book_runs(preset_file), cfg)
    plan = part.rows(plan).reset_index(drop=True)
    plan["todo"] = [not (results_dir / k / "COMPLETE").exists() for k in plan["key"]]
    write(f"== 4. the plan at {shown(preset_file)}: {len(plan)} runs" + (f" (shard {part.index}/{part.count})" if part.count > 1
          else "") + f", {int(plan['todo'].sum())} to train")
    device = gpu_device()
    cost = estimate(plan, preset_file, results_dir, device, write=write)
    write("== 5. the estimate (FLOPs counted per step at each run's config; stella.builder.estimate)")
    print_plan(plan, skipped, cost, part, write)
    if commands:
        for r in plan[plan["todo"]].itertuples():
            write(train_command(preset_file, r, results_dir.resolve()))
        return None
    if dry_run:
        return None

    jobs = jobs or (1 if device is not None else default_jobs(preset_file))
    timings: dict = {}
    todo = plan[plan["todo"]]
    _, failed = prefetch_runs(preset_file, results_dir, jobs, write=write, timings=timings, plan=todo)
    trained = timings.get("trained", [])
    write(f"== 6. trained {len(trained)} run(s) here" + (f", {failed} failed" if failed else "")
          + "".join(f"\n  trained {k}" for k in trained))
    if part.count > 1 or not book:
        return None
    return build_book(preset_file, results_dir=results_dir, only=only, stage=Path(stage) if stage else None,
                      jobs=jobs)


__all__ = ["Shard", "resolve", "write_preset", "changes", "real_data_skips", "train_command", "plan_table",
           "print_plan", "run_paper"]
