"""The run store's protocol: one process computes a directory, every other waits and then reuses it.

:func:`compute_once` computes a directory (a training run or a pre-training stage) under its lock
(:func:`locked`, fcntl.flock on ``run.lock``: a second process waits, then reuses the result), after
removing the temporary files an interrupted write left, and writes ``COMPLETE`` last, listing every
result file and its size; a directory without it is incomplete. A complete directory is read without
the lock, so a store another user filled can be read but not written.

Before a complete directory is used its files are verified (:func:`verify_complete`): each file
COMPLETE lists is there with its size, each JSON file parses, each ``.pt`` file is a whole torch zip
archive. One that does not verify is computed again: its files are moved aside to
``<key>.damaged-<UTC time>/`` beside it (:func:`move_aside`) and named in one warning line.
:func:`busy` tells whether a process holds a directory's lock.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import time
import zipfile
from pathlib import Path
from typing import Callable, Iterator

from stella.atomic import StoreError, atomic_write_json, fsync_dir, read_json

log = logging.getLogger(__name__)

RESUME_STATE = re.compile(r"checkpoint.*\.pt|state\.pt")   # resumable state: never read once complete, not verified
ASIDE = ".damaged-"                                         # <key>.damaged-<UTC time>: moved aside


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
    fsync_dir(directory)
    fsync_dir(aside)
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


__all__ = ["ASIDE", "RESUME_STATE", "locked", "file_problem", "verify_complete", "move_aside", "compute_once", "busy"]
