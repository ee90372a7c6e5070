"""Fetch Debian's ``tuxpaint-stamps-default`` (GPL-2.0-or-later) into ``data/tuxpaint``; say whether it is there.

:func:`fetch_stamps` (``make data-real``, ``stella data-real``; ``make book`` and ``.ci/run`` call it too)
runs ``apt-get download`` (no root needed; apt checks the package's hash against Debian's signed lists) and
``dpkg-deb -x``, and keeps the package's ``stamps`` folder, its copyright file and its version under
``data/tuxpaint`` (gitignored: nothing of the stamps is committed). Where the machine's apt has no
package lists (a container that never ran ``apt-get update``), apt runs again with its lists and cache in
the fetch's own temporary folder (``Dir::State::Lists``, ``Dir::Cache``), which ``apt-get update`` fills
without root. A fetch that cannot run raises :class:`StampsUnavailable` with one line naming why and
records that line in ``data/tuxpaint/UNAVAILABLE``; :func:`stamps_status` reads it back for the book.
The ``stamps`` folder is moved into place last, in one rename, so its presence means a complete fetch.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from stella.data.tuxpaint import DEFAULT_DIR, PACKAGE

LICENCE = "GPL-2.0-or-later"
TOOLS = ("apt-get", "dpkg-deb")
UNAVAILABLE = "UNAVAILABLE"


class StampsUnavailable(RuntimeError):
    """The stamps cannot be fetched on this machine; the message is one line naming why."""


@dataclass(frozen=True)
class StampsStatus:
    present: bool
    reason: str          # why they are absent; "" when present
    version: str         # the Debian package version fetched; "" when absent or unrecorded


@dataclass(frozen=True)
class Fetched:
    dest: Path
    version: str
    seconds: float       # wall time of the whole fetch (apt, unpacking, moving into place)
    deb_bytes: int       # size of the downloaded .deb
    stamps_bytes: int    # size of the unpacked stamps folder


def licence_line() -> str:
    """One sentence naming the stamps' source and licence, for the chapter and the README."""
    return (f"The real photos and sounds are Debian's `{PACKAGE}` (Tux Paint's stamps, © 2002-2022 Bill Kendrick, "
            f"licence {LICENCE}); they are fetched on the reader's machine and never shipped with this book.")


def missing_tools() -> list[str]:
    """The Debian package tools this fetch needs that are not on ``PATH``."""
    return [t for t in TOOLS if shutil.which(t) is None]


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def stamps_status(root: str | Path = DEFAULT_DIR) -> StampsStatus:
    """Whether ``root/stamps`` holds a fetched package and, if not, why (one line)."""
    root = Path(root)
    if (root / "stamps").is_dir():
        ver = root / "VERSION"
        return StampsStatus(True, "", ver.read_text().strip() if ver.is_file() else "")
    missing = missing_tools()
    if missing:
        return StampsStatus(False, _no_tools(missing), "")
    recorded = root / UNAVAILABLE
    if recorded.is_file():
        return StampsStatus(False, recorded.read_text().strip(), "")
    return StampsStatus(False, f"{root}/stamps not fetched yet: run `make data-real` (stella data-real)", "")


def _no_tools(missing: list[str]) -> str:
    return f"no Debian package tool on this machine ({', '.join(missing)} not found), so {PACKAGE} cannot be fetched"


def _error(proc: subprocess.CompletedProcess) -> str:
    """apt's last ``E:`` line, else its last line of output, else its exit status."""
    lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("E:")]
    return (errors or lines or [f"exit status {proc.returncode}"])[-1]


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def _download(tmp: Path) -> Path:
    """The package's .deb in ``tmp``: with the machine's apt lists, else with lists of its own."""
    first = _run(["apt-get", "-q", "download", PACKAGE], tmp)
    if first.returncode:
        own = tmp / "apt"
        for sub in ("lists/partial", "cache/archives/partial"):
            (own / sub).mkdir(parents=True)
        opts = ["-o", f"Dir::State::Lists={own / 'lists'}", "-o", f"Dir::Cache={own / 'cache'}",
                "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache="]
        update = _run(["apt-get", "-q", *opts, "update"], tmp)
        if update.returncode:
            raise StampsUnavailable(f"apt-get download {PACKAGE} failed ({_error(first)}) and apt-get update "
                                    f"into a folder of its own failed too ({_error(update)})")
        again = _run(["apt-get", "-q", *opts, "download", PACKAGE], tmp)
        if again.returncode:
            raise StampsUnavailable(f"apt-get download {PACKAGE} failed with the machine's lists "
                                    f"({_error(first)}) and with fresh ones ({_error(again)})")
    debs = sorted(tmp.glob(f"{PACKAGE}_*.deb"))
    if not debs:
        raise StampsUnavailable(f"apt-get download {PACKAGE} left no {PACKAGE}_*.deb in {tmp}")
    return debs[-1]


def _dpkg_deb(args: list[str], tmp: Path) -> str:
    proc = _run(["dpkg-deb", *args], tmp)
    if proc.returncode:
        raise StampsUnavailable(f"dpkg-deb {args[0]} {Path(args[1]).name} failed: {_error(proc)}")
    return proc.stdout.strip()


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def fetch_stamps(dest: str | Path = DEFAULT_DIR) -> Fetched | None:
    """Fetch and unpack the package into ``dest`` (``stamps/``, ``COPYRIGHT``, ``VERSION``); None when already there.

    Raises :class:`StampsUnavailable` (and records its line in ``dest/UNAVAILABLE``) when it cannot.
    """
    dest = Path(dest)
    if (dest / "stamps").is_dir():
        return None
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.glob(".fetch-*"):            # left by a fetch that was killed
        shutil.rmtree(stale, ignore_errors=True)
    start = time.perf_counter()
    try:
        missing = missing_tools()
        if missing:
            raise StampsUnavailable(_no_tools(missing))
        with tempfile.TemporaryDirectory(dir=dest, prefix=".fetch-") as name:
            tmp = Path(name).resolve()             # apt and dpkg-deb run inside it
            deb = _download(tmp)
            _dpkg_deb(["-x", str(deb), str(tmp / "x")], tmp)
            version = _dpkg_deb(["-f", str(deb), "Version"], tmp)
            share = tmp / "x" / "usr" / "share"
            stamps = share / "tuxpaint" / "stamps"
            if not stamps.is_dir():
                raise StampsUnavailable(f"{deb.name} holds no usr/share/tuxpaint/stamps folder")
            shutil.copy(share / "doc" / PACKAGE / "copyright", dest / "COPYRIGHT")
            _write(dest / "VERSION", version + "\n")
            sizes = deb.stat().st_size, folder_bytes(stamps)
            os.replace(stamps, dest / "stamps")
    except StampsUnavailable as e:
        _write(dest / UNAVAILABLE, f"{e}\n")
        raise
    (dest / UNAVAILABLE).unlink(missing_ok=True)
    return Fetched(dest, version, time.perf_counter() - start, *sizes)


def fetched_line(f: Fetched) -> str:
    return (f"tuxpaint stamps ready in {f.dest}: {PACKAGE} {f.version} ({LICENCE}), {f.deb_bytes / 1e6:.0f} MB "
            f"downloaded, {f.stamps_bytes / 1e6:.0f} MB unpacked, {f.seconds:.0f} s")
