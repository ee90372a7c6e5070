"""The paper's claims judged on our runs: the one implementation behind chapters 02, 04, 08 and 09.

Absolute numbers are not comparable with the paper's (synthetic benchmark, tiny model), so a
claim is an *ordering*: "method X scores higher than method Y". It is judged by a **paired
comparison over the same seeds**: d_s = value(X, seed s) - value(Y, seed s), the mean of d, and
its two-sided 95 % Student-t confidence interval mean ± t(0.975, n-1) · sd(d) / √n (a paired
t-test at level 5 %). The verdict is

* "holds" when the interval excludes zero on the paper's side,
* "contradicted" when it excludes zero on the other side,
* "inconclusive" otherwise, and always with fewer than two seeds (no verdict from noise).

"The best baseline" is the baseline with the highest mean over seeds (:data:`BASELINES`, one
list for every chapter); the comparison is then paired against that method. Every row carries
the paper's numbers, the chance level (a random ranking of the gallery) and the ceiling
(perfect class knowledge: same-class clips ranked first in random order), computed from the
gallery, so a difference can be read against the room there is. Efficiency ratios (Table 2)
are single measurements taken side by side in one process: they are judged against the
paper's threshold and say so in ``test``.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from stella.report import paper_numbers as paper

LEVEL = 0.95
PAIRED_TEST = "paired t, 95 % CI"
# Every chapter compares STELLA with these (Finetune and Multitask are the bounds, claimed separately).
BASELINES = ("er", "mir", "derpp", "gmed", "clser", "lump", "esmer")
OURS = ("stella", "stella+")
COLUMNS = ["claim", "chapter", "paper", "paper_difference", "ours", "difference", "ci_low", "ci_high",
           "n_seeds", "chance", "ceiling", "verdict", "test"]
THROUGHPUT_SLACK = 0.9   # "comparable throughput": STELLA at least 90 % of DER++'s (the paper: 0.97)


# --------------------------------------------------------------------------- statistics
def paired_verdict(ours: Sequence[float], other: Sequence[float], sign: int = 1,
                   level: float = LEVEL) -> dict[str, float | int | str]:
    """Paired t-interval of ``ours - other`` (per-seed pairs) and the verdict for the claim that
    the difference has sign ``sign`` (+1: ours higher, -1: ours lower).

    Returns ``difference`` (mean of the per-seed differences), ``ci_low``, ``ci_high``,
    ``n_seeds`` and ``verdict``; pairs with a NaN are dropped; fewer than two pairs give a NaN
    interval and "inconclusive"."""
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign}")
    d = np.asarray(ours, float) - np.asarray(other, float)
    d = d[~np.isnan(d)]
    n = len(d)
    mean = float(d.mean()) if n else float("nan")
    if n < 2:
        return {"difference": mean, "ci_low": float("nan"), "ci_high": float("nan"), "n_seeds": n,
                "verdict": "inconclusive"}
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * d.std(ddof=1) / math.sqrt(n))
    low, high = mean - half, mean + half
    side = 1 if low > 0 else -1 if high < 0 else 0
    verdict = "inconclusive" if side == 0 else "holds" if side == sign else "contradicted"
    return {"difference": mean, "ci_low": low, "ci_high": high, "n_seeds": n, "verdict": verdict}


def ceiling_recall(class_counts: Mapping[int, int] | Iterable[int], ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """R@k (%) with perfect class knowledge: for a query of class c with n_c clips in the gallery,
    the n_c same-class clips come first in random order, so its match is within the first k with
    probability min(k, n_c) / n_c; averaged over every gallery clip as the query,
    R@k = 100 · Σ_c min(k, n_c) / Σ_c n_c. ``avg`` is the mean over ``ks``."""
    counts = list(class_counts.values()) if isinstance(class_counts, Mapping) else list(class_counts)
    total = sum(counts)
    if total < 1 or any(c < 0 for c in counts):
        raise ValueError(f"class counts must be >= 0 with a positive total, got {counts}")
    rec = {f"R@{k}": 100.0 * sum(min(k, c) for c in counts) / total for k in ks}
    rec["avg"] = float(np.mean(list(rec.values())))
    return rec


def retrieval_scale(class_counts: Counter | Mapping[int, int], ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Chance (random ranking) and ceiling (perfect class knowledge) of the mean R@k of a gallery."""
    from stella.eval.retrieval import chance_recall

    size = sum(class_counts.values())
    return {"gallery": size, "chance": chance_recall(size, ks)["avg"],
            "ceiling": ceiling_recall(class_counts, ks)["avg"]}


REFERENCE_ROWS = ("chance: random ranking", "ceiling: class knowledge")


def reference_recalls(class_counts: Mapping[int, int], ks: Sequence[int] = (1, 5, 10)) -> pd.DataFrame:
    """The floor and the roof of a retrieval table: rows :data:`REFERENCE_ROWS` (chance, ceiling),
    columns ``R@k`` and ``avg`` (%), for the gallery with ``class_counts`` clips per class."""
    from stella.eval.retrieval import chance_recall

    size = sum(class_counts.values())
    return pd.DataFrame([chance_recall(size, ks), ceiling_recall(class_counts, ks)], index=list(REFERENCE_ROWS))


def scale_note(scale: Mapping[str, float]) -> str:
    """"chance 4.17 %, ceiling 48.96 % (avg recall, gallery of 128 clips)" for a table's caption."""
    return (f"chance {scale['chance']:.2f} %, ceiling {scale['ceiling']:.2f} % (avg recall over a gallery of "
            f"{scale['gallery']} clips)")


# --------------------------------------------------------------------------- rows
def _per_seed(runs: pd.DataFrame, value: str, direction: str | None = None, metric: str = "avg") -> pd.DataFrame:
    """seed x method of ``value`` (A or F) for the avg metric of one direction (None: mean of both)."""
    sel = runs[runs["metric"] == metric]
    if direction is not None:
        sel = sel[sel["direction"] == direction]
    return sel.pivot_table(index="seed", columns="method", values=value, aggfunc="mean")


def _best(table: pd.DataFrame, candidates: Iterable, higher: bool = True):
    """The column of ``table`` among ``candidates`` with the highest (lowest) mean over seeds, or None."""
    means = table.reindex(columns=[c for c in candidates if c in table.columns]).mean().dropna()
    if means.empty:
        return None
    return means.idxmax() if higher else means.idxmin()


def _record(claim: str, chapter: str, paper_text: str, paper_difference: float, ours_text: str,
            ours: Sequence[float], other: Sequence[float], sign: int,
            scale: Mapping[str, float] | None = None) -> dict:
    """One claim row of :data:`COLUMNS` from the per-seed values of the two sides."""
    scale = scale or {}
    return {"claim": claim, "chapter": chapter, "paper": paper_text, "paper_difference": paper_difference,
            "ours": ours_text, **paired_verdict(ours, other, sign), "chance": scale.get("chance", float("nan")),
            "ceiling": scale.get("ceiling", float("nan")), "test": PAIRED_TEST}


def _row(claim: str, chapter: str, table: pd.DataFrame, a: str, b: str, sign: int, paper_a: float, paper_b: float,
         scale: Mapping[str, float] | None = None, paper_b_name: str | None = None) -> dict:
    """Method ``a`` vs method ``b`` over the seeds of ``table`` (seed x method); the paper's side
    compares ``a`` with ``paper_b_name`` (default ``b``; the paper's own best baseline may differ)."""
    return _record(claim, chapter,
                   f"{paper.label(a)} {paper_a:.2f} vs {paper.label(paper_b_name or b)} {paper_b:.2f}",
                   paper_a - paper_b,
                   f"{paper.label(a)} {table[a].mean():.2f} vs {paper.label(b)} {table[b].mean():.2f}",
                   table[a], table[b], sign, scale)


def _continual(methods: Iterable[str]) -> list[str]:
    """The methods that learn continually: not joint training on all tasks at once (Multitask)."""
    from stella.continual import METHODS

    return [m for m in methods if not METHODS[m].joint]


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def _paper_af(table: pd.DataFrame, method: str, direction: str, col: str) -> float:
    """The paper's ``col`` (A or F) for ``method``: Table 1/7 (tidy, metric avg) or an A/F table (wide)."""
    if "metric" in table.columns:
        sel = table[(table["method"] == method) & (table["direction"] == direction) & (table["metric"] == "avg")]
        return float(sel[col].iloc[0]) if len(sel) else float("nan")
    sel = table[table["method"] == method]
    return float(sel[f"{direction} {col}"].iloc[0]) if len(sel) else float("nan")


def retrieval_claims(runs: pd.DataFrame, scale: Mapping[str, float] | None = None, task_order: str = "default",
                     chapter: str = "02_retrieval") -> pd.DataFrame:
    """Table 1 (Table 7 for ``task_order="shuffled"``): STELLA / STELLA+ above the best baseline,
    STELLA forgets less than DER++, Multitask the upper and Finetune the lower bound; per direction,
    on avg-recall A and F. ``runs``: :func:`stella.report.runs.seed_table` rows; ``scale``:
    :func:`retrieval_scale` of the gallery."""
    t1 = paper.retrieval_table(task_order)
    rows = []
    for d in paper.DIRECTIONS:
        a, f = _per_seed(runs, "A", d), _per_seed(runs, "F", d)
        theirs = {m: _paper_af(t1, m, d, "A") for m in paper.TABLE1_METHODS}

        def paper_pick(candidates, higher=True):
            c = [m for m in candidates if theirs.get(m) == theirs.get(m) and m in theirs]
            return (max if higher else min)(c, key=theirs.get) if c else None

        best, pbest = _best(a, BASELINES), paper_pick(BASELINES)
        for m in OURS:
            if m in a.columns and best:
                rows.append(_row(f"{paper.label(m)} has a higher A than the best baseline ({d})", chapter, a, m, best,
                                 1, theirs[m], theirs[pbest], scale, pbest))
        if {"stella", "derpp"} <= set(f.columns):
            rows.append(_row(f"STELLA forgets less than DER++ (F, {d})", chapter, f, "stella", "derpp", -1,
                             _paper_af(t1, "stella", d, "F"), _paper_af(t1, "derpp", d, "F"), scale))
        continual = _continual(a.columns)
        top, ptop = _best(a, continual), paper_pick(_continual(theirs))
        if "multitask" in a.columns and top:
            rows.append(_row(f"Multitask is the upper bound (A, {d})", chapter, a, "multitask", top, 1,
                             theirs["multitask"], theirs[ptop], scale, ptop))
        others = [m for m in continual if m != "finetune"]
        low = _best(a, others, higher=False)
        plow = paper_pick([m for m in _continual(theirs) if m != "finetune"], higher=False)
        if "finetune" in a.columns and low:
            rows.append(_row(f"Finetune is the lower bound (A, {d})", chapter, a, "finetune", low, -1,
                             theirs["finetune"], theirs[plow], scale, plow))
    return _frame(rows)


def ablation_claims(runs: pd.DataFrame, scale: Mapping[str, float] | None = None,
                    chapter: str = "04_ablations") -> pd.DataFrame:
    """Table 3: STELLA (LPIS + RCA) above random patches, MATS, DER++ and the better single
    component; LPIS alone and RCA alone each above DER++. Per direction, avg-recall A."""
    t3 = paper.table3()
    pairs = [("stella", "random"), ("stella", "mats"), ("stella", "derpp"), ("stella", None), ("lpis", "derpp"),
             ("rca", "derpp")]
    rows = []
    for d in paper.DIRECTIONS:
        a = _per_seed(runs, "A", d)
        for x, y in pairs:
            py = y or max(("lpis", "rca"), key=lambda m: _paper_af(t3, m, d, "A"))
            y = y or _best(a, ("lpis", "rca"))
            if y is None or not {x, y} <= set(a.columns):
                continue
            what = "the better single component" if x == "stella" and y in ("lpis", "rca") else paper.label(y)
            rows.append(_row(f"{paper.label(x)} has a higher A than {what} ({d})", chapter, a, x, y, 1,
                             _paper_af(t3, x, d, "A"), _paper_af(t3, py, d, "A"), scale, py))
    return _frame(rows)


def sweep_claim(runs: pd.DataFrame, default, what: str, paper_table: pd.DataFrame | None = None,
                scale: Mapping[str, float] | None = None, chapter: str = "04_ablations") -> pd.DataFrame:
    """"The paper's default ``default`` of a swept setting has the highest A": the default against the
    other value with the highest mean, on the mean of both directions' avg-recall A per seed.
    ``runs``: :func:`seed_table` rows whose ``variant`` is the swept value; ``paper_table``: the
    paper's A/F rows indexed by the value (None: the paper gives a plot only)."""
    a = runs[runs["metric"] == "avg"].pivot_table(index="seed", columns="variant", values="A", aggfunc="mean")
    others = [v for v in a.columns if v != default]
    if default not in a.columns or not others:
        return _frame([])
    best = _best(a, others)
    pa = pb = float("nan")
    pbest = best
    if paper_table is not None:
        p = paper_table[[f"{d} A" for d in paper.DIRECTIONS]].mean(axis=1)
        if default in p.index and len(p) > 1:
            pbest = p.drop(default).idxmax()
            pa, pb = float(p[default]), float(p[pbest])
    return _frame([_record(f"The default {what} {default} has the highest A (mean of both directions)", chapter,
                           f"{default}: {pa:.2f} vs {pbest}: {pb:.2f}" if pa == pa else "a plot only", pa - pb,
                           f"{default}: {a[default].mean():.2f} vs {best}: {a[best].mean():.2f}", a[default], a[best],
                           1, scale)])


def downstream_claims(values: pd.DataFrame, paper_values: pd.Series, what: str,
                      scale: Mapping[str, float] | None = None, chapter: str = "08_downstream") -> pd.DataFrame:
    """Table 4 / 8: STELLA and STELLA+ above the best baseline, Multitask the upper bound (where the
    paper reports Multitask), on one downstream score. ``values``: rows ``method, seed, value``;
    ``paper_values``: method -> value."""
    table = values.pivot_table(index="seed", columns="method", values="value", aggfunc="mean")
    best = _best(table, BASELINES)
    pbest = max((m for m in BASELINES if m in paper_values.index), key=lambda m: paper_values[m])
    rows = []
    for m in OURS:
        if m in table.columns and best:
            rows.append(_row(f"{paper.label(m)} has a higher {what} than the best baseline", chapter, table, m, best, 1,
                             float(paper_values.get(m, float("nan"))), float(paper_values[pbest]), scale, pbest))
    top = _best(table, _continual(table.columns))
    ptop = max(_continual(paper_values.index), key=lambda m: paper_values[m])
    reported = paper_values.get("multitask", float("nan")) == paper_values.get("multitask")   # not NaN, not missing
    if "multitask" in table.columns and top and reported:
        rows.append(_row(f"Multitask is the upper bound ({what})", chapter, table, "multitask", top, 1,
                         float(paper_values.get("multitask", float("nan"))), float(paper_values[ptop]), scale, ptop))
    return _frame(rows)


def efficiency_claims(eff: pd.DataFrame, where: str = "", chapter: str = "03_efficiency") -> pd.DataFrame:
    """Table 2 from one :func:`stella.report.efficiency_table.measure_methods` frame: STELLA's training
    memory at most the paper's fraction of DER++'s, below Finetune's, STELLA++'s below DER++'s, and
    STELLA's throughput comparable to DER++'s (at least :data:`THROUGHPUT_SLACK` of it; the paper's
    own ratio is 0.97). One measurement each: judged against the threshold, without an interval."""
    e = eff.set_index("method")
    col = "cuda_peak_bytes" if "cuda_peak_bytes" in e.columns else "peak_bytes"
    t2 = paper.table2().set_index("method")
    where = f" ({where})" if where else ""
    checks = [("stella", "derpp", col, "training memory", paper.CLAIMS["memory_ratio_stella_derpp"], "<="),
              ("stella", "finetune", col, "training memory", None, "<"),
              ("stella++", "derpp", col, "training memory", None, "<"),
              ("stella", "derpp", "throughput", "throughput", THROUGHPUT_SLACK, ">=")]
    rows = []
    for a, b, c, what, limit, op in checks:
        if a not in e.index or b not in e.index:
            continue
        pcol = "gpu_mem_gb" if c != "throughput" else "throughput"
        pr = float(t2.at[a, pcol] / t2.at[b, pcol])
        ratio = float(e.at[a, c] / e.at[b, c])
        limit = 1.0 if limit is None else limit
        ok = ratio <= limit + 1e-9 if op == "<=" else ratio < limit if op == "<" else ratio >= limit
        rows.append({"claim": f"{paper.label(a)}'s {what} / {paper.label(b)}'s {op} {limit:.2f}{where}",
                     "chapter": chapter, "paper": f"{pr:.2f} ({t2.at[a, pcol]:.2f} / {t2.at[b, pcol]:.2f})",
                     "paper_difference": float("nan"), "ours": f"{ratio:.2f}", "difference": float("nan"),
                     "ci_low": float("nan"), "ci_high": float("nan"), "n_seeds": 1, "chance": float("nan"),
                     "ceiling": float("nan"), "verdict": "holds" if ok else "contradicted",
                     "test": "threshold, one measurement"})
    return _frame(rows)


def chance_context(means: pd.DataFrame, stds: pd.DataFrame, scale: Mapping[str, float]) -> pd.DataFrame:
    """Each method's avg-recall A per direction (mean over seeds), its seed std, and its distance
    above chance and below the ceiling (%p). ``means`` / ``stds``: :func:`af_table` frames."""
    out = pd.DataFrame(index=means.index)
    for d in paper.DIRECTIONS:
        a = means[f"{d} A"]
        out[f"{d} A (%)"] = a
        out[f"{d} seed std (%p)"] = stds[f"{d} A"]
        out[f"{d} above chance (%p)"] = a - scale["chance"]
        out[f"{d} below ceiling (%p)"] = scale["ceiling"] - a
    return out


def scale_sentence(context: pd.DataFrame, scale: Mapping[str, float]) -> str:
    """Chance, ceiling, the row furthest above chance and the median seed std of :func:`chance_context`."""
    above = context[[f"{d} above chance (%p)" for d in paper.DIRECTIONS]]
    m, col = above.stack().idxmax()
    std = context[[f"{d} seed std (%p)" for d in paper.DIRECTIONS]].stack().median()
    return (f"With {scale['gallery']} clips in the gallery, chance avg recall is {scale['chance']:.2f} % and the "
            "ceiling "
            f"(perfect class knowledge) {scale['ceiling']:.2f} %. The best row is {paper.label(m)} {col.split()[0]}, "
            f"{above.at[m, col]:.2f} %p above chance; "
            + (f"the median std over seeds is {std:.2f} %p." if std == std else "one seed, so no seed spread."))


def summary_line(claims: pd.DataFrame) -> str:
    """"n claims: h hold, c contradicted, i inconclusive" of a claims frame."""
    counts = claims["verdict"].value_counts()
    return (f"{len(claims)} claims: {counts.get('holds', 0)} hold, {counts.get('contradicted', 0)} contradicted, "
            f"{counts.get('inconclusive', 0)} inconclusive")


def memory_claims(runs: pd.DataFrame, scale: Mapping[str, float] | None = None,
                  chapter: str = "05_memory_size") -> pd.DataFrame:
    """Fig. 5: the better of STELLA / STELLA+ above the best baseline at every memory size (per
    direction), and each method's A higher with the largest memory than with the smallest (mean of
    both directions). ``runs``: :func:`seed_table` rows whose ``variant`` is the memory size."""
    sizes = sorted(runs["variant"].unique())
    rows = []
    for d in paper.DIRECTIONS:
        for size in sizes:
            a = _per_seed(runs[runs["variant"] == size], "A", d)
            ours, base = _best(a, OURS), _best(a, [m for m in a.columns if m not in OURS])
            if ours and base:
                rows.append(_row(f"{paper.label(ours)} has a higher A than the best baseline at memory {size} ({d})",
                                 chapter, a, ours, base, 1, float("nan"), float("nan"), scale))
                rows[-1]["paper"] = "a plot only (Fig. 5)"
    if len(sizes) > 1:
        a = runs[runs["metric"] == "avg"].pivot_table(index="seed", columns=["method", "variant"], values="A",
                                                      aggfunc="mean")
        for m in dict.fromkeys(runs["method"]):
            table = pd.DataFrame({"large": a[(m, sizes[-1])], "small": a[(m, sizes[0])]})
            rows.append(_record(f"{paper.label(m)}: memory {sizes[-1]} gives a higher A than {sizes[0]} (mean of both "
                                "directions)", chapter, "a plot only (Fig. 5)", float("nan"),
                                f"{sizes[-1]}: {table['large'].mean():.2f} vs {sizes[0]}: {table['small'].mean():.2f}",
                                table["large"], table["small"], 1, scale))
    return _frame(rows)


def book_claims(preset: str, seeds: Sequence[int] | None = None, results_dir: str = "results",
                task_order: str = "default", device: str = "cpu", efficiency: bool = True,
                efficiency_batches: Sequence[int] | None = None, efficiency_steps: int | None = None) -> pd.DataFrame:
    """Every claim of chapters 02 (Table 1), 04 (Table 3 and the sweeps), 08 (Tables 4, 8) and the
    efficiency ratios of Table 2 measured in chapter 09, in that order, with the columns of
    :data:`COLUMNS` (``chapter`` is the notebook stem where the claim's table is shown).

    ``seeds`` (default: each chapter's own, :data:`stella.report.defaults.SEEDS`) apply to chapters 02,
    04's Table 3 and 08; the sweeps of chapter 04 keep their own (the first of those seeds). Runs and
    probes come from the store (what the chapters trained); a missing one is trained. ``efficiency=False`` skips the
    Table 2 measurement (about a minute at the cpu preset)."""
    from dataclasses import replace

    from stella.report import ablations, downstream
    from stella.report.defaults import notebook_setup
    from stella.report.runs import gallery_classes, seed_table

    common = {"results_dir": results_dir, "device": device}
    nb2 = notebook_setup("02_retrieval", preset, task_order=task_order, **common)
    nb4 = notebook_setup("04_ablations", preset, task_order=task_order, **common)
    nb8 = notebook_setup("08_downstream", preset, task_order=task_order, **common)
    if seeds is not None:
        nb2, nb4, nb8 = (replace(nb, seeds=list(seeds)) for nb in (nb2, nb4, nb8))
    scale = retrieval_scale(gallery_classes(preset, task_order))
    parts = [retrieval_claims(seed_table(preset, nb2.methods, nb2.seeds, **nb2.run_args()), scale, task_order),
             ablation_claims(seed_table(preset, nb4.methods, nb4.seeds, **nb4.run_args()), scale),
             ablations.sweep_claims(preset, {s: ablations.sweep_runs(nb4, s) for s in ablations.SWEEPS}, scale)]
    data = downstream.probe_data(nb8)
    scores, theirs = downstream.per_seed_scores(downstream.probe_results(nb8, data)), downstream.paper_scores()
    chance = {what: scores[what]["chance"].mean() for what in ("classification", "event localisation")}
    scales = {**{w: {"chance": c, "ceiling": 100.0} for w, c in chance.items()},
              "unseen retrieval": downstream.unseen_scale(data)}
    parts += [downstream_claims(scores[w], theirs[w], w, scales[w]) for w in scores]
    if efficiency:
        from stella.report.efficiency_table import measure_methods

        nb9 = notebook_setup("09_what_reproduced", preset, efficiency_batches=efficiency_batches,
                             efficiency_steps=efficiency_steps, **common)
        for b in nb9.efficiency_batches:
            eff = measure_methods(preset, ["derpp", "stella"], steps=nb9.efficiency_steps, prefill=2, device=device,
                                  overrides=[f"continual.batch_size={b}"])
            which = ", the preset's" if b == nb9.own_batch else ", the paper's" if b == 48 else ""
            parts.append(efficiency_claims(eff, f"batch {b}{which}"))
    return pd.concat([p for p in parts if len(p)], ignore_index=True)
