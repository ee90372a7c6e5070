"""Chapter 04b's selection efficiency: how much of the oracle's gain over random selection a selection captures.

E = (X − Random) / (Oracle − Random) (:func:`stella.report.stats.efficiency`: means over the seeds all three sides
have, a percentile bootstrap interval over seeds) for X in STELLA, LPIS only and RCA only, in A of each direction and
under each reading of the masking; 0 is random selection, 1 the oracle's. E is defined only where the oracle's gain
is: the table carries Oracle − Random with its interval beside it. The same measure per level of the sparsity curve
(:func:`sparsity_gains`). Pure functions of the score frames of :func:`stella.report.chapters.controls.scores`
(columns ``label, seed, direction, A, F``; labels "STELLA (selected)" ...), so they import no chapter.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from stella.report.figure_text import MAX_WIDTH
from stella.report.paper_numbers import DIRECTIONS
from stella.report.stats import efficiency, paired_stats, seeds_to_detect

SELECTIONS = ("STELLA", "LPIS only", "RCA only")


def _per_seed(df: pd.DataFrame, direction: str) -> pd.DataFrame:
    return df[df["direction"] == direction].pivot_table(index="seed", columns="label", values="A")


def _gain(t: pd.DataFrame, a: str, b: str) -> dict:
    d = (t[a] - t[b]).dropna().to_numpy()
    s = paired_stats(d)
    needed = seeds_to_detect(float(d.std(ddof=1)), s["difference"]) if len(d) > 1 else None
    return {**{k: s[k] for k in ("difference", "ci_low", "ci_high", "detectable", "n_seeds")},
            "needed": float("nan") if needed is None else needed}


def efficiency_table(df: pd.DataFrame, selections=SELECTIONS, resamples: int = 2000) -> pd.DataFrame:
    """One row per selection, reading and direction present in ``df`` (rows "<name> (<reading>)", with "Random
    (<reading>)" and "Oracle (<reading>)"): ``selection, reading, direction``, ``E, E_low, E_high`` (bootstrap over
    seeds), the selection's and the oracle's paired gains over Random in A (``gain``, ``gain_low``, ``gain_high``;
    ``oracle_gain``, ``oracle_low``, ``oracle_high``, ``oracle_detectable``) and ``n`` (seeds all three have)."""
    rows = []
    readings = dict.fromkeys(lab.rsplit(" (", 1)[1].rstrip(")") for lab in df["label"].unique() if " (" in lab)
    for reading in readings:
        r, o = f"Random ({reading})", f"Oracle ({reading})"
        for d in DIRECTIONS:
            t = _per_seed(df, d)
            for name in selections:
                x = f"{name} ({reading})"
                if not {x, r, o} <= set(t.columns):
                    continue
                part = t[[x, r, o]].dropna()
                e = efficiency(part[x], part[r], part[o], resamples=resamples)
                g, og = _gain(part, x, r), _gain(part, o, r)
                rows.append({"selection": name, "reading": reading, "direction": d, "E": e["E"], "E_low": e["ci_low"],
                             "E_high": e["ci_high"], "gain": g["difference"], "gain_low": g["ci_low"],
                             "gain_high": g["ci_high"], "oracle_gain": og["difference"], "oracle_low": og["ci_low"],
                             "oracle_high": og["ci_high"], "oracle_detectable": og["detectable"], "n": len(part)})
    return pd.DataFrame(rows, columns=["selection", "reading", "direction", "E", "E_low", "E_high", "gain", "gain_low",
                                       "gain_high", "oracle_gain", "oracle_low", "oracle_high", "oracle_detectable", "n"])


def _interval(v: float, lo: float, hi: float, fmt: str = "{:+.2f}") -> str:
    if v != v:
        return "undefined"
    return fmt.format(v) + ("" if lo != lo else f" [{fmt.format(lo)}, {fmt.format(hi)}]")


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`efficiency_table` as the page shows it: one row per selection X and reading, per direction "E [95 %]",
    "X − Random" and "Oracle − Random" (%p, 95 % t-interval) and the seeds."""
    out = []
    for (name, reading), part in table.groupby(["selection", "reading"], sort=False):
        r = {"selection": name, "reading": reading}
        for x in part.itertuples():
            r[f"{x.direction} E"] = _interval(x.E, x.E_low, x.E_high, "{:.2f}")
            r[f"{x.direction} X − Random"] = _interval(x.gain, x.gain_low, x.gain_high)
            r[f"{x.direction} Oracle − Random"] = _interval(x.oracle_gain, x.oracle_low, x.oracle_high)
        r["seeds"] = int(part["n"].min())
        out.append(r)
    return pd.DataFrame(out)


def efficiency_text(table: pd.DataFrame, reading: str) -> str:
    """"STELLA's selection captures E = x [lo, hi] (A→V) and ... (V→A) of the oracle's gain over random selection
    (n seeds, ``reading``); LPIS only ..., RCA only ..." from one reading's rows of :func:`efficiency_table`; where
    the oracle's own gain is not above 0 (its interval reaches 0) the sentence says E is not resolved there. ""
    when STELLA has no row."""
    if table.empty or not (table["selection"] == "STELLA").any():
        return ""

    def one(name: str) -> str:
        part = table[table["selection"] == name]
        return " and ".join(f"{_interval(x.E, x.E_low, x.E_high, '{:.2f}')} ({x.direction})" for x in part.itertuples())

    n = int(table["n"].min())
    weak = table.drop_duplicates("direction")
    weak = [x.direction for x in weak.itertuples() if not x.oracle_low > 0]
    text = (f"STELLA's selection captures E = {one('STELLA')} of the oracle's gain over random selection "
            f"({n} seed{'s' if n != 1 else ''}, {reading})")
    others = [f"{name} {one(name)}" for name in SELECTIONS[1:] if (table["selection"] == name).any()]
    text += ("; " + "; ".join(others) if others else "") + "."
    if weak:
        text += (f" The oracle's own gain over random selection is not resolved in {' and '.join(weak)} (its 95 % "
                 "interval reaches 0), so E there is not resolved either.")
    return text


# --------------------------------------------------------------------------- the sparsity curve
def sparsity_gains(sp: pd.DataFrame, resamples: int = 2000) -> pd.DataFrame:
    """Per level and direction of ``sp`` (:func:`scores` of "STELLA", "Random", "Oracle" with a ``level`` column):
    STELLA − Random and Oracle − Random (paired, 95 % t-interval, the detectable difference, and ``needed``: the seeds
    that would detect the observed difference with 80 % power at the observed spread, NaN beyond 100) and STELLA's E
    (bootstrap over seeds). Columns ``level, direction, versus, difference, ci_low, ci_high, detectable, needed, n``;
    E rows have ``versus`` "E"."""
    rows = []
    for (level, d), part in sp.groupby(["level", "direction"], sort=False):
        t = part.pivot_table(index="seed", columns="label", values="A")[["STELLA", "Random", "Oracle"]].dropna()
        for m in ("STELLA", "Oracle"):
            g = _gain(t, m, "Random")
            rows.append({"level": level, "direction": d, "versus": f"{m} − Random", "difference": g["difference"],
                         "ci_low": g["ci_low"], "ci_high": g["ci_high"], "detectable": g["detectable"],
                         "needed": g["needed"], "n": len(t)})
        e = efficiency(t["STELLA"], t["Random"], t["Oracle"], resamples=resamples)
        rows.append({"level": level, "direction": d, "versus": "E", "difference": e["E"], "ci_low": e["ci_low"],
                     "ci_high": e["ci_high"], "detectable": float("nan"), "needed": float("nan"), "n": len(t)})
    return pd.DataFrame(rows, columns=["level", "direction", "versus", "difference", "ci_low", "ci_high", "detectable",
                                       "needed", "n"])


def plot_sparsity(gains: pd.DataFrame, levels: pd.DataFrame, x: str = "sounding video patches") -> None:
    """Left, per direction: STELLA − Random and Oracle − Random in A against ``x`` of each level (``levels``:
    ``level`` and ``x`` columns); right: STELLA's E. Bars: 95 % intervals."""
    where = dict(zip(levels["level"], levels[x]))
    fig, axes = plt.subplots(1, 3, figsize=(MAX_WIDTH, 3.6))
    for ax, d in zip(axes[:2], DIRECTIONS):
        part = gains[(gains["direction"] == d) & (gains["versus"] != "E")]
        for (name, g), mk in zip(part.groupby("versus", sort=False), "os"):
            xs = g["level"].map(where)
            ax.errorbar(xs, g["difference"], yerr=[g["difference"] - g["ci_low"], g["ci_high"] - g["difference"]],
                        marker=mk, capsize=3, label=name)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(f"{d}: A gain over\nrandom selection", fontsize=9)
        ax.set_xlabel(f"share of {x}", fontsize=9)
    axes[0].set_ylabel("paired difference in A (%p)")
    axes[0].legend(fontsize=9)
    e = gains[gains["versus"] == "E"]
    for (d, g), mk in zip(e.groupby("direction", sort=False), "os"):
        axes[2].errorbar(g["level"].map(where), g["difference"].clip(-2, 3),
                         yerr=[(g["difference"] - g["ci_low"]).clip(0, 5), (g["ci_high"] - g["difference"]).clip(0, 5)],
                         marker=mk, capsize=3, label=d)
    for v in (0, 1):
        axes[2].axhline(v, color="k", lw=0.8, ls="-" if v == 0 else ":")
    axes[2].set_ylim(-2, 3)
    axes[2].set_title("STELLA's E (0 random, 1 oracle;\nclipped to [-2, 3])", fontsize=9)
    axes[2].set_xlabel(f"share of {x}", fontsize=9)
    axes[2].legend(fontsize=9)
    fig.tight_layout()
    plt.show()


def gains_view(gains: pd.DataFrame) -> pd.DataFrame:
    """:func:`sparsity_gains` as the page shows it (the numbers :func:`sparsity_sentence` quotes): per level, direction
    and comparison the estimate [95 % interval] (E unsigned), the difference the seeds detect and the seeds the
    observed difference would need."""
    cell = lambda r: _interval(r.difference, r.ci_low, r.ci_high, "{:.2f}" if r.versus == "E" else "{:+.2f}")  # noqa: E731
    return pd.DataFrame({"level": gains["level"], "direction": gains["direction"], "comparison": gains["versus"],
                         "estimate [95 %]": [cell(r) for r in gains.itertuples()],
                         "detectable (%p)": gains["detectable"], "seeds needed": gains["needed"]})


def sparsity_sentence(gains: pd.DataFrame, direction: str = "A→V") -> str:
    """Oracle − Random, STELLA − Random (with the detectable difference) and E per sparsity level, in the order of
    ``gains``, for ``direction``."""
    part = gains[gains["direction"] == direction]
    if part.empty:
        return ""

    def say(who: str, fmt: str = "{:+.2f}") -> str:
        return ", ".join(f"{r.level} {_interval(r.difference, r.ci_low, r.ci_high, fmt)}"
                         for r in part[part["versus"] == who].itertuples())

    oracle = part[part["versus"] == "Oracle − Random"]
    n = int(part["n"].min())
    power = ""
    if oracle["detectable"].notna().any():
        need = ", ".join(f"{r.level} {'more than 100' if r.needed != r.needed else int(r.needed)}"
                         for r in oracle.itertuples())
        power = (f"; at {n} seeds a paired difference of {oracle['detectable'].min():.1f}-"
                 f"{oracle['detectable'].max():.1f} %p is detected with 80 % power, and the observed Oracle − Random "
                 f"would need {need} seeds")
    return (f"Per level ({direction}, {n} seed{'s' if n != 1 else ''}, 95 % intervals): Oracle − Random "
            f"{say('Oracle − Random')}; STELLA − Random {say('STELLA − Random')}; E {say('E', '{:.2f}')}{power}.")
