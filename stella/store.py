"""Run store: every run lives in ``results/<digest>/``, keyed by its resolved config.

Layout of one run directory::

    config.json           resolved Config + package version (written first)
    run.lock              flock'ed by the process computing the run; a second one waits, then reuses
    checkpoint.pt         latest resumable state (trainer); checkpoint.prev.pt the one before it
    <name>.json           metrics, accuracy matrices, tables (atomic)
    <name>.pt             tensors (atomic)
    COMPLETE              marker written last, listing every result file and its size; a run without it
                          is incomplete

Every write goes to a temporary file ``.<name>.*.tmp`` in the same directory, is fsync'ed and renamed
over the target, and the directory entry is fsync'ed, so a crash never leaves a half-written file
that is later read as complete; temporary files a kill left behind are removed when the run starts
again. Files get the user's umask (a shared ``results/`` is readable by a teaching lab). A complete
run is read without the lock, so a store another user filled can be read but not written.

Before a complete run or stage is used its files are verified (:func:`verify_complete`): each file
COMPLETE lists is there with its size, each JSON file parses, each ``.pt`` file is a whole torch zip
archive, and a run's ``config.json`` is its config's. One that does not verify is computed again:
its files are moved aside to ``<key>.damaged-<UTC time>/`` beside it and named in one warning line
(:func:`compute_once`). ``stella runs --clean`` lists, and with ``--yes`` removes, incomplete,
unreadable, damaged and moved-aside directories (:meth:`RunStore.runs`, :func:`remove`).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from stella import __version__
from stella.config import Config, from_dict, hashed_part

log = logging.getLogger(__name__)


class StoreError(Exception):
    """A run store or one of its files cannot be used; the message names the path."""


RESUME_STATE = re.compile(r"checkpoint.*\.pt|state\.pt")   # resumable state: never read once complete, not verified
RUN_FILES = ("config.json", "results.json", "summary.json", "meta.json")   # every complete training run has them
STAGE_FILES = ("spec.json", "weights.pt", "log.json", "summary.json")      # ... and every pre-training stage
ASIDE = ".damaged-"                                                         # <key>.damaged-<UTC time>: moved aside
KEYED = re.compile(r"[0-9a-f]{16}(\.damaged-.+)?")                           # the directories the store made


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
def locked(directory: Path, name: str, lock: str = "run.lock") -> Iterator[Path]:
    """Hold ``directory/<lock>`` (fcntl.flock, released when the process ends, SIGKILL included);
    ``name`` (a run key) names the wait in the log."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / lock
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise StoreError(f"{path}: cannot open the run's lock file ({e.strerror})") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s: another process is computing it (%s); waiting for it to finish", name, path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield directory
    finally:
        os.close(fd)


def file_problem(path: Path, size: int | None = None) -> str | None:
    """Why ``path`` cannot be a result file of a complete run (None: it can): missing, a JSON file that
    does not parse, a ``.pt`` file that is not a whole zip archive (torch.save's format; a truncated one
    has lost its central directory), or not the ``size`` bytes it had. Reads only a ``.pt`` file's directory."""
    if not path.is_file():
        return f"{path}: missing"
    actual = path.stat().st_size
    if path.suffix == ".json":
        try:
            read_json(path)
        except (ValueError, OSError) as e:
            return str(e)
    elif path.suffix == ".pt":
        try:
            with zipfile.ZipFile(path) as z:
                if any(i.header_offset + i.compress_size > actual for i in z.infolist()):
                    raise zipfile.BadZipFile("an entry lies past the end of the file")
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            return f"{path}: truncated or not a torch file ({' '.join(str(e).split())[:80]})"
    if size is not None and actual != size:
        return f"{path}: {actual} bytes, {size} when it was written"
    return None


def verify_complete(directory: Path, required: tuple[str, ...] = ()) -> list[str]:
    """Problems of a complete directory's files, one line each ([] when it verifies): the files its
    COMPLETE lists (with their sizes), or, in a COMPLETE of an older version that lists none, ``required``
    and every other ``.json`` and ``.pt`` file but the resumable state."""
    marker = directory / "COMPLETE"
    text = marker.read_bytes()
    if text.strip() == b"ok":
        names = {n: None for n in required}
        names.update({p.name: None for p in sorted(directory.iterdir())
                      if p.suffix in (".json", ".pt") and not RESUME_STATE.fullmatch(p.name)})
    else:
        try:
            names = json.loads(text)["files"]
            assert isinstance(names, dict)
        except (ValueError, KeyError, TypeError, AssertionError):
            return [f"{marker}: not a COMPLETE marker"]
    return [p for n, size in names.items() if (p := file_problem(directory / n, size)) is not None]


def _mark_complete(directory: Path) -> None:
    files = {p.name: p.stat().st_size for p in sorted(directory.iterdir())
             if p.is_file() and not p.name.startswith(".") and p.name not in ("run.lock", "COMPLETE")
             and not RESUME_STATE.fullmatch(p.name)}
    atomic_write_json(directory / "COMPLETE", {"files": files})


def move_aside(directory: Path) -> Path:
    """Move every file of ``directory`` but its lock to a new ``<name>.damaged-<UTC time>`` beside it."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside, n = directory.with_name(f"{directory.name}{ASIDE}{stamp}"), 1
    while aside.exists():
        n += 1
        aside = directory.with_name(f"{directory.name}{ASIDE}{stamp}-{n}")
    aside.mkdir()
    for p in directory.iterdir():
        if p.name != "run.lock":
            os.replace(p, aside / p.name)
    _fsync_dir(directory)
    _fsync_dir(aside)
    return aside


def compute_once(directory: Path, compute: Callable[[Path], None], name: str,
                 check: Callable[[Path], list[str]] | None = None, required: tuple[str, ...] = ()) -> bool:
    """``compute(directory)`` unless ``directory`` is complete and verifies, then write COMPLETE (listing
    the files and their sizes): under the directory's lock (a second process waits, then reuses the
    result), after removing the temporary files an interrupted write left. ``check(directory)`` adds
    problems of the directory in any state (a run's config.json); a directory with a problem is moved
    aside (:func:`move_aside`), named in one warning line, and computed again. Returns True when this
    process computed it."""
    def problems() -> list[str]:
        found = list(check(directory)) if check is not None else []
        if (directory / "COMPLETE").exists():
            named = {f.split(": ", 1)[0] for f in found}
            found += [f for f in verify_complete(directory, required) if f.split(": ", 1)[0] not in named]
        return found

    if (directory / "COMPLETE").exists():
        found = problems()
        if not found:
            return False
        if not os.access(directory, os.W_OK | os.X_OK):
            raise StoreError(f"{found[0]}; the run store is not writable, so {name} cannot be computed again")
    with locked(directory, f"run {name}"):
        found = problems()
        if (directory / "COMPLETE").exists() and not found:
            return False
        if found:
            aside = move_aside(directory)
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            log.warning("%s: damaged (%s%s); moved its files to %s and computing it again", name, found[0], more, aside)
        stale = sorted(directory.glob(".*.tmp"))
        for p in stale:
            p.unlink(missing_ok=True)
        if stale:
            log.info("run %s: removed %d temporary files of an interrupted write", name, len(stale))
        compute(directory)
        _mark_complete(directory)
    return True


def busy(directory: Path) -> bool:
    """True while a process holds ``directory/run.lock`` (computing it)."""
    path = directory / "run.lock"
    if not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


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

    @staticmethod
    def config_of(run_path: str | Path) -> Config:
        f = Path(run_path) / "config.json"
        if not f.exists():
            raise FileNotFoundError(f"{f}: not a run directory (no config.json)")
        stored = read_json(f)
        if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
            raise StoreError(f"{f}: not a run's config.json (no \"config\" object)")
        return from_dict(stored["config"])


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
