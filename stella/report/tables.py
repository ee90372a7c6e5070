"""Pure table helpers for the book: mean ± std over seeds, best / second-best marks, paper vs ours.

Nothing here trains or reads a run; every function takes and returns pandas objects.

* :func:`aggregate` - mean, std and count of value columns over seeds per group.
* :func:`wide` - a long frame (``method, direction, metric, A, F``) to one row per method with
  ``(direction, metric, A|F)`` columns.
* :func:`rank_marks` / :func:`mark_frame` - "best" / "second" per column (higher or lower is better).
* :func:`af_table` - the per-seed table: method x seed -> mean and std of A and F, both directions.
* :func:`with_references` - chance and ceiling rows under a retrieval table.
* :func:`format_mean_std` / :func:`display_frame` - "12.34 ± 0.56" strings (shown by
  :func:`stella.report.display.show`).
* :func:`side_by_side` - ours and the paper's numbers in adjacent columns, labelled by source;
  :func:`metric_columns` - one metric of a wide retrieval table, both directions, as four columns.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

AF_COLUMNS = ("A→V A", "A→V F", "V→A A", "V→A F")


def aggregate(df: pd.DataFrame, keys: Sequence[str], values: Sequence[str] = ("A", "F")) -> pd.DataFrame:
    """Per group of ``keys``: ``<v>_mean``, ``<v>_std`` (sample std, NaN for one seed) and ``n``.

    Groups keep their first-appearance order (``sort=False``)."""
    missing = [c for c in (*keys, *values) if c not in df.columns]
    if missing:
        raise KeyError(f"aggregate: columns {missing} not in frame (have {list(df.columns)})")
    if df.empty:
        raise ValueError("aggregate: empty frame")
    g = df.groupby(list(keys), sort=False)
    out = g[list(values)].mean().add_suffix("_mean")
    out = out.join(g[list(values)].std(ddof=1).add_suffix("_std"))
    out["n"] = g.size()
    return out.reset_index()


def af_table(runs: pd.DataFrame, keys: Sequence[str] = ("method",), metric: str = "avg",
             order: Mapping[str, Sequence] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(means, stds) over seeds of A and F of ``metric``, both directions, one row per ``keys`` group.

    ``runs``: :func:`stella.report.runs.seed_table` rows (``seed, direction, metric, A, F`` and the
    ``keys`` columns). Columns :data:`AF_COLUMNS` ("A→V A" ...), as in the paper's A/F tables; std is
    the sample std (NaN for one seed). Rows keep their first appearance (or ``order[key]``)."""
    sel = runs[runs["metric"] == metric]
    if sel.empty:
        raise ValueError(f"af_table: no rows with metric {metric!r}")
    agg = aggregate(sel, [*keys, "direction"])
    out = []
    for stat in ("mean", "std"):
        t = agg.pivot_table(index=list(keys), columns="direction", values=[f"A_{stat}", f"F_{stat}"], sort=False,
                            dropna=False)
        t.columns = [f"{d} {v[0]}" for v, d in t.columns]
        t = t.reindex(columns=list(AF_COLUMNS))
        first = list(dict.fromkeys(sel[keys[0]] if len(keys) == 1 else map(tuple, sel[list(keys)].values)))
        t = t.reindex((order or {}).get(keys[0], first) if len(keys) == 1 else first)
        out.append(t)
    return out[0], out[1]


def with_references(means: pd.DataFrame, stds: pd.DataFrame, refs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``means`` / ``stds`` with the rows of ``refs`` (chance, ceiling: columns ``R@k`` / ``avg``,
    :func:`stella.report.claims.reference_recalls`) appended. A column ``(metric, "A")`` of a wide
    table takes ``refs[metric]``, a column ``"<direction> A"`` of :func:`af_table` takes ``refs["avg"]``;
    F columns (forgetting has no chance level) and the stds of the new rows are NaN."""
    def ref(column, row):
        metric = (column[0] if column[-1] == "A" else None) if isinstance(column, tuple) else \
            ("avg" if str(column).endswith(" A") else None)
        return refs.at[row, metric] if metric in refs.columns else float("nan")

    extra = pd.DataFrame({c: [ref(c, r) for r in refs.index] for c in means.columns}, index=refs.index)
    extra.columns = means.columns
    blank = pd.DataFrame(float("nan"), index=refs.index, columns=stds.columns)
    return pd.concat([means, extra]), pd.concat([stds, blank])


def format_mean_std(mean: float, std: float | None = None, digits: int = 2) -> str:
    """``"12.34 ± 0.56"``; the mean alone when std is missing/NaN (one seed); ``"—"`` for a NaN mean."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def wide(df: pd.DataFrame, index: str = "method", columns: Sequence[str] = ("direction", "metric"),
         values: Sequence[str] = ("A", "F"), row_order: Iterable[str] | None = None,
         col_orders: Mapping[str, Sequence] | None = None) -> pd.DataFrame:
    """One row per ``index`` value, MultiIndex columns ``(*columns, value)``; cells are numbers.

    ``row_order`` / ``col_orders`` fix the order (entries absent from the frame are dropped)."""
    long = df.melt(id_vars=[index, *columns], value_vars=list(values), var_name="_value", value_name="_x")
    out = long.pivot_table(index=index, columns=[*columns, "_value"], values="_x", aggfunc="first", dropna=False)
    out.columns.names = [*columns, None]
    if row_order is not None:
        out = out.reindex([r for r in row_order if r in out.index])
    orders = dict(col_orders or {})
    orders.setdefault(None, list(values))
    levels = []
    for i, name in enumerate(out.columns.names):
        present = list(dict.fromkeys(out.columns.get_level_values(i)))
        want = orders.get(name)
        levels.append([w for w in want if w in present] + [p for p in present if p not in want] if want else present)
    cols = [c for c in itertools.product(*levels) if c in out.columns]
    return out[cols]


def wide_mean_std(agg: pd.DataFrame, index: str = "method", columns: Sequence[str] = ("direction", "metric"),
                  values: Sequence[str] = ("A", "F"), **kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (means, stds) :func:`wide` frames of an :func:`aggregate` result."""
    keys = [index, *columns]
    means = agg[keys + [f"{v}_mean" for v in values]].rename(columns={f"{v}_mean": v for v in values})
    stds = agg[keys + [f"{v}_std" for v in values]].rename(columns={f"{v}_std": v for v in values})
    return wide(means, index, columns, values, **kw), wide(stds, index, columns, values, **kw)


def rank_marks(values: pd.Series, higher_is_better: bool = True, exclude: Iterable = ()) -> pd.Series:
    """``"best"``, ``"second"`` or ``""`` per entry; NaN and ``exclude``-d index entries are never marked.

    Ties share the mark (two equal best values are both "best"; the next distinct value is "second")."""
    out = pd.Series("", index=values.index, dtype=object)
    cand = values.drop(index=[e for e in exclude if e in values.index]).dropna()
    distinct = sorted(set(cand.tolist()), reverse=higher_is_better)
    for mark, v in zip(("best", "second"), distinct[:2]):
        out[cand.index[cand == v]] = mark
    return out


def lower_is_better(column) -> bool:
    """The convention of the book's tables: a column whose label (the first or last level of a tuple)
    is F, MdR (median rank), memory or time is lower-better."""
    names = [column[0], column[-1]] if isinstance(column, tuple) else [column]
    for name in map(str, names):
        if name in ("F", "MdR") or name.endswith((" F", " MdR")) or any(
                k in name.lower() for k in ("mem", "bytes", "_mb", "gb", "time")):
            return True
    return False


def mark_frame(means: pd.DataFrame, higher_is_better: Callable[[object], bool] | Mapping | None = None,
               exclude: Iterable = ()) -> pd.DataFrame:
    """``rank_marks`` for every column; ``higher_is_better(column)`` (default: not :func:`lower_is_better`)."""
    if higher_is_better is None:
        def higher_is_better(c):
            return not lower_is_better(c)
    elif isinstance(higher_is_better, Mapping):
        table = dict(higher_is_better)

        def higher_is_better(c):
            return table.get(c, True)
    exclude = list(exclude)
    out = pd.DataFrame("", index=means.index, columns=means.columns, dtype=object)
    for c in means.columns:
        col = pd.to_numeric(means[c], errors="coerce")
        out[c] = rank_marks(col, higher_is_better(c), exclude)
    return out


def display_frame(means: pd.DataFrame, stds: pd.DataFrame | None = None, digits: int = 2) -> pd.DataFrame:
    """String cells ``mean ± std`` (the std frame may be None or have NaNs)."""
    out = pd.DataFrame("", index=means.index, columns=means.columns, dtype=object)
    for c in means.columns:
        for r in means.index:
            m = means.at[r, c]
            s = stds.at[r, c] if stds is not None and c in stds.columns and r in stds.index else None
            if isinstance(m, str):
                out.at[r, c] = m
            else:
                out.at[r, c] = format_mean_std(float(m) if m is not None else float("nan"),
                                               None if s is None else float(s), digits)
    return out


def metric_columns(table: pd.DataFrame, metric: str = "avg") -> pd.DataFrame:
    """One metric of a :func:`wide` retrieval table (``(direction, metric, A|F)`` columns) as the
    :data:`AF_COLUMNS` of :func:`af_table` ("A→V A", "A→V F", "V→A A", "V→A F")."""
    return pd.DataFrame({c: table[(c.split()[0], metric, c.split()[1])] for c in AF_COLUMNS}, index=table.index)


def side_by_side(ours: pd.DataFrame, paper: pd.DataFrame, ours_label: str = "ours",
                 paper_label: str = "paper") -> pd.DataFrame:
    """Interleave the columns of two frames with the same index labels: each column ``c`` becomes
    ``(c, ours_label)`` and ``(c, paper_label)``. Rows missing from one side are NaN there.
    Columns only in one frame appear once with that frame's label."""
    rows = list(dict.fromkeys([*ours.index, *paper.index]))
    ours, paper = ours.reindex(rows), paper.reindex(rows)
    cols, data = [], {}
    for c in list(dict.fromkeys([*ours.columns, *paper.columns])):
        for frame, lab in ((ours, ours_label), (paper, paper_label)):
            if c in frame.columns:
                key = (*c, lab) if isinstance(c, tuple) else (c, lab)
                cols.append(key)
                data[key] = frame[c]
    out = pd.DataFrame(data, index=rows)
    out.columns = pd.MultiIndex.from_tuples(cols)
    return out


def fmt_bytes(n: float) -> str:
    """Human-readable bytes (KiB, MiB, GiB)."""
    if n is None or (isinstance(n, float) and np.isnan(n)):
        return "—"
    for unit, k in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= k:
            return f"{n / k:.2f} {unit}"
    return f"{int(n)} B"



def rank_correlation(ours: pd.DataFrame, paper: pd.DataFrame, methods: Iterable[str],
                     column: Callable[[str], object] = lambda d: (d, "avg", "A")) -> pd.DataFrame:
    """Spearman rank correlation, per direction, of ``column(direction)`` between our wide table and
    the paper's over the methods both have (NaN with fewer than three)."""
    common = [m for m in methods if m in ours.index and m in paper.index]
    rows = []
    for d in ("A→V", "V→A"):
        o, p = ours.loc[common, column(d)], paper.loc[common, column(d)]
        rho = o.rank().corr(p.rank()) if len(common) > 2 else float("nan")
        rows.append({"direction": d, "methods": len(common), "Spearman rank correlation": rho})
    return pd.DataFrame(rows)
