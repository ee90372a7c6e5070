"""Run store: every run lives in ``results/<digest>/``, keyed by its resolved config.

Layout of one run directory::

    config.json           resolved Config + package version (written first)
    run.lock              flock'ed by the process computing the run; a second one waits, then reuses
    checkpoint.pt         latest resumable state (trainer); checkpoint.prev.pt the one before it
    <name>.json           metrics, accuracy matrices, tables (atomic)
    <name>.pt             tensors (atomic)
    COMPLETE              marker written last; a run without it is incomplete

Every write goes to a temporary file ``.<name>.*.tmp`` in the same directory, is fsync'ed and renamed
over the target, and the directory entry is fsync'ed, so a crash never leaves a half-written file
that is later read as complete; temporary files a kill left behind are removed when the run starts
again. Files get the user's umask (a shared ``results/`` is readable by a teaching lab). A complete
run is read without the lock, so a store another user filled can be read but not written.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from stella import __version__
from stella.config import Config, from_dict, hashed_part

log = logging.getLogger(__name__)


class StoreError(Exception):
    """A run store or one of its files cannot be used; the message names the path."""


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic(path: str | Path, write: Callable[[Any], None], keep: str | Path | None = None) -> None:
    """Write ``path`` through ``write(file object)`` into a temp file, fsync, rename; the old file moves to ``keep``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if keep is not None and path.exists():
            os.replace(path, keep)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    _atomic(path, lambda f: f.write(data))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n").encode())


def atomic_torch_save(path: str | Path, obj: Any, keep: str | Path | None = None) -> None:
    """torch.save, atomically; with ``keep`` the replaced file is kept there until the new one is in place."""
    _atomic(path, lambda f: torch.save(obj, f), keep)


def read_json(path: str | Path) -> Any:
    """json.load of ``path``; a bad file raises ValueError naming it and the line."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a JSON text file ({e.reason})") from None


def _json_default(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot store {type(o).__name__} as JSON")


@contextlib.contextmanager
def locked(directory: Path, name: str) -> Iterator[Path]:
    """Hold ``directory/run.lock`` (fcntl.flock, released when the process ends, SIGKILL included);
    ``name`` (a run key) names the wait in the log."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "run.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise StoreError(f"{path}: cannot open the run's lock file ({e.strerror})") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("run %s: another process is computing it (%s); waiting for it to finish", name, path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield directory
    finally:
        os.close(fd)


def compute_once(directory: Path, compute: Callable[[Path], None], name: str) -> bool:
    """``compute(directory)`` unless ``directory/COMPLETE`` exists, then write COMPLETE: under the
    directory's lock (a second process waits, then reuses the result), after removing the temporary
    files an interrupted write left. Returns True when this process computed it."""
    if (directory / "COMPLETE").exists():
        return False
    with locked(directory, name):
        if (directory / "COMPLETE").exists():
            return False
        stale = sorted(directory.glob(".*.tmp"))
        for p in stale:
            p.unlink(missing_ok=True)
        if stale:
            log.info("run %s: removed %d temporary files of an interrupted write", name, len(stale))
        compute(directory)
        atomic_write_bytes(directory / "COMPLETE", b"ok\n")
    return True


class RunDir:
    """One run's directory; created with its config, read back with checks."""

    def __init__(self, root: Path, config: Config):
        self.config = config
        self.key = config.digest()
        self.path = Path(root) / self.key
        self.computed = False          # True when this process computed the run (RunStore.run)
        cfg_file = self.path / "config.json"
        if cfg_file.exists():
            stored = read_json(cfg_file)
            if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
                raise StoreError(f"{cfg_file}: not a run's config.json (no \"config\" object)")
            if hashed_part(stored["config"]) != config.key_dict():
                raise StoreError(f"{cfg_file}: run directory belongs to another config (digest collision or edited file)")
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
        if not (self.root / config.digest() / "COMPLETE").exists():
            self.writable()
        rd = self.dir(config)
        rd.computed = compute_once(rd.path, lambda _: compute(rd), rd.key)
        return rd

    def runs(self) -> list[dict]:
        """One row per run directory: key, preset, method, complete, or an ``error`` naming a bad config.json."""
        if not self.root.is_dir():
            raise StoreError(f"{self.root}: " + ("is a file, not a run store directory" if self.root.exists()
                                                 else "no such run store directory"))
        out = []
        for cfg_file in sorted(self.root.glob("*/config.json")):
            row = {"key": cfg_file.parent.name, "complete": (cfg_file.parent / "COMPLETE").exists()}
            try:
                cfg = read_json(cfg_file)["config"]
                row.update(preset=cfg.get("preset"), method=cfg["continual"]["method"])
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                row["error"] = str(e) if isinstance(e, ValueError) else f"{cfg_file}: not a run's config.json"
            out.append(row)
        return out

    @staticmethod
    def config_of(run_path: str | Path) -> Config:
        f = Path(run_path) / "config.json"
        if not f.exists():
            raise FileNotFoundError(f"{f}: not a run directory (no config.json)")
        stored = read_json(f)
        if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
            raise StoreError(f"{f}: not a run's config.json (no \"config\" object)")
        return from_dict(stored["config"])
