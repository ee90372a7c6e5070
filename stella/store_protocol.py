"""The run store's protocol: one process computes a directory, every other waits and then reuses it.

:func:`compute_once` computes a directory (a training run or a pre-training stage) under its lock
(:func:`locked`, fcntl.flock on ``run.lock``: a second process waits, then reuses the result), after
removing the temporary files an interrupted write left, and writes ``COMPLETE`` last, listing every
result file with its size and sha256; a directory without it is incomplete. A complete directory is
read without the lock, so a store another user filled can be read but not written.

Before a complete directory is used its files are verified (:func:`verify_complete`): each file
COMPLETE lists is there, a regular file with its size and content (sha256), each JSON file parses,
each ``.pt`` file is a whole torch zip archive (a COMPLETE of an older version lists sizes only, or
no files). One that does not verify is computed again: its files are moved aside to
``<key>.damaged-<UTC time>/`` beside it (:func:`move_aside`) and named in one warning line. A
computation that raises :class:`CannotComplete` (a non-finite loss: it would end the same way each
time) leaves no directory behind. :func:`busy` tells whether a process holds a directory's lock.

The store removes only what it made: a directory it creates gets a marker file (``MARKER``,
:func:`make_dir`), and :func:`removal_problem` refuses a symbolic link, a directory without the
marker and one holding anything but regular files (the store writes no other kind), naming the path.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import time
import zipfile
from pathlib import Path
from typing import Callable, Iterator

from stella.atomic import StoreError, atomic_write_bytes, atomic_write_json, fsync_dir, read_json

log = logging.getLogger(__name__)

RESUME_STATE = re.compile(r"checkpoint.*\.pt|state\.pt")   # resumable state: never read once complete, not verified
ASIDE = ".damaged-"                                         # <key>.damaged-<UTC time>: moved aside
MARKER = ".stella-store"                                    # in every directory the store made
_MARKER_TEXT = b"made by the stella run store; `stella runs --clean` removes only directories holding this file\n"


class CannotComplete(ValueError):
    """A computation that fails the same way each time it runs (training that reaches a non-finite
    loss): :func:`compute_once` removes the directory it was computing rather than leave it to resume."""


def make_dir(directory: Path) -> Path:
    """``directory`` (its parents created as needed); when this call creates it, with the store's ``MARKER``."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir()
    except FileExistsError:
        return directory
    atomic_write_bytes(directory / MARKER, _MARKER_TEXT)
    return directory


def removal_problem(directory: Path) -> str | None:
    """Why the store will not remove ``directory`` (None: it made it and holds only regular files there)."""
    if directory.is_symlink():
        return f"{directory}: a symbolic link (to {os.readlink(directory)}); the store never follows one"
    if not directory.is_dir():
        return f"{directory}: not a directory"
    marker = directory / MARKER
    if marker.is_symlink() or not marker.is_file():
        return (f"{directory}: has no {MARKER} file, so the run store did not make it (or an older stella "
                "did); remove it yourself if it is yours to remove")
    for p in sorted(directory.iterdir()):
        if p.is_symlink() or not p.is_file():
            kind = "a symbolic link" if p.is_symlink() else "a directory" if p.is_dir() else "not a regular file"
            return f"{p}: {kind}, which the run store never writes"
    return None


def remove_made(directory: Path) -> None:
    """Remove a directory the store made: its regular files, then itself (StoreError naming what it will not touch)."""
    why = removal_problem(directory)
    if why is not None:
        raise StoreError(f"{why}; not removed")
    for p in directory.iterdir():
        p.unlink()
    directory.rmdir()


@contextlib.contextmanager
def locked(directory: Path, name: str, lock: str = "run.lock") -> Iterator[Path]:
    """Hold ``directory/<lock>`` (fcntl.flock, released when the process ends, SIGKILL included);
    ``name`` (a run key) names the wait in the log. Creates ``directory`` (:func:`make_dir`) if needed."""
    make_dir(directory)
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


_HASHED: dict[tuple, str] = {}      # (path, inode, size, mtime) -> sha256, so one process hashes a file once


def sha256(path: Path) -> str:
    """The sha256 hex digest of the file ``path``."""
    st = path.stat()
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _HASHED:
        with open(path, "rb") as f:
            _HASHED[key] = hashlib.file_digest(f, "sha256").hexdigest()
    return _HASHED[key]


def file_problem(path: Path, size: int | None = None, digest: str | None = None) -> str | None:
    """Why ``path`` cannot be a result file of a complete run (None: it can): missing or not a regular
    file, a JSON file that does not parse, a ``.pt`` file that is not a whole zip archive (torch.save's
    format; a truncated one has lost its central directory), not the ``size`` bytes it had, or not the
    content it had (its sha256 is not ``digest``)."""
    if path.is_symlink() or not path.is_file():
        return f"{path}: " + ("missing" if not os.path.lexists(path) else "not a regular file")
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
    if digest is not None and sha256(path) != digest:
        return f"{path}: its content changed since it was written (sha256 {sha256(path)[:12]}..., {digest[:12]}... then)"
    return None


def verify_complete(directory: Path, required: tuple[str, ...] = ()) -> list[str]:
    """Problems of a complete directory's files, one line each ([] when it verifies): the files its
    COMPLETE lists (with their sizes and sha256), or, in a COMPLETE of an older version that lists none,
    ``required`` and every other ``.json`` and ``.pt`` file but the resumable state."""
    marker = directory / "COMPLETE"
    if marker.is_symlink() or not marker.is_file():
        return [f"{marker}: " + ("a directory" if marker.is_dir() else "not a regular file")
                + ", not the COMPLETE marker file the run store writes"]
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
    found = []
    for n, rec in names.items():
        size, digest = (rec.get("bytes"), rec.get("sha256")) if isinstance(rec, dict) else (rec, None)
        if "/" in n or n in ("", ".", ".."):
            found.append(f"{marker}: lists {n!r}, not a file name")
        elif (p := file_problem(directory / n, size, digest)) is not None:
            found.append(p)
    return found


def _mark_complete(directory: Path) -> None:
    files = {p.name: {"bytes": p.stat().st_size, "sha256": sha256(p)} for p in sorted(directory.iterdir())
             if p.is_file() and not p.name.startswith(".") and p.name not in ("run.lock", "COMPLETE")
             and not RESUME_STATE.fullmatch(p.name)}
    atomic_write_json(directory / "COMPLETE", {"files": files})


def move_aside(directory: Path) -> Path:
    """Move every file of ``directory`` but its lock and marker to a new ``<name>.damaged-<UTC time>`` beside it."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside, n = directory.with_name(f"{directory.name}{ASIDE}{stamp}"), 1
    while aside.exists():
        n += 1
        aside = directory.with_name(f"{directory.name}{ASIDE}{stamp}-{n}")
    make_dir(aside)
    for p in directory.iterdir():
        if p.name not in ("run.lock", MARKER):
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
    aside (:func:`move_aside`), named in one warning line, and computed again. A computation that raises
    :class:`CannotComplete` has its directory removed (when the store made it, :func:`remove_made`) and the
    error re-raised, naming what was removed. Returns True when this process computed it."""
    def problems() -> list[str]:
        found = list(check(directory)) if check is not None else []
        if os.path.lexists(directory / "COMPLETE"):
            named = {f.split(": ", 1)[0] for f in found}
            found += [f for f in verify_complete(directory, required) if f.split(": ", 1)[0] not in named]
        return found

    if os.path.lexists(directory / "COMPLETE"):
        found = problems()
        if not found:
            return False
        if not os.access(directory, os.W_OK | os.X_OK):
            raise StoreError(f"{found[0]}; the run store is not writable, so {name} cannot be computed again")
    with locked(directory, f"run {name}"):
        found = problems()
        if os.path.lexists(directory / "COMPLETE") and not found:
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
        try:
            compute(directory)
        except CannotComplete as e:
            why = removal_problem(directory)
            if why is None:
                remove_made(directory)
            raise CannotComplete(f"{e}; " + (f"removed the incomplete {directory}" if why is None
                                             else f"left the incomplete {why}")) from None
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


__all__ = ["ASIDE", "RESUME_STATE", "MARKER", "CannotComplete", "make_dir", "removal_problem", "remove_made", "locked",
           "sha256", "file_problem", "verify_complete", "move_aside", "compute_once", "busy"]
