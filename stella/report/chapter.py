"""One record per page of the book, and how a preset runs the book.

Each chapter module of :mod:`stella.report.chapters` declares its page with :func:`chapter`: the
notebook's name, its seed tables (each read at the preset's seed count of a *tier*), how it fills
its defaults and which runs it trains. The run plan (:mod:`stella.report.plan`), the verdicts
(:mod:`stella.report.verdicts`) and the notebooks' parameters (:mod:`stella.report.parameters`)
read these records; nothing else lists the chapters.

A preset says how the book runs at it in its YAML's ``book`` section (:class:`Traits`; not part
of a run's config, so no run key depends on it)::

    book:
      quick: true                  # the fewest runs that still draw every table and figure
      frugal: true                 # fewer sweep values in chapters 04 and 05
      memory_geometry: smoke       # the preset whose geometry chapter 03 counts Table 2's memory at
      seeds: {main: 1, sweep: 1, headline: 1}

A preset without the section gets :class:`Traits`' defaults: the paper's settings (3 seeds, every
sweep value, memory counted at the paper's geometry).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from stella.config import ConfigError, load_config, preset_path
from stella.data import WHAT, provides
from stella.report.runs import seeds_for

TIERS = ("main", "sweep", "headline")


class ParameterError(ValueError):
    """A notebook parameter with a bad value; the message names the parameter and the value."""


@dataclass(frozen=True)
class Traits:
    """How the book runs at a preset (the preset YAML's ``book`` section).

    ``seeds``: training seeds per tier; ``main`` is every main table (Table 1, Table 3, the controls,
    the probes), ``sweep`` the sweeps and measurements (chapters 04-07, Table 7), ``headline`` the
    comparisons the book leads with (chapter 04b)."""

    quick: bool = False
    frugal: bool = False
    memory_geometry: str = "paper"
    seeds: Mapping[str, int] = field(default_factory=lambda: {"main": 3, "sweep": 3, "headline": 3})

    def __post_init__(self) -> None:
        if set(self.seeds) != set(TIERS) or any(isinstance(n, bool) or not isinstance(n, int) or n < 1
                                                for n in self.seeds.values()):
            raise ConfigError(f"book.seeds: must give an integer >= 1 for each of {', '.join(TIERS)}, got "
                              f"{dict(self.seeds)!r}")


def traits(preset: str | Path) -> Traits:
    """The :class:`Traits` of ``preset`` (a name or a YAML path), from its ``book`` section."""
    path = preset_path(preset)
    raw = (yaml.safe_load(path.read_text()) or {}).get("book") or {}
    known = {f.name for f in fields(Traits)}
    if not isinstance(raw, dict) or set(raw) - known:
        extra = sorted(set(raw) - known) if isinstance(raw, dict) else raw
        raise ConfigError(f"{path}: book: unknown key(s) {extra!r} (known: {', '.join(sorted(known))})")
    for key in ("quick", "frugal"):
        if key in raw and not isinstance(raw[key], bool):
            raise ConfigError(f"{path}: book.{key}: must be true or false, got {raw[key]!r}")
    if "seeds" in raw:
        raw = {**raw, "seeds": {**Traits().seeds, **(raw["seeds"] or {})}}
    try:
        return Traits(**raw)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


@dataclass(frozen=True)
class Setup:
    """A notebook's checked parameters with its chapter's defaults filled in.

    ``seeds`` are the training seeds of the chapter's main table (:func:`seeds_for`); ``options`` every
    other parameter and default of the chapter (``nb.options["sweep_seeds"]``)."""

    chapter: str
    preset: str
    results_dir: str
    device: str = "cpu"
    task_order: str = "default"
    seeds: list[int] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def train_overrides(self) -> list[str]:
        return [] if self.device == "cpu" else [f"run.device={self.device}"]

    def run_args(self) -> dict[str, Any]:
        """Keyword arguments of :func:`stella.report.runs.seed_table` shared by every chapter's runs."""
        return {"results_dir": self.results_dir, "task_order": self.task_order, "overrides": self.train_overrides}

    def __str__(self) -> str:
        shown = {"task order": self.task_order, "seeds": self.seeds, "methods": self.methods,
                 **{k.replace("_", " "): v for k, v in self.options.items() if k not in ("play_audio", "tuxpaint_dir")}}
        return f"preset {self.preset!r}, " + ", ".join(f"{k} {v}" for k, v in shown.items() if v not in (None, []))


Request = tuple[str, "int | None", tuple[str, ...]]     # (method, seed, overrides): one run a chapter trains
Defaults = Callable[[str, dict, Traits], tuple[list[int], list[str]]]


@dataclass(frozen=True)
class Chapter:
    """One page of the book.

    ``name``: the notebook's stem (``notebooks/<name>.ipynb``) and the key of its claims.
    ``seeds``: seed table -> tier (:data:`TIERS`); :meth:`seeds_of` reads a table's seeds at a preset.
    ``defaults(preset, params, traits) -> (seeds, methods)``: fills the chapter's defaults into ``params``
    (the checked parameters; what it leaves there becomes :attr:`Setup.options`).
    ``runs(setup) -> [Request]``: every run the page trains at its default parameters (None: none).
    ``needs``: what the page's data must have beyond clips and labels (keys of :data:`stella.data.WHAT`); at a
    preset whose data lacks it the page is not computed (:func:`unmet`)."""

    name: str
    defaults: Defaults
    seeds: Mapping[str, str] = field(default_factory=dict)
    runs: Callable[[Setup], list[Request]] | None = None
    needs: frozenset[str] = frozenset()

    def seeds_of(self, table: str, preset: str, n: int | None = None) -> list[int]:
        """The training seeds of ``table`` at ``preset``: ``n`` when given, else its tier's count."""
        return seeds_for(preset, n or traits(preset).seeds[self.seeds[table]])


CHAPTERS: dict[str, Chapter] = {}     # filled by the chapter modules; complete once stella.report.chapters is imported
_COMPLETE: list[bool] = []


def declared_all() -> None:
    """Called by :mod:`stella.report.chapters` once it has imported every chapter module."""
    _COMPLETE.append(True)


def chapter(name: str, defaults: Defaults, seeds: Mapping[str, str] | None = None,
            runs: Callable[[Setup], list[Request]] | None = None, needs: tuple[str, ...] = ()) -> Chapter:
    """Declare a page of the book (called once by the chapter's own module)."""
    bad = {t: v for t, v in (seeds or {}).items() if v not in TIERS}
    if bad:
        raise ValueError(f"chapter {name}: seed tiers must be of {TIERS}, got {bad}")
    if set(needs) - set(WHAT):
        raise ValueError(f"chapter {name}: needs must be of {sorted(WHAT)}, got {sorted(needs)}")
    CHAPTERS[name] = record = Chapter(name, defaults, dict(seeds or {}), runs, frozenset(needs))
    return record


def unmet(name: str, preset: str | Path) -> list[str]:
    """What page ``name`` needs that ``preset``'s data lacks (:data:`stella.data.WHAT`, described); [] when none."""
    return [WHAT[k] for k in sorted(get(name).needs - provides(load_config(preset)))]


def get(name: str) -> Chapter:
    """The record of chapter ``name``."""
    if name not in CHAPTERS:
        raise ParameterError(f"notebook_setup: unknown chapter {name!r} (known: {', '.join(book_order())})")
    return CHAPTERS[name]


def book_order() -> list[str]:
    """Every page in the book's order: the numbered chapters by name, then the landing page and the lab."""
    if not _COMPLETE:
        raise RuntimeError("the book's pages are declared by importing stella.report.chapters (stella.report.parameters "
                           "does); it has not been imported")
    return sorted(CHAPTERS, key=lambda n: (not n[:1].isdigit(), n))


def setup(name: str, preset: str, results_dir: str = "results", device: str = "cpu", task_order: str = "default",
          **params: Any) -> Setup:
    """Chapter ``name``'s :class:`Setup` at ``preset`` from already checked ``params`` (the notebooks' path,
    with the checks, is :func:`stella.report.parameters.resolve`; a claim declaration resolves another
    chapter's settings from its context's, which were checked)."""
    p = dict(params)
    seeds, methods = get(name).defaults(preset, p, traits(preset))
    return Setup(name, preset, str(results_dir), device, task_order, seeds, methods, p)
