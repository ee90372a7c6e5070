"""The training runs the book asks of the run store at a preset, chapter by chapter.

:func:`book_runs` resolves every chapter's parameters with the notebooks' own :func:`stella.report.defaults.resolve`
(their defaults, :data:`stella.report.defaults.SEEDS`) and lists the runs each chapter asks for, by
config digest: a run that an earlier chapter already asked for is shared and counted once, where it
is first asked. It is what `make book` trains from an empty store (besides the pre-training stage),
so the README's budget and a test can count it without training anything.
"""
from __future__ import annotations

import pandas as pd

from stella.report.defaults import resolve
from stella.report.runs import run_config

CHAPTERS = ("00_method_walkthrough", "02_retrieval", "03_efficiency", "04_ablations", "04b_controls", "05_memory_size",
            "06_modality_gap", "07_attention_localization", "08_downstream", "09_what_reproduced", "lab")


def _requests(chapter: str, preset: str) -> list[tuple[str, int | None, tuple[str, ...]]]:
    """(method, seed, overrides) of every run ``chapter`` asks for at its default parameters."""
    from stella.report.ablations import SWEEPS

    nb = resolve(chapter, preset)
    grid = lambda methods, seeds, extra=(): [(m, s, tuple(extra)) for m in dict.fromkeys(methods) for s in seeds]
    if chapter == "00_method_walkthrough":
        return [("stella", None, ())]
    if chapter == "04_ablations":
        out = grid(nb.methods, nb.seeds)
        for key, _, param, _ in SWEEPS.values():
            for v in getattr(nb, param):
                out += grid(["stella"], nb.sweep_seeds, [f"selection.{key}={v}"])
        return out
    if chapter == "04b_controls":
        from stella.report.controls import requests

        return requests(nb)
    if chapter == "05_memory_size":
        return [r for size in nb.memory_sizes for r in grid(nb.methods, nb.seeds, [f"continual.memory_size={size}"])]
    if chapter == "06_modality_gap":
        return grid([*nb.methods, *nb.umap_methods], nb.seeds)
    if chapter == "07_attention_localization":
        return grid([*nb.methods, *nb.signal_methods], nb.seeds)
    if chapter == "02_retrieval":      # Table 1, and Table 7's runs (shuffled task order) for its claims
        shuffled = resolve("02_shuffled", preset)
        return grid(nb.methods, nb.seeds) + grid(shuffled.methods, shuffled.seeds, ["data.task_order=shuffled"])
    if chapter == "lab":
        from stella.report.lab import BY_KEY

        return [r for key in nb.exercises for r in BY_KEY[key].runs(preset, nb.seeds)]
    if chapter == "09_what_reproduced":     # the claims of every chapter (stella.report.claims.REGISTRY)
        return [r for c in CHAPTERS if c not in ("00_method_walkthrough", "lab", "09_what_reproduced")
                for r in _requests(c, preset)]
    return grid(nb.methods, nb.seeds)


def book_runs(preset: str) -> pd.DataFrame:
    """One row per distinct run the book trains at ``preset``: ``chapter`` (the first to ask for it),
    ``method``, ``seed``, ``overrides`` and ``key`` (its config digest), in the order of the book."""
    rows, seen = [], set()
    for chapter in CHAPTERS:
        for method, seed, overrides in _requests(chapter, preset):
            cfg = run_config(preset, method, seed, overrides)
            key = cfg.digest()
            if key not in seen:
                seen.add(key)
                rows.append({"chapter": chapter, "method": method, "seed": cfg.run.seed,
                             "overrides": ", ".join(overrides), "key": key})
    return pd.DataFrame(rows)


if __name__ == "__main__":      # python -m stella.report.plan cpu
    import sys

    plan = book_runs(sys.argv[1] if len(sys.argv) > 1 else "cpu")
    print(plan.groupby("chapter", sort=False)["method"].agg(["size", lambda m: ", ".join(dict.fromkeys(m))])
          .set_axis(["runs first asked here", "methods"], axis=1).to_string())
    print(f"{len(plan)} runs in all (besides the pre-training stage)")
