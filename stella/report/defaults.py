"""Every notebook's first call after its ``parameters`` cell: check the parameters, fill the defaults.

``nb = notebook_setup("02_retrieval", preset=preset, results_dir=results_dir, n_seeds=n_seeds, ...)``
checks each parameter (a bad one raises :class:`ParameterError`, one line naming the parameter
and the value) and resolves the chapter's per-preset defaults in one visible place, so the
notebooks carry no pasted preamble. The rules: ``None`` means "the chapter's default at this
preset"; "smoke" (``quick``) runs the fewest runs that still draw every table and figure;
"smoke" and "cpu" (``frugal``) sweep fewer values in chapters 04 and 05, whose default setting is
the run shared with chapter 02. How many training seeds each table uses is :data:`SEEDS`, one
table for the book. Training runs keep the preset's ``run.device`` unless a GPU is asked for
(``train_overrides``), so every chapter shares the store's runs.

A parameter papermill injects (``-p name value``) that the chapter does not take would be assigned and
never read: papermill only warns. So ``notebook_setup`` reads the injected-parameters cell papermill
ran in this kernel (the last input in IPython's history that begins with ``# Parameters``) and rejects
any name it assigns that the chapter does not pass to ``notebook_setup`` (:func:`injected_parameters`).
"""
from __future__ import annotations

import ast
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from stella.config import ConfigError, load_config
from stella.continual import METHODS
from stella.report.runs import run_config, seeds_for

TABLE1 = ("finetune", "er", "mir", "derpp", "gmed", "clser", "lump", "esmer", "stella", "stella+", "multitask")
TABLE3 = ("random", "mats", "derpp", "lpis", "rca", "stella")
GAP_METHODS = ("finetune", "er", "derpp", "esmer", "stella", "stella+", "lpis", "rca")   # Fig. 6 / 10 / 12
AUDIO_MODES = ("time", "frequency", "none")
PAPER_BATCH = 9      # Table 2: one V100 at batch 9 (STELLA++ 15); 48 is the training batch of Table 5

# Training seeds of every table of the book: (smoke, cpu, any other preset). Seeds are the preset's
# seed and the next ones (stella.report.runs.seeds_for), so a table with fewer seeds uses the first
# seeds of one with more, and every claim pairs its two sides over the same seeds. At cpu the main
# comparisons use 5 seeds (3 cannot separate differences of 2-4 %p with seed std 2-4 %p); the
# sweeps of chapter 04, the memory sizes of chapter 05, the shuffled task order (Table 7) and the
# measurements of chapters 06 and 07 use three, the fewest that give a paired interval with some
# power (each claim states the smallest difference its seeds detect). The paper averages 3 runs, so
# its presets use 3.
SEEDS = {
    "02_retrieval": (1, 5, 3),                 # Table 1: every method
    "02_shuffled": (1, 3, 3),                  # Table 7: STELLA and the baselines, shuffled task order
    "03_efficiency": (1, 5, 3),                # Table 2's A/F columns and STELLA++'s claims (the runs of Table 1)
    "04_ablations": (1, 5, 3),                 # Table 3: random, MATS, DER++, LPIS, RCA, STELLA
    "04_sweeps": (1, 3, 3),                    # Fig. 9, Tables 9 and 10
    "04b_controls": (1, 5, 3),                 # the controls of the verdict on STELLA
    "04b_headline": (1, 10, 3),                # STELLA and Random at equal visible tokens, and DER++
    "04b_sparsity": (1, 3, 3),                 # STELLA, Random and the Oracle at three sparsity levels
    "05_memory_size": (1, 3, 3),               # Fig. 5
    "06_modality_gap": (1, 3, 3),              # Fig. 6, 10, 12
    "07_attention_localization": (1, 3, 3),    # Fig. 2, 7, 13, 14
    "08_downstream": (1, 5, 3),                # Tables 4 and 8 (the runs of Table 1)
    "09_what_reproduced": (1, 5, 3),           # the claims of 02, 04 and 08 (each with its own seeds)
    "lab": (1, 5, 3),                          # the lab page's expected outcomes (a student's command: 1 seed)
}


class ParameterError(ValueError):
    """A notebook parameter with a bad value; the message names the parameter and the value."""


def _fail(name: str, value: Any, want: str) -> ParameterError:
    return ParameterError(f"notebook parameter {name}: {want}, got {value!r}")


def _int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise _fail(name, value, f"must be an integer >= {low}")
    return int(value)


def _seed(name: str, value: Any) -> int:
    """A seed: an integer >= 0, the rule of the config's run.seed, data.seed and pretrain.seed."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise _fail(name, value, "a seed must be an integer >= 0")
    return int(value)


def _number(name: str, value: Any, low: float, high: float | None = None, low_open: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
    if ok:
        ok = (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        rng = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}]"
        raise _fail(name, value, f"must be a number in {rng}")
    return float(value)


def _listing(name: str, value: Any) -> list:
    """A list/tuple, or a comma-separated string, as a non-empty list."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise _fail(name, value, "must be a non-empty list or a comma-separated string")
    return list(value)


def _number_list(name: str, value: Any, check: Callable[[str, Any], Any]) -> list:
    items = _listing(name, value)
    if all(isinstance(v, str) for v in items):
        try:
            items = [float(v) if any(c in v for c in ".e") else int(v) for v in items]
        except ValueError:
            raise _fail(name, value, "must list numbers") from None
    return [check(name, v) for v in items]


def check_methods(name: str, value: Any) -> list[str]:
    """A list (or comma-separated string) of registered method names (:data:`stella.continual.METHODS`)."""
    methods = _listing(name, value)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ParameterError(f"notebook parameter {name}: unknown method(s) {', '.join(map(repr, unknown))} "
                             f"(known: {', '.join(METHODS)})")
    return list(dict.fromkeys(methods))


def _optional(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda name, v: None if v is None else check(name, v)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(name, value, "must be True or False")
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise _fail(name, value, "must be a non-empty string")
    return str(value)


def _device(name: str, value: Any) -> str:
    value = _text(name, value)
    if value.split(":")[0] not in ("cpu", "cuda", "mps", "auto"):
        raise _fail(name, value, "must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'")
    return value


def _modes(name: str, value: Any) -> list[str]:
    modes = _listing(name, value)
    if any(m not in AUDIO_MODES for m in modes):
        raise _fail(name, value, f"must list modes of {AUDIO_MODES}")
    return modes


def _exercise(name: str, value: Any) -> str:
    from stella.report.lab import BY_KEY

    if value not in BY_KEY:
        raise _fail(name, value, f"must be one of {', '.join(BY_KEY)} (or None: every exercise)")
    return value


def _map_threshold(name: str, value: Any) -> float | str:
    return value if value == "median" else _number(name, value, 0.0, 1.0)


# Every parameter any notebook has, with its check (the value a check returns is the one used).
CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "results_dir": _text, "device": _device, "task_order": _text, "tuxpaint_dir": _text,
    "n_seeds": _optional(lambda n, v: _int(n, v, 1)),
    "methods": _optional(check_methods), "umap_methods": check_methods, "signal_methods": _optional(check_methods),
    "trained": _flag, "play_audio": _flag, "measure_memory": _flag,
    "seed": _seed, "clip": lambda n, v: _int(n, v, 0),
    "clips_per_task": lambda n, v: _int(n, v, 0), "n_clips": lambda n, v: _int(n, v, 0),
    "prefill": lambda n, v: _int(n, v, 0), "acc_seeds": _optional(lambda n, v: _int(n, v, 1)),
    "n_sweep_seeds": _optional(lambda n, v: _int(n, v, 1)),
    "n_headline_seeds": _optional(lambda n, v: _int(n, v, 1)),
    "n_sparsity_seeds": _optional(lambda n, v: _int(n, v, 1)),
    "extra_tasks": lambda n, v: _int(n, v, 1), "umap_task": lambda n, v: _int(n, v, 1),
    "max_items": _optional(lambda n, v: _int(n, v, 1)), "steps": _optional(lambda n, v: _int(n, v, 1)),
    "efficiency_steps": _optional(lambda n, v: _int(n, v, 1)),
    "probe_epochs": _optional(lambda n, v: _int(n, v, 1)), "finetune_steps": _optional(lambda n, v: _int(n, v, 1)),
    "chunk_sizes": _optional(lambda n, v: _number_list(n, v, lambda n2, x: _int(n2, x, 1))),
    "memory_sizes": _optional(lambda n, v: _number_list(n, v, lambda n2, x: _int(n2, x, 1))),
    "efficiency_batches": _optional(lambda n, v: _number_list(n, v, lambda n2, x: _int(n2, x, 1))),
    "rho_values": _optional(lambda n, v: _number_list(n, v, lambda n2, x: _number(n2, x, 0.0, 1.0, True))),
    "beta_values": _optional(lambda n, v: _number_list(n, v, lambda n2, x: _number(n2, x, 0.0, None, True))),
    "audio_modes": _optional(_modes),
    "iou_threshold": lambda n, v: _number(n, v, 0.0, 1.0), "map_threshold": _map_threshold,
    "exercise": _optional(_exercise),
}


@dataclass(frozen=True)
class Setup:
    """A notebook's checked parameters with the chapter's defaults filled in.

    ``seeds`` are the training seeds (:func:`seeds_for`); ``options`` holds every other parameter,
    also readable as an attribute (``nb.chunk_sizes``)."""

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

    def __getattr__(self, name: str) -> Any:
        options = self.__dict__.get("options", {})
        if name in options:
            return options[name]
        raise AttributeError(f"{self.chapter} has no parameter {name!r}")

    def run_args(self) -> dict[str, Any]:
        """Keyword arguments of :func:`stella.report.runs.seed_table` shared by every chapter's runs."""
        return {"results_dir": self.results_dir, "task_order": self.task_order, "overrides": self.train_overrides}

    def __str__(self) -> str:
        shown = {"task order": self.task_order, "seeds": self.seeds, "methods": self.methods,
                 **{k.replace("_", " "): v for k, v in self.options.items() if k not in ("play_audio", "tuxpaint_dir")}}
        return f"preset {self.preset!r}, " + ", ".join(f"{k} {v}" for k, v in shown.items() if v not in (None, []))


def injected_parameters() -> list[str]:
    """Names assigned by papermill's injected-parameters cell in the running IPython kernel, in order
    ([] outside a kernel, or when papermill injected nothing): the last input of the kernel's history
    (``In``) whose first line is ``# Parameters``."""
    try:
        from IPython import get_ipython
    except ImportError:
        return []
    shell = get_ipython()
    history = getattr(shell, "user_ns", {}).get("In") or []
    for source in reversed(history):
        if isinstance(source, str) and source.lstrip().split("\n", 1)[0].strip() == "# Parameters":
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return []
            return [t.id for node in tree.body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)]
    return []


def default_seeds(table: str, preset: str) -> int:
    """How many training seeds ``table`` (a key of :data:`SEEDS`) uses at ``preset``."""
    smoke, cpu, other = SEEDS[table]
    name = load_config(preset).preset
    return smoke if name == "smoke" else cpu if name == "cpu" else other


def _seeds(p: dict, table: str, preset: str, name: str = "n_seeds") -> list[int]:
    """The training seeds of ``table``: the parameter ``name`` when given, else :data:`SEEDS`."""
    return seeds_for(preset, p.pop(name, None) or default_seeds(table, preset))


def notebook_setup(chapter: str, preset: str, results_dir: str | Path = "results", **params: Any) -> Setup:
    """A notebook's first call: reject a name papermill injected that is not a parameter of the notebook
    (:func:`injected_parameters`), then :func:`resolve` its parameters.

    ``params`` are every parameter of the chapter's ``parameters`` cell but ``preset`` and ``results_dir``.
    Only the notebook's own call checks the injected cell: code that resolves another chapter's settings
    inside the same kernel (a claim declaration, the run plan) calls :func:`resolve`."""
    accepted = ["preset", "results_dir", *params]
    stray = [n for n in injected_parameters() if n not in accepted]
    if stray:
        raise ParameterError(f"notebook parameter {stray[0]}: not a parameter of chapter {chapter} "
                             f"(its parameters: {', '.join(accepted)})")
    return resolve(chapter, preset, results_dir, **params)


def resolve(chapter: str, preset: str, results_dir: str | Path = "results", **params: Any) -> Setup:
    """Check ``params`` (one :class:`ParameterError` per bad value) and fill ``chapter``'s defaults at ``preset``."""
    try:
        name = load_config(preset).preset
    except (ConfigError, TypeError) as e:
        raise ParameterError(f"notebook parameter preset: {e}") from None
    unknown = sorted(set(params) - set(CHECKS))
    if unknown:
        raise ParameterError(f"notebook parameter {unknown[0]}: not a parameter of the book's notebooks")
    p = {k: CHECKS[k](k, v) for k, v in params.items()}
    results_dir = _text("results_dir", results_dir)
    quick, frugal = name == "smoke", name in ("smoke", "cpu")
    base = {"chapter": chapter, "preset": preset, "results_dir": results_dir,
            "device": p.pop("device", "cpu"), "task_order": p.pop("task_order", "default")}
    if chapter not in _CHAPTERS:
        raise ParameterError(f"notebook_setup: unknown chapter {chapter!r} (known: {', '.join(_CHAPTERS)})")
    seeds, methods = _CHAPTERS[chapter](preset, p, quick, frugal)
    return Setup(**base, seeds=seeds, methods=methods, options=p)


def _walkthrough(preset, p, quick, frugal):
    return [], ["stella"]


def _benchmark(preset, p, quick, frugal):
    p.setdefault("max_items", None)
    return [], ["stella"]


def _retrieval(preset, p, quick, frugal):
    return _seeds(p, "02_retrieval", preset), p.pop("methods", None) or list(TABLE1)


def _shuffled(preset, p, quick, frugal):
    from stella.report.paper_numbers import BASELINES

    return _seeds(p, "02_shuffled", preset), p.pop("methods", None) or ["stella", *BASELINES]


def _efficiency(preset, p, quick, frugal):
    p["steps"] = p.get("steps") or (2 if quick else 10)
    p.setdefault("prefill", 3)          # observe() calls before timing: the notebook's default, also for its claims
    own = run_config(preset, "stella").continual.batch_size
    p["efficiency_batches"] = p.get("efficiency_batches") or ([own] if quick else sorted({own, PAPER_BATCH}))
    p["own_batch"] = own
    seeds = _seeds(p, "03_efficiency", preset, "acc_seeds")
    cap = p.pop("n_seeds", None)
    return seeds[:cap] if cap else seeds, p.pop("methods", None) or list(TABLE1[:-1]) + ["stella++"]


def _ablations(preset, p, quick, frugal):
    seeds = _seeds(p, "04_ablations", preset)
    p["sweep_seeds"] = _seeds(p, "04_sweeps", preset, "n_sweep_seeds")
    methods = p.pop("methods", None) or list(TABLE3)
    if quick:
        methods = [m for m in methods if m in ("random", "derpp", "stella")]
    base = run_config(preset, "stella")
    sizes = p.get("chunk_sizes") or ([1, 2] if quick else [2, 4] if frugal else [1, 2, 4])
    p["chunk_sizes"] = [c for c in sizes if c <= base.audio_grid[0]]
    p["dropped_chunk_sizes"] = [c for c in sizes if c > base.audio_grid[0]]
    p["audio_modes"] = p.get("audio_modes") or (["time", "frequency"] if quick else list(AUDIO_MODES))
    p["rho_values"] = p.get("rho_values") or ([0.5] if quick else [0.375, 0.5, 0.625])
    p["beta_values"] = p.get("beta_values") or ([0.4, 0.5] if quick else [0.1, 0.4, 0.5])
    p.setdefault("measure_memory", True)
    return seeds, methods


def _controls(preset, p, quick, frugal):
    seeds = _seeds(p, "04b_controls", preset)
    p["headline_seeds"] = _seeds(p, "04b_headline", preset, "n_headline_seeds")
    p["sparsity_seeds"] = _seeds(p, "04b_sparsity", preset, "n_sparsity_seeds")
    return seeds, ["derpp", "stella", "random", "oracle"]


def _memory_size(preset, p, quick, frugal):
    seeds = _seeds(p, "05_memory_size", preset)
    methods = p.pop("methods", None) or ["er", "derpp", "stella", "stella+"]
    if quick:
        methods = [m for m in methods if m in ("derpp", "stella+")] or methods[:2]
    m0 = run_config(preset, "er").continual.memory_size
    p["default_memory_size"] = m0
    p["memory_sizes"] = sorted(p.get("memory_sizes") or ([m0 // 2, m0] if frugal else [m0 // 2, m0, 2 * m0]))
    return seeds, methods


def _gap(preset, p, quick, frugal):
    methods = p.pop("methods", None) or (["finetune", "esmer", "stella"] if quick else list(GAP_METHODS))
    p.setdefault("umap_methods", ["esmer", "stella"])
    p.setdefault("umap_task", 1)
    return _seeds(p, "06_modality_gap", preset), methods


def _localization(preset, p, quick, frugal):
    methods = p.pop("methods", None) or (["stella", "derpp"] if quick else ["stella", "derpp", "clser", "esmer"])
    p.setdefault("n_clips", 2)
    p.setdefault("iou_threshold", 0.5)
    p.setdefault("map_threshold", 0.5)
    p["signal_methods"] = p.get("signal_methods") or ["stella", "derpp"]
    return _seeds(p, "07_attention_localization", preset), methods


def _downstream(preset, p, quick, frugal):
    methods = p.pop("methods", None) or list(TABLE1)
    if quick:
        methods = [m for m in methods if m in ("finetune", "derpp", "stella", "stella+", "multitask")]
    p["probe_epochs"] = p.get("probe_epochs") or (20 if quick else 100)
    p["finetune_steps"] = p.get("finetune_steps") or (2 if quick else 20)
    p.setdefault("extra_tasks", 1)
    return _seeds(p, "08_downstream", preset), methods


def _reproduced(preset, p, quick, frugal):
    p["efficiency_steps"] = p.get("efficiency_steps") or (2 if quick else 10)
    own = run_config(preset, "stella").continual.batch_size
    p["efficiency_batches"] = p.get("efficiency_batches") or ([own] if quick else sorted({own, PAPER_BATCH}))
    p["own_batch"] = own
    return _seeds(p, "09_what_reproduced", preset), list(TABLE1)


def _lab(preset, p, quick, frugal):
    """Every exercise over the book's seeds, or one exercise (``exercise``) over one seed unless ``n_seeds``."""
    from stella.report.lab import EXERCISES

    one = p.get("exercise")
    p["exercises"] = [one] if one else [e.key for e in EXERCISES]
    seeds = seeds_for(preset, p.pop("n_seeds", None) or 1) if one else _seeds(p, "lab", preset)
    return seeds, list(dict.fromkeys(a.method for e in EXERCISES if e.key in p["exercises"] for a in e.arms))


_CHAPTERS = {"00_method_walkthrough": _walkthrough, "01_benchmark": _benchmark, "02_retrieval": _retrieval,
             "02_shuffled": _shuffled,
             "03_efficiency": _efficiency, "04_ablations": _ablations, "04b_controls": _controls,
             "05_memory_size": _memory_size,
             "06_modality_gap": _gap, "07_attention_localization": _localization, "08_downstream": _downstream,
             "09_what_reproduced": _reproduced}
_CHAPTERS["lab"] = _lab
_CHAPTERS["index"] = _reproduced   # the landing page summarises chapter 09 at its settings (same runs, same claims)
