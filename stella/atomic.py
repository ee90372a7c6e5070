"""Files written atomically, for the run store and every result a run writes.

Every write goes to a temporary file ``.<name>.*.tmp`` in the same directory, is fsync'ed and renamed
over the target, and the directory entry is fsync'ed, so a crash never leaves a half-written file
that is later read as complete (a run removes the temporary files a kill left behind when it starts
again, :func:`stella.store_protocol.compute_once`). Files get the user's umask (a shared ``results/``
is readable by a teaching lab). A write that fails for want of space raises OSError(ENOSPC) naming the
file it was writing.
"""
from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch


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


def fsync_dir(path: Path) -> None:
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
        fsync_dir(path.parent)
    except BaseException as e:
        full = _out_of_space(path.parent, e)          # asked before the temp file goes and frees its space
        if os.path.exists(tmp):
            os.unlink(tmp)
        if full:
            raise OSError(errno.ENOSPC, "no space left on its device (free some space and run again; a run resumes "
                                        "from its last checkpoint)", str(path)) from e
        raise


def _out_of_space(directory: Path, e: BaseException) -> bool:
    """Whether the write that raised ``e`` failed for want of space: ENOSPC / EDQUOT, or an error of a writer
    that hides the errno (torch.save's "unexpected pos") while the device has under 1 MiB free."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if not isinstance(e, (OSError, RuntimeError)):
        return False
    try:
        st = os.statvfs(directory)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 2**20


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


__all__ = ["StoreError", "atomic_write_bytes", "atomic_write_json", "atomic_torch_save", "read_json", "fsync_dir"]
