"""What built this book: commit, package versions, preset, machine and date, and how to cite it.

:func:`provenance` is computed when a page executes (the landing page shows it), so the page states
the source, the software and the machine that produced its numbers. A checkout without git, or a
directory that is not a git repository, gives ``"unknown commit"``; a missing package gives
``"not installed"``. The machine is part of the result: torch picks its fp32 CPU kernels by the
instruction set it finds (``torch.backends.cpu.get_cpu_capability()``: AVX2, AVX512, ...; the
environment variable ``ATEN_CPU_CAPABILITY`` lowers it), and kernels of another instruction set or
another thread count round differently, so per-seed numbers are byte-identical only on a machine
whose torch uses the same kernels and threads (:func:`machine`).
:func:`citation` reads ``CITATION.cff`` (the paper as ``preferred-citation``, this book as the
software) and writes both as BibTeX.
"""
from __future__ import annotations

import datetime as _dt
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
import yaml

import stella
from stella.config import load_config
from stella.continual.pretrain import pretrain_spec, stage_threads

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


def thread_count(n: int) -> str:
    """``n`` torch threads as configured; 0 (torch's default) as the count torch uses in this process."""
    if not n:
        return f"torch's default thread count ({torch.get_num_threads()} here)"
    return f"{n} torch thread{'s' if n > 1 else ''}"


def machine(preset: str) -> dict[str, str]:
    """``cpu kernels``: the instruction set of torch's CPU kernels in this process; ``threads``: the torch
    threads of each run at ``preset`` (``run.num_threads``) and of its pre-training stage when they differ."""
    cfg = load_config(preset)
    runs, stage = cfg.run.num_threads, stage_threads(cfg)
    threads = f"{thread_count(runs)} per run"
    if stage != runs and pretrain_spec(cfg) is not None:
        threads += f", {thread_count(stage)} for the pre-training stage"
    return {"cpu kernels": torch.backends.cpu.get_cpu_capability(), "threads": threads}


def provenance(preset: str, root: str | Path = REPO, now: _dt.datetime | None = None) -> dict[str, str]:
    """``commit``, ``stella``, ``torch``, ``jupyter-book``, ``preset``, :func:`machine`'s ``cpu kernels``
    and ``threads``, and ``built`` (UTC, ISO date and time)."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return {"commit": git_commit(root), "stella": stella.__version__,
            **{p: package_version(p) for p in PACKAGES}, "preset": str(preset), **machine(preset),
            "built": now.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def provenance_line(info: dict[str, str]) -> str:
    """One markdown paragraph of :func:`provenance`'s fields."""
    return (f"Built on {info['built']} from commit `{info['commit']}` with stella {info['stella']}, "
            f"torch {info['torch']} and jupyter-book {info['jupyter-book']}, at the `{info['preset']}` preset, "
            f"on torch's {info['cpu kernels']} CPU kernels with {info['threads']}. Another "
            f"instruction set or thread count rounds differently: the per-seed numbers move within seed noise, "
            f"and a verdict at the edge of significance may move with them.")


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
