"""Chapter 04's tables: Table 3 (sampling methods on DER++) and the sweeps of Fig. 9, Table 9 and Table 10.

Every variant is a run of method ``stella`` (or of a Table 3 method) with one config override,
so the preset's default setting is the run chapter 02 trains.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from stella.report import paper_numbers as paper
from stella.report.runs import run_config, seed_table
from stella.report.tables import AF_COLUMNS, af_table, side_by_side

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
    seeds (``nb.sweep_seeds``: the first of Table 3's, :data:`stella.report.defaults.SEEDS`)."""
    key, _, param, _ = SWEEPS[name]
    values = getattr(nb, param)
    return seed_table(nb.preset, ["stella"], nb.sweep_seeds, variants={v: [f"selection.{key}={v}"] for v in values},
                      **nb.run_args())


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


def sweep_claims(preset: str, sweeps: dict[str, pd.DataFrame], scale=None) -> pd.DataFrame:
    """"The preset's default value of each swept setting has the highest A" (:func:`claims.sweep_claim`)."""
    from stella.report.claims import sweep_claim

    what = {"chunk_size": "audio chunk size", "audio_mode": "audio selection mode", "rho_a": "audio ratio rho_a",
            "rho_v": "video ratio rho_v", "beta": "AVM temperature beta"}
    parts = [sweep_claim(runs, sweep_default(preset, name), what[name], sweep_paper(name), scale=scale)
             for name, runs in sweeps.items()]
    return pd.concat(parts, ignore_index=True)


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
