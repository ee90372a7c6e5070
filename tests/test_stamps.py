"""Fetching the tuxpaint stamps: one line and a recorded reason without Debian's tools, apt's own lists
when the machine has none (fake apt-get / dpkg-deb on PATH, no network), and the book target's fetch."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stella import cli
from stella.data.stamps import (LICENCE, UNAVAILABLE, StampsUnavailable, fetch_stamps, licence_line,
                                stamps_status)
from stella.data.tuxpaint import PACKAGE

REPO = Path(__file__).resolve().parents[1]
DEB = f"{PACKAGE}_2022.06.04-1_all.deb"

# apt-get: "download" fails unless its lists are the ones its own "update" filled (a machine whose apt
# has no package lists). dpkg-deb: unpacks one stamp with its sound and the copyright.
FAKE_APT = f'''
import sys, pathlib
args = sys.argv[1:]
lists = next((a.split("=", 1)[1] for a in args if a.startswith("Dir::State::Lists=")), None)
if "update" in args:
    if MODE == "offline":
        sys.exit("E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease")
    pathlib.Path(lists, "Packages").write_text("{PACKAGE}")
elif lists and pathlib.Path(lists, "Packages").is_file():
    pathlib.Path("{DEB}").write_bytes(b"deb" * 1000)
else:
    print("Reading package lists...")
    sys.exit("E: Unable to locate package {PACKAGE}")
'''
FAKE_DPKG = f'''
import sys, pathlib
if sys.argv[1] == "-f":
    print("2022.06.04-1")
else:
    share = pathlib.Path(sys.argv[3], "usr", "share")
    stamps = share / "tuxpaint" / "stamps" / "animals" / "mammals"
    stamps.mkdir(parents=True)
    (stamps / "cat.png").write_bytes(b"png" * 10)
    (stamps / "cat.ogg").write_bytes(b"ogg" * 10)
    (share / "doc" / "{PACKAGE}").mkdir(parents=True)
    (share / "doc" / "{PACKAGE}" / "copyright").write_text("License: GPL-2")
'''


def fake_tools(tmp_path, monkeypatch, mode: str) -> None:
    """Put fake apt-get and dpkg-deb first on PATH; apt-get runs with the fetch's temp folder as cwd."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name, body in (("apt-get", f"MODE = {mode!r}\n{FAKE_APT}"), ("dpkg-deb", FAKE_DPKG)):
        (bin_ / name).write_text(f"#!{sys.executable}\n{body}")
        (bin_ / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}:{Path(sys.executable).parent}:/usr/bin:/bin")


def test_without_debian_tools_one_line_and_the_reason_recorded(tmp_path, monkeypatch, capsys):
    dest = tmp_path / "tux"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(StampsUnavailable, match="no Debian package tool on this machine .apt-get, dpkg-deb not found"):
        fetch_stamps(dest)
    status = stamps_status(dest)
    assert not status.present and "apt-get, dpkg-deb not found" in status.reason
    assert "apt-get, dpkg-deb not found" in (dest / UNAVAILABLE).read_text()
    assert cli.main(["data-real", "--dest", str(dest), "--optional"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "the book builds without them" in err
    assert cli.main(["data-real", "--dest", str(dest)]) == 1
    assert "no Debian package tool" in capsys.readouterr().err


def test_fetch_falls_back_to_apts_own_lists_and_unpacks_the_stamps(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dest = Path("tux")                                     # relative, as make data-real passes it
    (dest / ".fetch-killed").mkdir(parents=True)            # left by a fetch that was killed
    (dest / UNAVAILABLE).write_text("an earlier failure\n")
    fake_tools(tmp_path, monkeypatch, "online")
    got = fetch_stamps(dest)
    assert got.version == "2022.06.04-1" and got.deb_bytes == 3000 and got.stamps_bytes == 60
    assert sorted(p.name for p in (dest / "stamps" / "animals" / "mammals").iterdir()) == ["cat.ogg", "cat.png"]
    assert sorted(p.name for p in dest.iterdir()) == ["COPYRIGHT", "VERSION", "stamps"]   # temp and reason gone
    assert stamps_status(dest).present and stamps_status(dest).version == "2022.06.04-1"
    assert fetch_stamps(dest) is None                      # already there: nothing runs


def test_fetch_tries_the_machines_lists_first_then_its_own(tmp_path, monkeypatch):
    fake_tools(tmp_path, monkeypatch, "online")
    calls, real_run = [], subprocess.run

    def spy(cmd, **kw):
        calls.append(" ".join(a for a in cmd if not a.startswith(("-q", "-o", "Dir::", "/"))))
        return real_run(cmd, **kw)

    monkeypatch.setattr(subprocess, "run", spy)
    fetch_stamps(tmp_path / "tux")
    assert calls == ["apt-get download " + PACKAGE, "apt-get update", "apt-get download " + PACKAGE,
                     "dpkg-deb -x", "dpkg-deb -f Version"]


def test_offline_names_both_apt_errors_and_keeps_nothing(tmp_path, monkeypatch, capsys):
    dest = tmp_path / "tux"
    fake_tools(tmp_path, monkeypatch, "offline")
    with pytest.raises(StampsUnavailable) as e:
        fetch_stamps(dest)
    msg = str(e.value)
    assert "E: Unable to locate package" in msg and "E: Failed to fetch" in msg and "\n" not in msg
    assert stamps_status(dest).reason == msg and sorted(p.name for p in dest.iterdir()) == [UNAVAILABLE]
    assert cli.main(["data-real", "--dest", str(dest), "--optional"]) == 0
    assert "E: Failed to fetch" in capsys.readouterr().err


def test_status_before_any_fetch_names_the_command(tmp_path):
    status = stamps_status(tmp_path / "tux")
    assert not status.present and "make data-real" in status.reason


def test_licence_is_named():
    assert LICENCE == "GPL-2.0-or-later" and LICENCE in licence_line() and PACKAGE in licence_line()


def test_make_book_fetches_the_stamps_before_building():
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}  # under make test
    out = subprocess.run(["make", "-n", "--no-print-directory", "-o", ".venv/.installed", "book"], cwd=REPO, env=env,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert [ln.split()[1:] for ln in out] == [["data-real", "--optional"], ["book", "--preset", "cpu"]]
