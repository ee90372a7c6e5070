"""The ``stella`` command: info, presets, methods, train, runs, book, paper, data-real.

Every error a user can cause (a config key, a file, a directory) ends in one line on stderr naming
the cause, exit status 2; anything else in one line with its type, exit status 1. ``stella --debug``
shows the traceback instead.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from stella.config import ConfigError, load_config, preset_names


def _directory(path: str | None, option: str) -> None:
    """A directory the command will create or write into: a path (not an empty one), not an existing file."""
    if path is not None and not path.strip():
        raise ValueError(f"{option}: an empty path; name a directory (leave {option} out for the default)")
    if path is not None and Path(path).exists() and not Path(path).is_dir():
        raise NotADirectoryError(f"{option} {path}: is a file, not a directory")


def _cmd_info(args: argparse.Namespace) -> int:
    from stella.models import describe

    cfg = load_config(args.preset, args.set)
    print(f"preset {cfg.preset}: model {cfg.model.size}, audio {cfg.data.audio_frames}x{cfg.data.mel_bins} "
          f"-> M={cfg.num_audio_patches} patches {cfg.audio_grid}, video {cfg.data.num_frames}x"
          f"{cfg.data.image_size}^2 -> N={cfg.num_video_patches} patches {cfg.video_grid}")
    for k, v in describe(cfg).items():
        print(f"  {k}: {v:,}" if isinstance(v, int) else f"  {k}: {v}")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    for name in preset_names():
        cfg = load_config(name)
        print(f"{name}: model={cfg.model.size} tasks={cfg.data.num_tasks} dataset={cfg.data.dataset} "
              f"memory={cfg.continual.memory_size} batch={cfg.continual.batch_size} "
              f"epochs/task={cfg.continual.epochs_per_task}")
    if args.show:
        print(json.dumps(load_config(args.show).to_dict(), indent=2))
    return 0


def _cmd_methods(args: argparse.Namespace) -> int:
    from stella.continual import METHODS

    width = max(map(len, METHODS))
    for name, cls in METHODS.items():
        print(f"{name:<{width}}  {cls.summary}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from stella.continual import run_experiment
    from stella.continual.distributed import init_from_env

    overrides = [f"continual.method={args.method}", *(args.set or [])]
    if args.seed is not None:
        overrides.append(f"run.seed={args.seed}")
    cfg = load_config(args.preset, overrides)
    _directory(args.results, "--results")
    info = init_from_env(cfg.run.device)
    rd = run_experiment(cfg, results_dir=args.results, dist_info=info)
    if info.rank != 0:
        return 0
    print(f"run {rd.key} {'trained' if rd.computed else 'complete already, reused'}: {rd.path}")
    summary = rd.load_json("summary")
    for row in summary:
        print(f"  {row['direction']} {row['metric']}: A={row['A']:.2f} F={row['F']:.2f}")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from stella.store import RunStore, remove

    _directory(args.results, "--results")
    store = RunStore(args.results)
    if args.yes and not args.clean:
        raise ValueError("--yes: only with --clean")
    if not args.clean:
        for r in store.runs():
            what = f"{r.get('preset') or '?':<6} {r.get('method') or '?':<12} " if "method" in r else \
                ("pre-training " if r["kind"] == "stage" else "")
            note = r.get("error") or (r["keep"] if r["kind"] == "link" else None)
            keep = f" (--clean leaves it: {r['keep']})" if "keep" in r and r["kind"] != "link" and \
                r["state"] not in ("complete", "running") else ""
            print(f"{r['key']}  {what}{r['state']}" + (f": {note}" if note else "") + keep)
        return 0
    rows, kept = store.removable(), store.kept()
    for r in rows:
        if args.yes:
            remove(r)
        print(f"{'removed' if args.yes else 'would remove'} {r['path']}  ({r['state']}"
              + (f": {r['error']}" if "error" in r else "") + ")")
    for r in kept:
        print(f"not touched {r['path']}  ({r['state']}: {r['keep']})")
    if not rows:
        print(f"{store.root}: nothing to remove (no incomplete, unreadable, damaged or moved-aside run the store made)")
    elif not args.yes:
        print(f"{len(rows)} {'directory' if len(rows) == 1 else 'directories'}; nothing removed (a dry run): "
              "rerun with --clean --yes to remove them")
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    from stella.builder.driver import BookBuildError, build_book

    _directory(args.stage, "--stage")
    _directory(args.results, "--results")
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs: must be >= 1, got {args.jobs}")
    try:
        index = build_book(args.preset, stage=args.stage, results_dir=args.results, only=args.only,
                           print_view=args.print_view, jobs=args.jobs)
    except BookBuildError as e:
        if isinstance(e, ValueError):      # a bad option: one line, exit status 2 (main)
            raise
        print(f"book: {e}", file=sys.stderr)
        return 1
    print(f"book built: {index}")
    return 0


def _cmd_paper(args: argparse.Namespace) -> int:
    from stella.builder.driver import BookBuildError
    from stella.builder.paper import run_paper

    _directory(args.results, "--results")
    _directory(args.stage, "--stage")
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs: must be >= 1, got {args.jobs}")
    try:
        index = run_paper(args.preset, args.manifest, args.checkpoint, args.results, args.category_csv,
                          args.pretrain_manifest, args.avm_epochs, args.set, args.only, args.shard, args.dry_run,
                          args.commands, not args.no_book, args.jobs, args.stage)
    except BookBuildError as e:
        if isinstance(e, ValueError):
            raise
        print(f"paper: {e}", file=sys.stderr)
        return 1
    if index is not None:
        print(f"book built: {index}")
    return 0


def _cmd_data_real(args: argparse.Namespace) -> int:
    from stella.data.stamps import StampsUnavailable, fetch_stamps, fetched_line

    try:
        fetched = fetch_stamps(args.dest)
    except StampsUnavailable as e:
        print(f"stella data-real: tuxpaint stamps unavailable: {e}"
              + ("; the book builds without them" if args.optional else ""), file=sys.stderr)
        return 0 if args.optional else 1
    print(fetched_line(fetched) if fetched else f"tuxpaint stamps already in {args.dest}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stella", description=__doc__)
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    common = argparse.ArgumentParser(add_help=False)        # --debug also after the command
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", required=True)

    def with_preset(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--preset", default="cpu", help=f"one of {preset_names()} or a YAML path")
        sp.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config value (repeatable)")

    sp = sub.add_parser("info", parents=[common], help="geometry and parameter counts of a preset")
    with_preset(sp)
    sp.set_defaults(fn=_cmd_info)
    sp = sub.add_parser("presets", parents=[common], help="list presets")
    sp.add_argument("--show", help="print one preset's resolved config")
    sp.set_defaults(fn=_cmd_presets)
    sp = sub.add_parser("methods", parents=[common], help="list continual-learning methods")
    sp.set_defaults(fn=_cmd_methods)
    sp = sub.add_parser("train", parents=[common], help="continual pre-training of one method into the run store")
    with_preset(sp)
    sp.add_argument("--method", required=True)
    sp.add_argument("--seed", type=int)
    sp.add_argument("--results", help="run store directory (default: the config's run.results_dir, results/)")
    sp.set_defaults(fn=_cmd_train)
    sp = sub.add_parser("runs", parents=[common], help="list runs in the run store")
    sp.add_argument("--results", default="results")
    sp.add_argument("--clean", action="store_true", help="list the incomplete, unreadable, damaged and moved-aside "
                    "directories that --yes would remove (runs being computed are kept)")
    sp.add_argument("--yes", action="store_true", help="with --clean: remove them")
    sp.set_defaults(fn=_cmd_runs)
    sp = sub.add_parser("book", parents=[common], help="execute every notebook and build the Jupyter Book")
    sp.add_argument("--preset", default="cpu")
    sp.add_argument("--stage", help="copy the book sources here and build there")
    sp.add_argument("--results", help="run store directory (default: results/)")
    sp.add_argument("--only", nargs="*", help="execute only notebooks whose name contains these")
    sp.add_argument("--print-view", action="store_true", help="also build the whole book as one page to print")
    sp.add_argument("--jobs", type=int, default=None, help="train the book's runs, then execute its notebooks, this many at a time "
                    "(default: one per core when the preset pins run.num_threads, else 1)")
    sp.set_defaults(fn=_cmd_book)
    sp = sub.add_parser("paper", parents=[common], help="from a manifest and a CAV-MAE checkpoint to the book at a "
                        "paper preset (book/paper_scale.md)")
    sp.add_argument("--manifest", required=True, help="CAV-MAE-style JSON manifest of the clips (video_path, labels)")
    sp.add_argument("--checkpoint", required=True, help="a released CAV-MAE pre-trained checkpoint (audio_model.*.pth)")
    sp.add_argument("--category-csv", help="label,category file (VGGSound's stat.csv) for the task split")
    sp.add_argument("--pretrain-manifest", help="clips to pre-train the AVM on (default: --manifest; clips with "
                    "the benchmark's labels are left out)")
    sp.add_argument("--avm-epochs", type=int, default=10, help="epochs of AVM pre-training on the frozen converted "
                    "backbone (appendix D; the authors' code: 8-15)")
    with_preset(sp)
    sp.set_defaults(preset="paper")
    sp.add_argument("--results", default="results", help="run store directory (shared by every shard)")
    sp.add_argument("--only", nargs="*", help="execute only the notebooks whose name contains these (the book's runs are "
                    "all trained)")
    sp.add_argument("--shard", metavar="I/N", help="train the I-th of N parts of the plan (no book; build it after)")
    sp.add_argument("--dry-run", action="store_true", help="print the plan and the estimate; train nothing")
    sp.add_argument("--commands", action="store_true", help="print one `stella train` line per run to train")
    sp.add_argument("--no-book", action="store_true", help="train, do not build the book")
    sp.add_argument("--jobs", type=int, default=None, help="runs trained at a time (default: 1 on a GPU)")
    sp.add_argument("--stage", help="copy the book sources here and build there")
    sp.set_defaults(fn=_cmd_paper)
    sp = sub.add_parser("data-real", parents=[common], help="fetch Debian's tuxpaint-stamps-default (apt-get download, no root) for the "
                        "real-content benchmark")
    sp.add_argument("--dest", default="data/tuxpaint")
    sp.add_argument("--optional", action="store_true",
                    help="exit 0 when the stamps cannot be fetched (the line on stderr says why): `make book` uses it")
    sp.set_defaults(fn=_cmd_data_real)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(format=f"stella {args.cmd}: %(message)s", level=logging.WARNING)
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"stella {args.cmd}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        from stella.store import StoreError

        user = isinstance(e, (ConfigError, StoreError, OSError, ValueError))
        text = " ".join(str(e).split()) or type(e).__name__
        if isinstance(e, OSError) and e.filename and str(e.filename) not in text:
            text = f"{e.filename}: {text}"
        if not user:
            text = f"{type(e).__name__}: {text} (rerun with stella --debug for the traceback)"
        print(f"stella {args.cmd}: error: {text}", file=sys.stderr)
        return 2 if user else 1


if __name__ == "__main__":
    sys.exit(main())
