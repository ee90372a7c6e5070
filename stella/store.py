"""Run store: every run lives in ``results/<digest>/``, keyed by its resolved config.

Layout of one run directory::

    config.json           resolved Config + package version (written first)
    run.lock              flock'ed by the process computing the run; a second one waits, then reuses
    checkpoint.pt         latest resumable state (trainer); checkpoint.prev.pt the one before it
    <name>.json           metrics, accuracy matrices, tables (atomic)
    <name>.pt             tensors (atomic)
    COMPLETE              marker written last, listing every result file and its size; a run without it
                          is incomplete

Files are written atomically (:mod:`stella.atomic`); a run is computed once, under its lock, and
verified before it is used (:mod:`stella.store_protocol`); here a run's ``config.json`` is also
checked to be its config's. ``stella runs --clean`` lists, and with ``--yes`` removes, incomplete,
unreadable, damaged and moved-aside directories (:meth:`RunStore.runs`, :func:`remove`).
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import torch

from stella import __version__
from stella.atomic import StoreError, atomic_torch_save, atomic_write_bytes, atomic_write_json, read_json
from stella.config import Config, hashed_part
from stella.store_protocol import ASIDE, RESUME_STATE, busy, compute_once, file_problem, locked, move_aside, verify_complete

RUN_FILES = ("config.json", "results.json", "summary.json", "meta.json")   # every complete training run has them
STAGE_FILES = ("spec.json", "weights.pt", "log.json", "summary.json")      # ... and every pre-training stage
KEYED = re.compile(r"[0-9a-f]{16}(\.damaged-.+)?")                           # the directories the store made


def _config_problems(directory: Path, config: Config) -> list[str]:
    """Why ``directory/config.json`` is not ``config``'s ([] when it is, or when there is none yet)."""
    f = directory / "config.json"
    if not f.exists():
        return [f"{f}: missing"] if (directory / "COMPLETE").exists() else []
    try:
        stored = read_json(f)
    except (ValueError, OSError) as e:
        return [str(e)]
    if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
        return [f"{f}: not a run's config.json (no \"config\" object)"]
    if hashed_part(stored["config"]) != config.key_dict():
        return [f"{f}: run directory belongs to another config (digest collision or edited file)"]
    return []


class RunDir:
    """One run's directory; created with its config, read back with checks."""

    def __init__(self, root: Path, config: Config):
        self.config = config
        self.key = config.digest()
        self.path = Path(root) / self.key
        self.computed = False          # True when this process computed the run (RunStore.run)
        cfg_file = self.path / "config.json"
        if cfg_file.exists():
            problems = _config_problems(self.path, config)
            if problems:
                raise StoreError(problems[0])
        else:
            atomic_write_json(cfg_file, {"config": config.to_dict(), "version": __version__, "key": self.key})

    @property
    def complete(self) -> bool:
        return (self.path / "COMPLETE").exists()

    def file(self, name: str) -> Path:
        return self.path / name

    def save_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.path / f"{name}.json", obj)

    def load_json(self, name: str) -> Any:
        f = self.path / f"{name}.json"
        if not f.exists():
            raise FileNotFoundError(f"{f}: run {self.key} has no result named {name!r}")
        return read_json(f)

    def has(self, name: str) -> bool:
        return (self.path / f"{name}.json").exists() or (self.path / f"{name}.pt").exists()

    def save_tensors(self, name: str, obj: Any) -> None:
        atomic_torch_save(self.path / f"{name}.pt", obj)

    def load_tensors(self, name: str) -> Any:
        f = self.path / f"{name}.pt"
        if not f.exists():
            raise FileNotFoundError(f"{f}: run {self.key} has no tensors named {name!r}")
        try:
            return torch.load(f, map_location="cpu", weights_only=True)
        except Exception as e:
            raise StoreError(f"{f}: damaged ({' '.join(str(e).split())[:120]}); delete the run directory "
                             f"{self.path} to train it again") from e

    def last_task(self) -> int:
        """1-based number of the last ``model_after_task<N>.pt`` the run saved: meta.json's record of
        the run (written at its end), else the files present. Multitask runs have one."""
        meta = self.path / "meta.json"
        if meta.exists():
            last = read_json(meta).get("last_task")
            if isinstance(last, int) and not isinstance(last, bool):
                return last
        saved = [int(m.group(1)) for p in self.path.glob("model_after_task*.pt")
                 if (m := re.fullmatch(r"model_after_task(\d+)\.pt", p.name))]
        if not saved:
            raise FileNotFoundError(f"{self.path}: run {self.key} has saved no model_after_task*.pt yet")
        return max(saved)


class RunStore:
    """``store.run(config, compute)`` returns a complete RunDir, computing it only once.

    Processes that ask for the same run key at the same time serialise on the run's lock file: one
    computes, the others wait and then reuse its result.
    """

    def __init__(self, root: str | Path = "results"):
        self.root = Path(root)

    def dir(self, config: Config) -> RunDir:
        return RunDir(self.root, config)

    def writable(self) -> None:
        """Raise StoreError unless the store directory exists (or can be made) and takes new files."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{self.root}: is a file, not a run store directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"{self.root}: cannot create the run store directory ({e.strerror})") from e
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreError(f"{self.root}: run store directory is not writable")

    def run(self, config: Config, compute: Callable[[RunDir], None]) -> RunDir:
        path = self.root / config.digest()
        if not (path / "COMPLETE").exists():
            self.writable()
        computed = compute_once(path, lambda _: compute(RunDir(self.root, config)), path.name,
                                check=lambda d: _config_problems(d, config), required=RUN_FILES)
        rd = RunDir(self.root, config)
        rd.computed = computed
        return rd

    def runs(self) -> list[dict]:
        """One row per directory the store made (a key, or a key moved aside; nothing else is listed or
        removed), runs first, then pre-training stages: ``key``, ``kind``
        ("run" or "stage"), ``path``, ``state`` and, for a run with a readable config.json, ``preset`` and
        ``method``. States: complete, incomplete, running (its lock is held), damaged (complete, but a file
        does not verify: ``error`` names it; the next run that needs it computes it again), unreadable (a
        config.json that does not parse: ``error``), moved aside (a damaged directory's files)."""
        if not self.root.is_dir():
            raise StoreError(f"{self.root}: " + ("is a file, not a run store directory" if self.root.exists()
                                                 else "no such run store directory"))
        stages = self.root / "pretrain"
        dirs = [(d, "run") for d in sorted(self.root.iterdir()) if d.is_dir() and KEYED.fullmatch(d.name)]
        dirs += [(d, "stage") for d in sorted(stages.iterdir()) if d.is_dir() and KEYED.fullmatch(d.name)] \
            if stages.is_dir() else []
        return [_row(d, kind) for d, kind in dirs]

    def removable(self) -> list[dict]:
        """The rows of :meth:`runs` that ``stella runs --clean`` removes: every state but complete and running."""
        return [r for r in self.runs() if r["state"] not in ("complete", "running")]


def _row(d: Path, kind: str) -> dict:
    row: dict[str, Any] = {"key": d.name, "kind": kind, "path": str(d)}
    if ASIDE in d.name:
        return {**row, "state": "moved aside", "complete": False}
    if kind == "run":
        cfg_file = d / "config.json"
        try:
            cfg = read_json(cfg_file)["config"]
            row.update(preset=cfg.get("preset"), method=cfg["continual"]["method"])
        except FileNotFoundError:
            row["error"] = f"{cfg_file}: missing"
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            row["error"] = str(e) if isinstance(e, ValueError) else f"{cfg_file}: not a run's config.json"
    complete = (d / "COMPLETE").exists()
    row["complete"] = complete
    if complete and "error" not in row:
        problems = verify_complete(d, RUN_FILES if kind == "run" else STAGE_FILES)
        if problems:
            row["error"] = problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
            row["state"] = "damaged"
    if "state" not in row:
        row["state"] = "running" if busy(d) else "unreadable" if "error" in row and (d / "config.json").exists() \
            else "complete" if complete else "incomplete"
    return row


def remove(row: dict) -> None:
    """Remove the directory of a :meth:`RunStore.runs` row, unless a process started computing it meanwhile."""
    d = Path(row["path"])
    lock = d / "run.lock"
    fd = os.open(lock, os.O_RDONLY) if lock.exists() else None
    try:
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(f"{d}: a process started computing it; not removed") from None
        shutil.rmtree(d)
    finally:
        if fd is not None:
            os.close(fd)


__all__ = ["StoreError", "RunDir", "RunStore", "RUN_FILES", "STAGE_FILES", "remove", "atomic_write_bytes",
           "atomic_write_json", "atomic_torch_save", "read_json", "locked", "compute_once", "verify_complete",
           "file_problem", "move_aside", "busy", "ASIDE", "RESUME_STATE"]
