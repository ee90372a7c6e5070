"""What built this book: commit, package versions, preset and date, and how to cite it.

:func:`provenance` is computed when a page executes (the landing page shows it), so the page states
the source and the software that produced its numbers. A checkout without git, or a directory that
is not a git repository, gives ``"unknown commit"``; a missing package gives ``"not installed"``.
:func:`citation` reads ``CITATION.cff`` (the paper as ``preferred-citation``, this book as the
software) and writes both as BibTeX.
"""
from __future__ import annotations

import datetime as _dt
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

import stella

REPO = Path(__file__).resolve().parent.parent.parent
UNKNOWN_COMMIT = "unknown commit"
PACKAGES = ("torch", "jupyter-book")


def git_commit(root: str | Path = REPO) -> str:
    """The short commit hash of ``root``'s checkout, with ``+ uncommitted changes`` when its tracked
    files differ from it; :data:`UNKNOWN_COMMIT` without git or outside a git repository."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20,
                              check=True).stdout.strip()
    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN_COMMIT
    if not commit:
        return UNKNOWN_COMMIT
    return f"{commit} + uncommitted changes" if dirty else commit


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance(preset: str, root: str | Path = REPO, now: _dt.datetime | None = None) -> dict[str, str]:
    """``commit``, ``stella``, ``torch``, ``jupyter-book``, ``preset`` and ``built`` (UTC, ISO date and time)."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return {"commit": git_commit(root), "stella": stella.__version__,
            **{p: package_version(p) for p in PACKAGES}, "preset": str(preset),
            "built": now.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def provenance_line(info: dict[str, str]) -> str:
    """One markdown sentence of :func:`provenance`'s fields."""
    return (f"Built on {info['built']} from commit `{info['commit']}` with stella {info['stella']}, "
            f"torch {info['torch']} and jupyter-book {info['jupyter-book']}, at the `{info['preset']}` preset.")


def read_citation(root: str | Path = REPO) -> dict[str, Any]:
    """``CITATION.cff`` as a dict; ValueError naming the file when it is missing or not a mapping."""
    path = Path(root) / "CITATION.cff"
    if not path.exists():
        raise ValueError(f"{path}: missing")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return data


def _names(authors: list[dict]) -> str:
    return " and ".join(f"{a['family-names']}, {a['given-names']}" if "family-names" in a else f"{{{a['name']}}}"
                        for a in authors)


def bibtex(cff: dict[str, Any]) -> str:
    """The paper (``preferred-citation``) and the book (the software) as two BibTeX entries."""
    p = cff["preferred-citation"]
    paper = (f"@inproceedings{{lee2024stella,\n  title = {{{p['title']}}},\n  author = {{{_names(p['authors'])}}},\n"
             f"  booktitle = {{{p['collection-title']}}},\n  publisher = {{{p['publisher']['name']}}},\n"
             f"  volume = {{{p['volume']}}},\n  year = {{{p['year']}}}\n}}")
    book = (f"@software{{stella_book,\n  title = {{{cff['title']}}},\n  author = {{{_names(cff['authors'])}}},\n"
            f"  version = {{{cff['version']}}}\n}}")
    return f"{paper}\n\n{book}"


def citation(root: str | Path = REPO) -> str:
    """The "How to cite" text: what to cite for what, and both BibTeX entries, from ``CITATION.cff``."""
    cff = read_citation(root)
    p = cff["preferred-citation"]
    return (f"Cite the paper, *{p['title']}* ({p['authors'][0]['family-names']} et al., {p['conference']['name']}), "
            f"for the method and its "
            f"results; cite this book ({cff['title']}, version {cff['version']}, with the commit above) for the "
            f"re-implementation and the numbers it computes. Both are in `CITATION.cff` at the root of the "
            f"repository (Citation File Format 1.2.0):\n\n```bibtex\n{bibtex(cff)}\n```")
