"""Where the book's time goes: one run taken apart, and the phases of the last `stella book` build.

    python -m benchmarks.bench_book --preset cpu --methods derpp stella [--pretrain-from results/pretrain]
    python -m benchmarks.bench_book --phases-only [--book-root DIR]   # only the phases of the last book build

Per run (each method trained twice in this process on a throw-away store in /tmp, so the second run
shows what a long-lived worker pays once): process start and imports (a fresh interpreter,
``-X importtime``'s largest packages), benchmark build, loading the pre-trained stage, the training
steps split into data (rendering and augmenting clips, collating), forward, backward, optimiser,
AVM (its scoring pass on full clips and its own step), selection and the rest of ``observe``, the
per-task evaluation and the writes (checkpoints, weights, JSON). The parts are exclusive: a timer
nested in another is subtracted from its parent; everything inside the AVM, the evaluation or a
write counts there.

Per phase of a book build: ``book/_build/timings-<preset>.json``, written by
:func:`stella.builder.driver.build_book` (pre-training stage, runs, each notebook, jupyter-book),
else papermill's per-notebook durations in the executed notebooks. Figures are printed, nothing
is asserted. ``--pretrain-from DIR`` copies computed stages (``<results>/pretrain/*``) into the
throw-away store; without it the first run computes the stage (minutes at cpu) and the
benchmark says so.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STICKY = ("benchmark build", "pre-trained stage", "AVM", "evaluation", "writes")   # nested timers count here


class Clock:
    """Exclusive wall time per named part: entering a part pauses its parent."""

    def __init__(self):
        self.total: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.stack: list[list] = []

    @contextmanager
    def part(self, name: str):
        if self.stack and self.stack[-1][0] in STICKY:
            yield
            return
        now = time.perf_counter()
        if self.stack:
            self.total[self.stack[-1][0]] += now - self.stack[-1][1]
        self.stack.append([name, now])
        self.calls[name] += 1
        try:
            yield
        finally:
            now = time.perf_counter()
            top = self.stack.pop()
            self.total[top[0]] += now - top[1]
            if self.stack:
                self.stack[-1][1] = now

    def wrap(self, fn, name: str):
        def timed(*a, **kw):
            with self.part(name):
                return fn(*a, **kw)
        timed.__wrapped__ = fn
        return timed

    def wrap_iter(self, gen_fn, name: str):
        def timed(*a, **kw):
            it = iter(gen_fn(*a, **kw))
            while True:
                with self.part(name):
                    try:
                        item = next(it)
                    except StopIteration:
                        return
                yield item
        return timed


def imports_cost(python: str = sys.executable) -> dict[str, float]:
    """Seconds of a bare interpreter, of ``import torch`` and of importing what a run needs, each in a
    fresh process, and the largest top-level packages of ``-X importtime`` (cumulative seconds)."""
    env = {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}

    def wall(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([python, "-c", code], env=env, check=True, capture_output=True)
        return time.perf_counter() - t0

    out = {"interpreter": wall("pass"), "import torch": wall("import torch"),
           "import stella.report.runs (all a run needs)": wall("import stella.report.runs")}
    proc = subprocess.run([python, "-X", "importtime", "-c", "import stella.report.runs"], env=env,
                          capture_output=True, text=True)
    top: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| *(\S+)$", line)
        if m and "." not in m.group(2) and m.group(2) != "stella":          # a package's own top module
            top[m.group(2)] = top.get(m.group(2), 0.0) + int(m.group(1)) / 1e6
    for name, s in sorted(top.items(), key=lambda kv: -kv[1])[:6]:
        out[f"  of which {name} (cumulative, nested packages overlap)"] = s
    return out


@contextmanager
def instrumented(clock: Clock):
    """Patch the trainer's collaborators with timers (restored on exit)."""
    import torch

    import stella.continual.methods as M
    import stella.continual.trainer as T
    import stella.selection as S
    from stella.models.avm import AVM
    from stella.models.backbone import AudioVideoMAE
    from stella.store import RunDir

    patches = []

    def patch(owner, attr, new):
        patches.append((owner, attr, getattr(owner, attr)))
        setattr(owner, attr, new)

    patch(T, "build_benchmark", clock.wrap(T.build_benchmark, "benchmark build"))
    patch(T, "load_pretrained", clock.wrap(T.load_pretrained, "pre-trained stage"))
    patch(T, "build_model", clock.wrap(T.build_model, "model build"))
    patch(T, "evaluate_after_task", clock.wrap(T.evaluate_after_task, "evaluation"))
    patch(T, "batches", clock.wrap_iter(T.batches, "data (render, augment, collate)"))
    for name in ("save_tensors", "save_json"):
        patch(RunDir, name, clock.wrap(getattr(RunDir, name), "writes"))
    patch(T.Trainer, "save_checkpoint", clock.wrap(T.Trainer.save_checkpoint, "writes"))
    for name in ("forward", "forward_patches"):
        patch(AudioVideoMAE, name, clock.wrap(getattr(AudioVideoMAE, name), "forward"))
    for name in ("forward", "loss"):
        patch(AVM, name, clock.wrap(getattr(AVM, name), "AVM"))
    from stella.continual.methods.selecting import SelectingMethod

    for name in ("scores", "avm_step"):
        patch(SelectingMethod, name, clock.wrap(getattr(SelectingMethod, name), "AVM"))
    selection_fns = {getattr(S, n) for n in ("select", "select_from_scores", "gather", "importance_scores",
                                              "mats_selection", "kappa") if hasattr(S, n)}
    for mod_name, mod in list(sys.modules.items()):
        if mod_name.startswith(M.__name__ + ".") and mod is not None:
            for attr, val in list(vars(mod).items()):
                if callable(val) and val in selection_fns:
                    patch(mod, attr, clock.wrap(val, "selection"))
    patch(torch.Tensor, "backward", clock.wrap(torch.Tensor.backward, "backward"))
    patch(torch.autograd, "grad", clock.wrap(torch.autograd.grad, "backward"))
    patch(torch.optim.Optimizer, "zero_grad", clock.wrap(torch.optim.Optimizer.zero_grad, "optimiser"))
    handles = []
    open_parts: list = []

    def pre(opt, args, kwargs):
        cm = clock.part("optimiser")
        cm.__enter__()
        open_parts.append(cm)

    def post(opt, args, kwargs):
        open_parts.pop().__exit__(None, None, None)

    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

    handles += [register_optimizer_step_pre_hook(pre), register_optimizer_step_post_hook(post)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        for owner, attr, old in reversed(patches):
            setattr(owner, attr, old)


def time_run(preset: str, method: str, seed: int, overrides: list[str], root: Path) -> dict[str, float]:
    """Train one run into ``root`` under the timers: {part: seconds} plus ``total``."""
    from stella.report.runs import get_run

    clock = Clock()
    with instrumented(clock), clock.part("other (Python, memory, logging, store)"):
        rd = get_run(preset, method, seed, [*overrides, "run.progress=false"], root)
    if not rd.computed:
        raise RuntimeError(f"{rd.path}: was already in the throw-away store")
    out = dict(clock.total)
    out["steps"] = clock.calls.get("data (render, augment, collate)", 0)
    out["total"] = sum(clock.total.values())     # the parts are exclusive and "other" encloses them all
    return out


ORDER = ("benchmark build", "pre-trained stage", "model build", "data (render, augment, collate)", "forward",
         "backward", "optimiser", "AVM", "selection", "other (Python, memory, logging, store)", "evaluation", "writes")


def print_runs(rows: dict[str, dict[str, float]]) -> None:
    names = list(rows)
    width = max(len(p) for p in ORDER) + 2
    print(f"{'part (s)':<{width}}" + "".join(f"{n:>16}" for n in names))
    for p in (*ORDER, "total"):
        print(f"{p:<{width}}" + "".join(f"{rows[n].get(p, 0.0):16.2f}" for n in names))
    print(f"{'steps':<{width}}" + "".join(f"{int(rows[n]['steps']):16d}" for n in names))


def book_phases(preset: str, root: Path = REPO) -> None:
    """The phases of the last book build at ``preset`` (the driver's timing file, else papermill's)."""
    from stella.builder.driver import timings_path

    path = timings_path(root, preset)
    if path.exists():
        t = json.loads(path.read_text())
        print(f"book build at {preset} ({path}, {t.get('finished', '?')}, "
              f"{t.get('jobs', '?')} process(es), store {'empty' if t.get('runs_trained') else 'full'} "
              f"at the start: {t.get('runs_trained', 0)} runs trained)")
        for phase, s in t["phases"].items():
            print(f"  {phase:<36}{s:9.1f} s")
        for nb, s in t.get("notebooks", {}).items():
            print(f"    notebook {nb:<27}{s:9.1f} s")
        slow = sorted(t.get("runs", {}).items(), key=lambda kv: -kv[1])[:5]
        if slow:
            print("  slowest runs: " + ", ".join(f"{k} {v:.0f} s" for k, v in slow))
        return
    executed = sorted((root / "book" / "notebooks").glob("*.ipynb"))
    if not executed:
        print(f"no book build found ({path} nor executed notebooks under {root / 'book' / 'notebooks'})")
        return
    print(f"{path} missing: papermill's durations of the executed notebooks in {root / 'book' / 'notebooks'}")
    for nb in executed:
        meta = json.loads(nb.read_text()).get("metadata", {}).get("papermill", {})
        print(f"  notebook {nb.stem:<27}{meta.get('duration') or float('nan'):9.1f} s")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--methods", nargs="*", default=["derpp", "stella"])
    ap.add_argument("--seed", type=int, default=None, help="training seed (default: the preset's)")
    ap.add_argument("--pretrain-from", default=None, help="a store's pretrain/ folder to copy (skips computing it)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per method in this process (seeds seed, seed+1 ...)")
    ap.add_argument("--phases-only", action="store_true")
    ap.add_argument("--no-imports", action="store_true", help="skip timing the imports in fresh interpreters")
    ap.add_argument("--book-root", default=str(REPO), help="where the book was built (`stella book --stage DIR`)")
    ap.add_argument("--cold", action="store_true", help="no per-process caches (stella.continual.worker_cache) "
                    "between the runs of this process; default: kept, as in `stella book`'s prefetch workers")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = ap.parse_args(argv)
    if not args.phases_only:
        if not args.no_imports:
            print("process start and imports (fresh interpreter each):")
            for k, v in imports_cost().items():
                print(f"  {k:<48}{v:6.2f} s")
        import torch

        from stella.config import load_config

        cfg = load_config(args.preset, args.set)
        torch.set_num_threads(cfg.run.num_threads or torch.get_num_threads())
        seed = cfg.run.seed if args.seed is None else args.seed
        if not args.cold:
            from stella.continual import worker_cache

            worker_cache.enable()
        with tempfile.TemporaryDirectory(prefix="stella-bench-book-") as tmp:
            root = Path(tmp)
            if args.pretrain_from:
                shutil.copytree(args.pretrain_from, root / "pretrain")
            rows = {}
            for m in args.methods:
                for k in range(args.repeat):
                    rows[f"{m} #{k + 1}"] = time_run(args.preset, m, seed + k, args.set, root)
                    print(f"  {m} seed {seed + k}: {rows[f'{m} #{k + 1}']['total']:.1f} s", flush=True)
        print(f"\none run at {args.preset} {' '.join(args.set)} ({cfg.run.num_threads or 'default'} thread(s)), "
              "seconds per part; #2 and later ran in the same process as #1"
              + (" (no per-process caches):" if args.cold else " (benchmark and weights kept, as in a prefetch worker):"))
        print_runs(rows)
    print()
    book_phases(args.preset, Path(args.book_root))


if __name__ == "__main__":
    main()
