"""How the book shows a table: one :func:`show` for every table of every chapter.

A shown table has no pandas index column (a meaningful index becomes an ordinary first column),
a fixed number of decimals, column labels a reader understands without the code
(:data:`LABELS`), and optional ``mean ± std`` cells with the best value bold and the second
best underlined (:func:`stella.report.tables.mark_frame`). Every cell, column label and caption is
HTML-escaped: text read from the run store reaches the page as text, never as markup.
"""
from __future__ import annotations

import html
import math
from typing import Callable, Mapping, Sequence

import pandas as pd
from IPython.display import HTML, Markdown

from stella.report import paper_numbers as paper
from stella.report.tables import display_frame, mark_frame

BEST_CSS = "font-weight: bold"
SECOND_CSS = "text-decoration: underline"
VERDICT_CSS = {"holds": "color: #1a7f37; font-weight: bold", "contradicted": "color: #b42318; font-weight: bold",
               "equivalent": "color: #0550ae; font-weight: bold", "inconclusive": "color: #6e7781",
               "not tested": "color: #a0a7b0; font-style: italic"}

# Column names in the package's frames -> what a reader sees.
LABELS = {
    "A→V A": "A→V A (%)", "A→V F": "A→V F (%)", "V→A A": "V→A A (%)", "V→A F": "V→A F (%)",
    "batch_size": "batch", "step_s": "step (s)", "throughput": "throughput (samples/s)",
    "saved_bytes": "activations", "param_bytes": "parameters", "optimizer_bytes": "optimiser state",
    "extra_bytes": "method extras", "peak_bytes": "peak training memory", "cuda_peak_bytes": "CUDA peak memory",
    "memory_capacity": "memory capacity (clips)", "item_bytes": "bytes per clip", "memory_bytes": "memory bytes",
    "memory_items": "clips stored", "model_bytes": "model bytes", "test_accuracy": "accuracy (%)",
    "chance": "chance (%)", "ceiling": "ceiling (%)", "gap": "modality gap", "n_seeds": "seeds",
    "video_patches": "video patches on the object", "video_pixels": "video pixels on the object",
    "audio_chunks": "audio time tokens with the event", "audio_frames": "audio frames with the event",
}


PM = " ± "
STACK_FROM = 4   # a table with this many "mean ± std" columns shows the std under the mean (it fits the page)


def stacked(cell) -> str:
    """A "mean ± std" cell as html with the std on a second, smaller line (class ``stella-std``)."""
    if not isinstance(cell, str) or PM not in cell:
        return "—" if cell is None or (isinstance(cell, float) and math.isnan(cell)) else str(cell)
    mean, std = cell.split(PM, 1)
    return f'{mean}<br><span class="stella-std">± {std}</span>'


def label(column):
    """The reader's label of a column name (tuples: each level)."""
    if isinstance(column, tuple):
        return tuple(LABELS.get(c, c) if isinstance(c, str) else c for c in column)
    return LABELS.get(column, column)


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """The index as ordinary first column(s), then a default RangeIndex (hidden when shown)."""
    if isinstance(df.index, pd.RangeIndex) and df.index.name is None:
        return df
    names = [n or "" for n in df.index.names]
    if names == [""]:
        names = ["method"]
    out = df.copy()
    out.index = out.index.set_names(names)
    if isinstance(out.columns, pd.MultiIndex):
        idx = out.index.to_frame(index=False)
        out = out.reset_index(drop=True)
        for i, n in enumerate(reversed(names)):
            out.insert(0, (n,) + ("",) * (out.columns.nlevels - 1), idx[n])
        return out
    return out.reset_index()


def show(df: pd.DataFrame, caption: str | None = None, digits: int = 2, stds: pd.DataFrame | None = None,
         marks: pd.DataFrame | bool = False, exclude=(), formats: Mapping[str, Callable | str] | None = None,
         method_labels: bool = True):
    """A Styler of ``df``: index hidden (a meaningful index shown as first column, method keys in the
    index or a ``method`` column as the paper's names), numbers with ``digits`` decimals, ``stds`` as ``mean ± std``, reader labels.

    ``marks=True`` marks best (bold) and second best (underlined) per numeric column (F, time and
    memory columns lower-better), ``exclude``-d rows unmarked; a frame of "best"/"second" is used as
    given. ``formats`` maps a column to a format string or function (e.g. ``fmt_bytes``)."""
    if marks is True:
        marks = mark_frame(df.apply(pd.to_numeric, errors="coerce"), exclude=exclude)
    shown = display_frame(df, stds, digits) if stds is not None else df.copy()
    names = list(shown.index.names)
    keys = names == [None] and not pd.api.types.is_numeric_dtype(shown.index.dtype)
    if method_labels and (keys or "method" in names):
        shown = shown.rename(index=lambda m: paper.label(m) if isinstance(m, str) else m,
                             level="method" if "method" in names else None)
    if method_labels and "method" in shown.columns:
        shown["method"] = shown["method"].map(lambda m: paper.label(m) if isinstance(m, str) else m)
    flat = _flat(shown)
    keys = list(flat.columns[:len(flat.columns) - len(shown.columns)])   # the index, now first column(s)
    fmt = {c: (lambda v, d=digits: "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{d}f}")
           for c in flat.columns if pd.api.types.is_float_dtype(flat[c]) and c not in keys}
    fmt.update({c: "{:g}".format for c in keys if pd.api.types.is_float_dtype(flat[c])})
    spread = [c for c in flat.columns if c not in keys and flat[c].map(lambda v: isinstance(v, str) and PM in v).any()]
    if len(spread) >= STACK_FROM:
        fmt.update({c: stacked for c in spread})
    for c, f in (formats or {}).items():
        for col in flat.columns:
            if col == c or (isinstance(col, tuple) and col[0] == c):
                fmt[col] = f
    styler = flat.style.format(fmt, na_rep="—", escape="html").hide(axis="index")   # escaped before a format runs
    if isinstance(marks, pd.DataFrame):
        css = marks.reindex(index=df.index, columns=df.columns).fillna("").replace({"best": BEST_CSS,
                                                                                   "second": SECOND_CSS})
        css = _flat(css.set_axis(shown.index)).reindex(columns=flat.columns).fillna("")
        styler = styler.apply(lambda _: css.where(css.isin([BEST_CSS, SECOND_CSS]), ""), axis=None)
    def escaped(c):
        return tuple(map(escaped, c)) if isinstance(c, tuple) else html.escape(c, False) if isinstance(c, str) else c
    styler = styler.relabel_index([escaped(label(c)) for c in flat.columns], axis="columns")
    if caption:
        styler = styler.set_caption(html.escape(caption, False))
    return styler


def show_claims(claims: pd.DataFrame, caption: str | None = None):
    """A claims table (:func:`stella.report.claims.judge`) narrow enough for a 1280 px page: each family
    a full-width heading row, then per comparison the claim, the verdict (coloured), the paper's number
    and ours, the difference oriented to the paper's side over its 95 % interval, and the Holm-adjusted
    p over the smallest difference the seeds detect. What every row shares (seeds, unit, chance,
    ceiling) goes into the caption; a seed count or unit that differs between rows goes into its
    family's heading, or into its row where it differs within the family; so does the reading of the
    paper a family is judged under."""
    esc = lambda v: html.escape(str(v))
    small = lambda v: f'<br><span class="stella-std">{esc(v)}</span>'
    sub = lambda v: f'<br><span class="stella-sub">{esc(v)}</span>'      # a second line that may wrap
    num = lambda v, f: "—" if v != v else f.format(v)
    tested = claims["verdict"] != "not tested"
    shared, per_row = [], []
    for col, text in (("n_seeds", "n = {}"), ("unit", "unit: {}"), ("chance", "chance {:.2f} %"),
                      ("ceiling", "ceiling {:.2f} %")):
        column = claims.loc[tested, col]
        vals = column.dropna().unique()
        if len(vals) == 1 and column.notna().all():      # every tested row has this value: the caption says it
            shared.append(text.format(vals[0]))
        elif len(vals):                                  # rows differ (or some have none): each family or row says it
            per_row.append((col, text))
    head = ("claim", "verdict", "paper<br>ours", "difference<br>[95 % CI]", "p (Holm)<br>detectable")
    rows = []
    for family, part in claims.groupby("family", sort=False):
        judged = part[part["verdict"] != "not tested"]
        common = [(col, text) for col, text in per_row if judged[col].nunique() == 1 and judged[col].notna().all()]
        readings = part["reading"].dropna().unique() if "reading" in part else []
        label = "; ".join([family, *(text.format(judged[col].iloc[0]) for col, text in common),
                           *([f"reading: {readings[0]}"] if len(readings) == 1 and readings[0] else [])])
        rows.append(f'<tr class="stella-family"><th colspan="{len(head)}">{esc(label)}</th></tr>')
        for r in part.itertuples():
            verdict = f'<td style="{VERDICT_CSS.get(r.verdict, "")}">{esc(r.verdict)}</td>'
            if r.verdict == "not tested" or r.difference != r.difference:
                why = r.note if r.verdict == "not tested" and r.note else r.test
                rows.append(f"<tr><td>{esc(r.claim)}</td>{verdict}<td>{esc(r.paper)}{sub(r.ours or 'ours: —')}</td>"
                            f'<td colspan="2">{esc(why)}</td></tr>')
                continue
            extra = "; ".join(text.format(getattr(r, col)) for col, text in per_row
                              if (col, text) not in common and getattr(r, col) == getattr(r, col))
            ci = "" if r.ci_low != r.ci_low else small(f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}]")
            rows.append(f"<tr><td>{esc(r.claim)}{sub(extra) if extra else ''}</td>{verdict}"
                        f'<td>{esc(r.paper)}{sub(r.ours)}</td><td class="stella-num">{r.difference:+.2f}{ci}</td>'
                        f'<td class="stella-num">{num(r.p_holm, "{:.3f}")}{small(num(r.detectable, "{:.2f}"))}</td></tr>')
    note = ("Difference: oriented so that + is the paper's side; p: paired t over seeds (one-sided for "
            "non-inferiority and equivalence), Holm-adjusted within each family; equivalent: the 90 % interval inside "
            "±margin; detectable: the smallest true difference the seeds detect with 80 % power; no interval and no p: "
            "a deterministic quantity compared exactly.")
    text = " ".join(t for t in (caption, "; ".join(shared) + "." if shared else "", note) if t)
    return HTML(f'<table class="stella-claims"><caption>{esc(text)}</caption><thead><tr>'
                + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>" + "".join(rows)
                + "</tbody></table>")


def show_families(families: pd.DataFrame, caption: str | None = None):
    """The families table (:func:`stella.report.verdicts.family_table`), narrow enough for a page: the
    family's verdict (coloured), the family and its members' verdicts counted in one column."""
    view = pd.DataFrame({"verdict": families["family verdict"], "family of claims": families["family"],
                         "hold / contradicted / equivalent / inconclusive / not tested": [
                             " / ".join(str(int(r[v])) for v in VERDICT_CSS) for _, r in families.iterrows()]})
    styler = view.style.hide(axis="index").map(lambda v: VERDICT_CSS.get(v, ""), subset=["verdict"])
    return styler.set_caption(caption) if caption else styler


def caption(text: str, n_seeds: int | None = None):
    """A figure caption as Markdown: "**Figure.** text" plus, given ``n_seeds``, from how many seeds."""
    seeds = "" if n_seeds is None else f" From {n_seeds} seed{'s' if n_seeds != 1 else ''}."
    return Markdown(f"**Figure.** {text}{seeds}")


def details(summary: str, lines, open_: bool = False):
    """Collapsible detail: an html ``<details>`` block (closed unless ``open_``) whose summary line is
    ``summary`` and whose body lists ``lines``; shown the same in Jupyter and in the book, offline."""
    items = "".join(f"<li>{html.escape(str(line))}</li>" for line in lines if line)
    return HTML(f"<details{' open' if open_ else ''}><summary>{html.escape(summary)}</summary><ul>{items}</ul></details>")


def yes_no(flag: bool) -> str:
    return "yes" if bool(flag) else "no"


def in_short(lines: Sequence[str]):
    """A page's short summary as Markdown: "**In short.**" and one bullet per line (a cell tagged
    ``page-summary``, which the book driver pastes under the page's title: ``stella.builder.pages``)."""
    return Markdown("**In short.**\n\n" + "\n".join(f"- {line}" for line in lines if line))
