"""Chapter 04, ablations: Table 3 (sampling methods on DER++) and the sweeps of Fig. 9, Table 9 and Table 10.

Every variant is a run of method ``stella`` (or of a Table 3 method) with one config override,
so the preset's default setting is the run chapter 02 trains.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from stella.report import paper_numbers as paper
from stella.report.chapter import Setup, Traits, chapter
from stella.report.claims import ClaimContext, Comparison, not_tested, per_seed, register, retrieval_scale, versus
from stella.report.runs import gallery_classes, run_config, seed_table
from stella.report.tables import AF_COLUMNS, af_table, side_by_side
from stella.selection import AUDIO_MODES

CHAPTER = "04_ablations"

# name -> (selection key, the column label a reader sees, the notebook parameter holding the values, caption)
SWEEPS = {
    "chunk_size": ("chunk_size", "L_c", "chunk_sizes",
                   "Fig. 9 (a), ours: avg-recall A / F (%) by audio time-chunk size L_c (the paper gives only a "
                   "plot)."),
    "audio_mode": ("audio_mode", "mode", "audio_modes",
                   "Fig. 9 (b): avg-recall A / F (%) by audio selection mode, ours vs paper."),
    "rho_a": ("rho_a", "rho_a", "rho_values", "Table 9 (rho_a; rho_v at 0.5): avg-recall A / F (%), ours vs paper."),
    "rho_v": ("rho_v", "rho_v", "rho_values", "Table 9 (rho_v; rho_a at 0.5): avg-recall A / F (%), ours vs paper."),
    "beta": ("beta", "beta", "beta_values", "Table 10: avg-recall A / F (%) by AVM temperature beta, ours vs paper."),
}


def defaults(preset: str, p: dict, book: Traits) -> tuple[list[int], list[str]]:
    """Table 3's methods and seeds; the sweeps' values (fewer at a frugal preset: its default value is the run
    of chapter 02) and seeds (``sweep_seeds``)."""
    seeds = RECORD.seeds_of("table3", preset, p.pop("n_seeds", None))
    p["sweep_seeds"] = RECORD.seeds_of("sweeps", preset, p.pop("n_sweep_seeds", None))
    methods = p.pop("methods", None) or list(paper.TABLE3)
    if book.quick:
        methods = [m for m in methods if m in ("random", "derpp", "stella")]
    grid = run_config(preset, "stella").audio_grid[0]
    sizes = p.get("chunk_sizes") or ([1, 2] if book.quick else [2, 4] if book.frugal else [1, 2, 4])
    p["chunk_sizes"] = [c for c in sizes if c <= grid]
    p["dropped_chunk_sizes"] = [c for c in sizes if c > grid]
    p["audio_modes"] = p.get("audio_modes") or (["time", "frequency"] if book.quick else list(AUDIO_MODES))
    p["rho_values"] = p.get("rho_values") or ([0.5] if book.quick else [0.375, 0.5, 0.625])
    p["beta_values"] = p.get("beta_values") or ([0.4, 0.5] if book.quick else [0.1, 0.4, 0.5])
    p.setdefault("measure_memory", True)
    return seeds, methods


def planned_runs(nb: Setup) -> list:
    """Table 3's runs and every sweep value's STELLA run on the sweeps' seeds."""
    out = [(m, s, ()) for m in nb.methods for s in nb.seeds]
    for key, _, param, _ in SWEEPS.values():
        out += [("stella", s, (f"selection.{key}={v}",)) for v in nb.options[param] for s in nb.options["sweep_seeds"]]
    return out


RECORD = chapter(CHAPTER, defaults, seeds={"table3": "main", "sweeps": "sweep"}, runs=planned_runs)


def sweep_paper(name: str) -> pd.DataFrame | None:
    """The paper's A/F rows of a sweep indexed by the swept value (None: Fig. 9 (a) is a plot only)."""
    if name == "audio_mode":
        return paper.fig9b().set_index("audio_mode")
    if name in ("rho_a", "rho_v"):
        t9 = paper.table9()
        return t9[t9.ratio == name].set_index("value")
    if name == "beta":
        return paper.table10().set_index("beta")
    return None


def sweep_default(preset: str, name: str):
    """The preset's own value of the swept setting (its run is chapter 02's)."""
    return getattr(run_config(preset, "stella").selection, SWEEPS[name][0])


def sweep_runs(nb, name: str) -> pd.DataFrame:
    """:func:`seed_table` of STELLA over the sweep's values (``variant`` = the value), on the sweeps'
    seeds (``nb.options["sweep_seeds"]``: the first of Table 3's)."""
    key, _, param, _ = SWEEPS[name]
    return seed_table(nb.preset, ["stella"], nb.options["sweep_seeds"],
                      variants={v: [f"selection.{key}={v}"] for v in nb.options[param]}, **nb.run_args())


def sweep_table(runs: pd.DataFrame, name: str, preset: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(means, stds) of a sweep by value, beside the paper's values where it prints them."""
    means, stds = af_table(runs, keys=("variant",))
    theirs = sweep_paper(name)
    if theirs is not None:
        theirs = theirs.reindex(means.index)[list(AF_COLUMNS)]
        means = side_by_side(means, theirs, f"ours ({preset})", "paper")
        stds = side_by_side(stds, theirs * np.nan, f"ours ({preset})", "paper")
    means.index.name = stds.index.name = SWEEPS[name][1]
    return means, stds


# What the paper says of each sweep: (claim, family, the better value, the worse values). The better value is
# the paper's own, which the preset may not use (chapter 04 states the preset's value beside it).
SWEEP_CLAIMS = {
    "chunk_size": ("Fig. 9 (a): 'adopting a size of 2 results in a noticeable performance decline' (against 4)", 4, [2]),
    "audio_mode": ("Fig. 9 (b): time-wise selection is better than the other audio selection modes", "time",
                   ["frequency", "none"]),
    "rho_a": ("Table 9: rho_a = 0.5 is better than 0.375 and 0.625", 0.5, [0.375, 0.625]),
    "rho_v": ("Table 9: rho_v = 0.5 is better than 0.375 and 0.625", 0.5, [0.375, 0.625]),
    "beta": ("Table 10: the best beta lies in 0.1-0.4; 0.5 is worse than both", None, [0.5]),
}


def _sweep_comparisons(ctx_preset: str, name: str, runs: pd.DataFrame, scale) -> list[Comparison]:
    """The paper's claim of one sweep on the mean of both directions' avg-recall A per seed."""
    family, better, worse = SWEEP_CLAIMS[name]
    label = SWEEPS[name][1]
    a = per_seed(runs, "A", None, column="variant")
    theirs = sweep_paper(name)
    p = theirs[[f"{d} A" for d in paper.DIRECTIONS]].mean(axis=1) if theirs is not None else None
    preset_value = sweep_default(ctx_preset, name)
    pairs = [(b, w) for w in worse for b in ([0.1, 0.4] if better is None else [better])]
    out = []
    for b, w in pairs:
        claim = f"{label} = {b} gives a higher A than {label} = {w} (mean of both directions)"
        if b == preset_value:
            claim += " [the preset's value]"
        if b not in a.columns or w not in a.columns:
            out.append(not_tested(claim, CHAPTER, family, f"{label} = {b if b not in a.columns else w} was not run "
                                  "at this preset", paper="a plot only" if p is None else "", key=f"{name}/{b}-{w}"))
            continue
        pa = float(p[b]) if p is not None and b in p.index else float("nan")
        pw = float(p[w]) if p is not None and w in p.index else float("nan")
        out.append(versus(claim, CHAPTER, family, a, b, w, 1, pa, pw, lambda v: f"{label} {v}",
                          chance=scale["chance"], ceiling=scale["ceiling"],
                          reading=f"preset's {label}: {preset_value}", key=f"{name}/{b}-{w}"))
    return out


@register(CHAPTER)
def sweep_claims(ctx: ClaimContext) -> list[Comparison]:
    """Fig. 9 (a, b), Table 9 and Table 10 as the paper states them, on the sweeps' seeds."""
    nb = ctx.setup(CHAPTER, seeds=False)
    scale = retrieval_scale(gallery_classes(ctx.preset, ctx.task_order))
    return [c for name in SWEEPS for c in _sweep_comparisons(ctx.preset, name, sweep_runs(nb, name), scale)]


@register(CHAPTER)
def table3_claims(ctx: ClaimContext) -> list[Comparison]:
    """Table 3 and its paragraph, per direction: STELLA's A above every other sampling method; LPIS
    and RCA each above Random and MATS; LPIS has the higher A and RCA the lower F of the two; STELLA's
    F below every other sampling method's."""
    nb = ctx.setup(CHAPTER)
    runs = seed_table(ctx.preset, nb.methods, nb.seeds, **nb.run_args())
    scale = retrieval_scale(gallery_classes(ctx.preset, ctx.task_order))
    ref = {"chance": scale["chance"], "ceiling": scale["ceiling"]}
    t3 = paper.table3().set_index("method")
    out = []
    for d in paper.DIRECTIONS:
        a, f = per_seed(runs, "A", d), per_seed(runs, "F", d)
        pa, pf = t3[f"{d} A"], t3[f"{d} F"]
        have = lambda *ms: all(m in a.columns for m in ms)
        others = [m for m in ("random", "mats", "derpp", "lpis", "rca") if have(m, "stella")]
        fam = f"Table 3: STELLA (LPIS + RCA) above every other sampling method (A, {d})"
        out += [versus(f"STELLA has a higher A than {paper.label(m)} ({d})", CHAPTER, fam, a, "stella", m, 1,
                       pa["stella"], pa[m], paper.label, **ref, key=f"table3.stella-above.{d}/{m}") for m in others]
        fam = f"Table 3: LPIS and RCA each above Random and MATS (A, {d})"
        out += [versus(f"{paper.label(x)} has a higher A than {paper.label(y)} ({d})", CHAPTER, fam, a, x, y, 1,
                       pa[x], pa[y], paper.label, **ref, key=f"table3.parts-above.{d}/{x}-{y}")
                for x in ("lpis", "rca") for y in ("random", "mats") if have(x, y)]
        if have("lpis", "rca"):
            fam = f"Table 3: LPIS understands more, RCA forgets less ({d})"
            out += [versus(f"LPIS only has a higher A than RCA only ({d})", CHAPTER, fam, a, "lpis", "rca", 1,
                           pa["lpis"], pa["rca"], paper.label, **ref, key=f"table3.lpis-vs-rca.{d}/A"),
                    versus(f"RCA only has a lower F than LPIS only ({d})", CHAPTER, fam, f, "rca", "lpis", -1,
                           pf["rca"], pf["lpis"], paper.label, unit="%p of F", key=f"table3.lpis-vs-rca.{d}/F")]
        fam = f"Table 3: STELLA forgets less than every other sampling method (F, {d})"
        out += [versus(f"STELLA has a lower F than {paper.label(m)} ({d})", CHAPTER, fam, f, "stella", m, -1,
                       pf["stella"], pf[m], paper.label, unit="%p of F", key=f"table3.forgets-less.{d}/{m}")
                for m in others]
    return out


def table3(runs: pd.DataFrame, preset: str, eff: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 3 beside the paper's: (means, stds) per sampling method with the LPIS / RCA marks, and
    the training memory relative to DER++ when ``eff`` (:func:`measure_methods`) is given."""
    means, stds = af_table(runs)
    theirs = paper.table3().set_index("method")
    if eff is not None:
        e = eff.set_index("method")
        col = "cuda_peak_bytes" if "cuda_peak_bytes" in e.columns else "peak_bytes"
        means["memory / DER++"] = e[col] / e.at["derpp", col] if "derpp" in e.index else np.nan
        stds["memory / DER++"] = np.nan
        theirs["memory / DER++"] = theirs["gpu_mem_gb"] / theirs.at["derpp", "gpu_mem_gb"]
    cols = list(means.columns)
    ours_label, their_label = f"ours ({preset})", "paper T3"
    nums = side_by_side(means, theirs.reindex(means.index)[cols], ours_label, their_label)
    sds = side_by_side(stds, theirs.reindex(means.index)[cols] * np.nan, ours_label, their_label)
    for i, part in enumerate(("LPIS", "RCA")):
        nums.insert(i, (part, ""), [paper.TABLE3_COMPONENTS.get(m, ("?", "?"))[i] for m in means.index])
    return nums, sds


def preset_values(preset: str) -> str:
    """"L_c 2, mode time, rho_a 0.5, rho_v 0.5, beta 0.4": the preset's own value of each swept setting."""
    return ", ".join(f"{SWEEPS[name][1]} {sweep_default(preset, name)}" for name in SWEEPS)
