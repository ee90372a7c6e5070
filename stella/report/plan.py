"""The training runs the book asks of the run store at a preset, chapter by chapter.

:func:`book_runs` resolves every page's parameters at their defaults (:func:`stella.report.parameters.resolve`)
and lists the runs its record plans (:class:`stella.report.chapter.Chapter` ``runs``), by config digest: a
run that an earlier page already asked for is shared and counted once, where it is first asked. Chapter 09
and the landing page judge the claims of every chapter, so they plan those chapters' runs. It is what
`make book` trains from an empty store (besides the pre-training stages), so the README's budget and a
test can count it without training anything.
"""
from __future__ import annotations

import sys

import pandas as pd

from stella.continual.pretrain import pretrain_key
from stella.report.chapter import book_order, get, unmet
from stella.report.claims import REGISTRY
from stella.report.parameters import resolve
from stella.report.runs import run_config

SUMMARIES = ("09_what_reproduced", "index")     # pages that judge every chapter's claims


def requests(name: str, preset: str) -> list[tuple[str, int | None, tuple[str, ...]]]:
    """(method, seed, overrides) of every run page ``name`` asks for at its default parameters."""
    if name in SUMMARIES:
        return [r for c in book_order() if c in REGISTRY for r in requests(c, preset)]
    record = get(name)
    return [] if record.runs is None or unmet(name, preset) else record.runs(resolve(name, preset))


def book_stages(preset: str, plan: pd.DataFrame | None = None) -> list[str]:
    """The pre-training stages the book's runs start from at ``preset`` (:func:`stella.continual.pretrain.pretrain_key`
    of each run in :func:`book_runs`, first-needed first; none for a preset that computes no stage)."""
    plan = book_runs(preset) if plan is None else plan
    keys = [pretrain_key(run_config(preset, r.method, r.seed, [o for o in r.overrides.split(", ") if o]))
            for r in plan.itertuples()]
    return [k for k in dict.fromkeys(keys) if k is not None]


def book_runs(preset: str) -> pd.DataFrame:
    """One row per distinct run the book trains at ``preset``: ``chapter`` (the first to ask for it),
    ``method``, ``seed``, ``overrides`` and ``key`` (its config digest), in the order of the book."""
    rows, seen = [], set()
    for name in book_order():
        for method, seed, overrides in requests(name, preset):
            cfg = run_config(preset, method, seed, overrides)
            key = cfg.digest()
            if key not in seen:
                seen.add(key)
                rows.append({"chapter": name, "method": method, "seed": cfg.run.seed,
                             "overrides": ", ".join(overrides), "key": key})
    return pd.DataFrame(rows, columns=["chapter", "method", "seed", "overrides", "key"])


if __name__ == "__main__":      # python -m stella.report.plan cpu
    preset = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    plan = book_runs(preset)
    print(plan.groupby("chapter", sort=False)["method"].agg(["size", lambda m: ", ".join(dict.fromkeys(m))])
          .set_axis(["runs first asked here", "methods"], axis=1).to_string())
    print(f"{len(plan)} runs in all, and {len(book_stages(preset, plan))} pre-training stages")
