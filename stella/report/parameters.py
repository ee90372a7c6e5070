"""Every notebook's first call after its ``parameters`` cell: check the parameters, fill the chapter's defaults.

``nb = notebook_setup("02_retrieval", preset=preset, results_dir=results_dir, n_seeds=n_seeds, ...)``
checks each parameter (a bad one raises :class:`ParameterError`, one line naming the parameter and
the value) and fills the chapter's defaults at the preset (the chapter's record,
:mod:`stella.report.chapter`): ``None`` means "the chapter's default at this preset". Training runs
keep the preset's ``run.device`` unless a GPU is asked for (``Setup.train_overrides``), so every
chapter shares the store's runs.

A parameter papermill injects (``-p name value``) that the chapter does not take would be assigned
and never read: papermill only warns. So ``notebook_setup`` reads the injected-parameters cell papermill
ran in this kernel (:func:`injected_parameters`) and rejects any name it assigns that the chapter does
not pass to ``notebook_setup``. Only the notebook's own call does: code that resolves a chapter's
settings inside a kernel (a claim declaration, the run plan) calls :func:`resolve`.
"""
from __future__ import annotations

import ast
import numbers
from pathlib import Path
from typing import Any, Callable

from IPython import get_ipython

from stella.config import ConfigError, load_config
from stella.continual import METHODS
from stella.report import chapter, figure_text
from stella.report.chapter import ParameterError, Setup, traits  # noqa: F401  (ParameterError: the notebooks' import)
from stella.report.chapters.lab import BY_KEY  # importing the chapters package declares every page
from stella.selection import AUDIO_MODES

Check = Callable[[str, Any], Any]


def _fail(name: str, value: Any, want: str) -> ParameterError:
    return ParameterError(f"notebook parameter {name}: {want}, got {value!r}")


def integer(low: int) -> Check:
    """An integer >= ``low`` (booleans are not integers here)."""
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise _fail(name, value, f"must be an integer >= {low}")
        return int(value)
    return check


def seed(name: str, value: Any) -> int:
    """A seed: an integer >= 0, the rule of the config's run.seed, data.seed and pretrain.seed."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise _fail(name, value, "a seed must be an integer >= 0")
    return int(value)


def number(low: float, high: float | None = None, low_open: bool = False) -> Check:
    """A real number in [low, high] ((low, high] with ``low_open``)."""
    def check(name: str, value: Any) -> float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
        if ok:
            ok = (value > low if low_open else value >= low) and (high is None or value <= high)
        if not ok:
            rng = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}]"
            raise _fail(name, value, f"must be a number in {rng}")
        return float(value)
    return check


def listing(name: str, value: Any) -> list:
    """A list/tuple, or a comma-separated string, as a non-empty list."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise _fail(name, value, "must be a non-empty list or a comma-separated string")
    return list(value)


def numbers_of(item: Check) -> Check:
    """A list of numbers (or a comma-separated string of them), each checked by ``item``."""
    def check(name: str, value: Any) -> list:
        items = listing(name, value)
        if all(isinstance(v, str) for v in items):
            try:
                items = [float(v) if any(c in v for c in ".e") else int(v) for v in items]
            except ValueError:
                raise _fail(name, value, "must list numbers") from None
        return [item(name, v) for v in items]
    return check


def optional(check: Check) -> Check:
    """``None`` (the chapter's default) or a value ``check`` accepts."""
    return lambda name, value: None if value is None else check(name, value)


def check_methods(name: str, value: Any) -> list[str]:
    """A list (or comma-separated string) of registered method names (:data:`stella.continual.METHODS`)."""
    methods = listing(name, value)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ParameterError(f"notebook parameter {name}: unknown method(s) {', '.join(map(repr, unknown))} "
                             f"(known: {', '.join(METHODS)})")
    return list(dict.fromkeys(methods))


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(name, value, "must be True or False")
    return value


def text(name: str, value: Any) -> str:
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise _fail(name, value, "must be a non-empty string")
    return str(value)


def device(name: str, value: Any) -> str:
    value = text(name, value)
    if value.split(":")[0] not in ("cpu", "cuda", "mps", "auto"):
        raise _fail(name, value, "must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'")
    return value


def modes(name: str, value: Any) -> list[str]:
    items = listing(name, value)
    if any(m not in AUDIO_MODES for m in items):
        raise _fail(name, value, f"must list modes of {AUDIO_MODES}")
    return items


def exercise(name: str, value: Any) -> str:
    if value not in BY_KEY:
        raise _fail(name, value, f"must be one of {', '.join(BY_KEY)} (or None: every exercise)")
    return value


def map_threshold(name: str, value: Any) -> float | str:
    return value if value == "median" else number(0.0, 1.0)(name, value)


# Every parameter any notebook has, with its check (the value a check returns is the one used).
CHECKS: dict[str, Check] = {
    "results_dir": text, "device": device, "task_order": text, "tuxpaint_dir": text,
    "n_seeds": optional(integer(1)), "acc_seeds": optional(integer(1)), "n_sweep_seeds": optional(integer(1)),
    "n_sparsity_seeds": optional(integer(1)),
    "methods": optional(check_methods), "umap_methods": check_methods, "signal_methods": optional(check_methods),
    "trained": flag, "play_audio": flag, "measure_memory": flag,
    "seed": seed, "clip": integer(0), "clips_per_task": integer(0), "n_clips": integer(0), "prefill": integer(0),
    "extra_tasks": integer(1), "umap_task": integer(1),
    "max_items": optional(integer(1)), "steps": optional(integer(1)), "efficiency_steps": optional(integer(1)),
    "probe_epochs": optional(integer(1)), "finetune_steps": optional(integer(1)),
    "chunk_sizes": optional(numbers_of(integer(1))), "memory_sizes": optional(numbers_of(integer(1))),
    "efficiency_batches": optional(numbers_of(integer(1))),
    "rho_values": optional(numbers_of(number(0.0, 1.0, low_open=True))),
    "beta_values": optional(numbers_of(number(0.0, None, low_open=True))),
    "audio_modes": optional(modes),
    "iou_threshold": number(0.0, 1.0), "map_threshold": map_threshold,
    "exercise": optional(exercise),
}


def injected_parameters() -> list[str]:
    """Names assigned by papermill's injected-parameters cell in the running IPython kernel, in order
    ([] outside a kernel, or when papermill injected nothing): the last input of the kernel's history
    (``In``) whose first line is ``# Parameters``."""
    history = getattr(get_ipython(), "user_ns", {}).get("In") or []
    for source in reversed(history):
        if isinstance(source, str) and source.lstrip().split("\n", 1)[0].strip() == "# Parameters":
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return []
            return [t.id for node in tree.body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)]
    return []


def notebook_setup(name: str, preset: str, results_dir: str | Path = "results", **params: Any) -> Setup:
    """A notebook's first call: reject a name papermill injected that is not a parameter of the notebook,
    then :func:`resolve` its parameters. ``params`` are every parameter of the chapter's ``parameters``
    cell but ``preset`` and ``results_dir``. Every figure the kernel shows from then on records its smallest
    font size in its PNG (:func:`stella.report.figure_text.record_in`: the book checks it at the displayed size)."""
    figure_text.record_in(get_ipython())
    accepted = ["preset", "results_dir", *params]
    stray = [n for n in injected_parameters() if n not in accepted]
    if stray:
        raise ParameterError(f"notebook parameter {stray[0]}: not a parameter of chapter {name} "
                             f"(its parameters: {', '.join(accepted)})")
    return resolve(name, preset, results_dir, **params)


def resolve(name: str, preset: str, results_dir: str | Path = "results", **params: Any) -> Setup:
    """Check ``params`` (one :class:`ParameterError` per bad value) and fill chapter ``name``'s defaults at ``preset``."""
    try:
        load_config(preset)
        traits(preset)
    except (ConfigError, TypeError) as e:
        raise ParameterError(f"notebook parameter preset: {e}") from None
    unknown = sorted(set(params) - set(CHECKS))
    if unknown:
        raise ParameterError(f"notebook parameter {unknown[0]}: not a parameter of the book's notebooks")
    checked = {k: CHECKS[k](k, v) for k, v in params.items()}
    return chapter.setup(name, preset, text("results_dir", results_dir), **checked)
