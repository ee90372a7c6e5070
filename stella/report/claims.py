"""The paper's claims judged on our runs: the statistics every verdict goes through, and the registry.

A claim is declared by the chapter that shows it (its report module calls :func:`register`), as the
paper states it: a :class:`Comparison` of two sides measured on the same seeds (or the same
interleaved measurement rounds), oriented so that a positive difference is the paper's side. This
module keeps only what judges them:

* **Paired t-interval.** d_s = sign · (ours_s − other_s); mean, two-sided 95 % Student-t interval
  mean ± t(0.975, n−1) · sd(d) / √n and the two-sided p-value of "mean d = 0".
* **One verdict rule.** A comparison is **not tested** when it has fewer than two paired values, a stated
  reason (a saturated score, a setting the preset cannot run), or both sides at chance (chance inside each
  side's 95 % interval over seeds). A **deterministic** quantity (a count of bytes, or repeats with no
  spread at all) is never a t-test: it is compared exactly and its ordering read off ("exact count").
  Otherwise "holds" and "contradicted" need a Holm-corrected p below 5 %.
* **Holm's correction** over each claim's *family* (the comparisons the paper makes in one breath,
  e.g. "STELLA outperforms every baseline in A→V": one row per baseline): sort the family's p-values,
  multiply the smallest by the family's size, the next by one less, and so on (never decreasing), so that
  the chance of any false "holds" in the family stays under 5 %. A superiority claim **holds** when its
  adjusted two-sided p is below 5 % and the mean is on the paper's side, is **contradicted** when it is
  below 5 % on the other side, and is **equivalent** when the 90 % interval lies inside ±:data:`MARGIN`
  (1 %p for recall and probe scores, fixed before looking); else **inconclusive**.
* **Power.** ``detectable``: the smallest true difference the seeds detect with 80 % power by a
  two-sided 5 % paired t-test at the observed spread, (t(0.975, n−1) + t(0.80, n−1)) · sd(d) / √n.
* **Non-inferiority** ("competitive or better", Table 7): holds when the Holm-adjusted one-sided p of
  "d ≤ −margin" is below 5 %, contradicted when the Holm-adjusted one-sided p of "d ≥ −margin" is.
* **Equivalence claims** ("comparable throughput"): holds when both one-sided tests inside ±margin
  reject (the larger p, Holm-adjusted, below 5 %), contradicted when the difference is shown outside
  ±margin (the smaller one-sided p, Holm-adjusted, below 5 %).

Every row carries chance and ceiling where the score has them, the family and its size, the
correction and the test, so a table reader sees what each verdict rests on.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from stella.continual import METHODS
from stella.eval.retrieval import chance_recall
from stella.report.chapter import setup
from stella.report.paper_numbers import BASELINES, DIRECTIONS, OURS, label  # noqa: F401  (the claims' sides, one list for the book)
from stella.report.stats import LEVEL, POWER, holm, one_sided_p, paired_stats, paired_verdict  # noqa: F401

MARGIN = 1.0            # %p: the equivalence / non-inferiority margin of recall and probe scores, fixed in advance
PAIRED_TEST = "paired t, 95 % CI"
KINDS = ("superiority", "non-inferiority", "equivalence")
VERDICTS = ("holds", "contradicted", "equivalent", "inconclusive", "not tested")
COLUMNS = ["key", "claim", "chapter", "family", "family_size", "kind", "paper", "paper_difference", "ours", "difference",
           "ci_low", "ci_high", "p", "p_holm", "n_seeds", "detectable", "margin", "unit", "chance", "ceiling",
           "verdict", "test", "reading", "note"]


@dataclass(frozen=True)
class Comparison:
    """One claim on one pair of sides: ``ours`` against ``other``, values per seed (index: seed, or
    measurement round). ``sign`` +1: the paper says ``ours`` is higher; −1: lower. ``paper`` is the
    paper's numbers as text, ``paper_difference`` the paper's difference oriented like ours (NaN
    where the paper gives a plot only). ``status`` set: the claim is "not tested", for that reason.

    ``key`` names the comparison for code (tables and sentences look rows up by it, never by their
    prose): "<family key>/<member>", e.g. "table1.outperforms.stella.A→V/derpp"; every comparison of a
    family shares the family key (:func:`family_key`)."""

    claim: str
    chapter: str
    family: str
    ours: pd.Series | Sequence[float]
    other: pd.Series | Sequence[float] | float
    sign: int = 1
    kind: str = "superiority"
    paper: str = ""
    paper_difference: float = float("nan")
    ours_text: str = ""
    unit: str = "%p"
    margin: float | None = MARGIN
    chance: float = float("nan")
    ceiling: float = float("nan")
    test: str = PAIRED_TEST
    reading: str = ""
    status: str = ""
    exact: bool = False       # a deterministic count (memory at a geometry): one value per side, no sampling
    key: str = ""


    def differences(self) -> np.ndarray:
        """sign · (ours − other) per seed, pairs with a NaN dropped (a scalar ``other`` is a constant side)."""
        ours = pd.Series(self.ours, dtype=float) if not isinstance(self.ours, pd.Series) else self.ours.astype(float)
        if np.isscalar(self.other):
            other = pd.Series(float(self.other), index=ours.index)
        elif isinstance(self.other, pd.Series):
            other = self.other.astype(float)
        else:
            other = pd.Series(self.other, dtype=float, index=ours.index)
        if isinstance(self.ours, pd.Series) and isinstance(self.other, pd.Series):
            ours, other = ours.align(other, join="inner")
        d = self.sign * (ours.to_numpy() - other.to_numpy())
        return d[~np.isnan(d)]


def _exact(c: Comparison, s: Mapping[str, float]) -> bool:
    """A deterministic comparison: a declared count (``exact``) or repeats with no spread at all (memory
    counted in bytes, measured in several rounds): compared exactly, never by a t-test."""
    return c.exact or (s["n_seeds"] >= 2 and s["se"] == 0)


def at_chance(c: Comparison) -> bool:
    """Both sides of a per-seed comparison sit at chance: ``c.chance`` lies inside each side's 95 % Student-t
    interval over seeds (a comparison between two results at chance is not tested)."""
    if c.chance != c.chance or np.isscalar(c.other) or c.status:
        return False
    sides = [pd.Series(v, dtype=float).dropna() if not isinstance(v, pd.Series) else v.astype(float).dropna()
             for v in (c.ours, c.other)]
    if any(len(v) < 2 for v in sides):
        return False
    return all(paired_stats(v - c.chance)["ci_low"] <= 0 <= paired_stats(v - c.chance)["ci_high"] for v in sides)


def chance_status(values: Sequence[float], chance: float) -> str:
    """"at chance" when ``chance`` lies inside the 95 % Student-t interval of ``values`` over seeds, else "above
    chance" or "below chance"; "one seed" with fewer than two values."""
    v = pd.Series(values, dtype=float).dropna()
    if len(v) < 2:
        return "one seed"
    s = paired_stats(v - chance)
    return "at chance" if s["ci_low"] <= 0 <= s["ci_high"] else "above chance" if s["ci_low"] > 0 else "below chance"


def _tests(c: Comparison, s: Mapping[str, float]) -> tuple[float, float]:
    """(p of the claim, p of its contradiction), each one test Holm corrects within the family:
    superiority: the two-sided p of "no difference" for both (the sign decides); non-inferiority: "d > −margin"
    against "d < −margin"; equivalence: both one-sided tests inside ±margin (the larger p) against "outside"
    (the smaller of the two one-sided p)."""
    if c.status or s["n_seeds"] < 2 or _exact(c, s):
        return float("nan"), float("nan")
    d, se, n = s["difference"], s["se"], s["n_seeds"]
    if c.kind == "superiority":
        return s["p"], s["p"]
    m = c.margin
    if c.kind == "non-inferiority":
        return one_sided_p(d, se, n, -m), one_sided_p(-d, se, n, m)
    inside = max(one_sided_p(d, se, n, -m), one_sided_p(-d, se, n, -m))
    return inside, min(one_sided_p(d, se, n, m), one_sided_p(-d, se, n, m))


def _verdict(c: Comparison, s: Mapping[str, float], p_claim: float, p_contra: float) -> str:
    """The one verdict rule of the book: not tested (a stated reason, or fewer than two paired values);
    a deterministic quantity read off exactly; otherwise "holds" / "contradicted" only at a Holm-corrected
    p below 1 − LEVEL, "equivalent" (superiority claims) when the 90 % interval lies within ±margin,
    else "inconclusive"."""
    if c.status:
        return "not tested"
    if _exact(c, s):
        if c.kind == "equivalence":
            return "holds" if abs(s["difference"]) < c.margin else "contradicted"
        if c.kind == "non-inferiority":
            return "holds" if s["difference"] > -c.margin else "contradicted"
        return "holds" if s["difference"] > 0 else "contradicted"
    if s["n_seeds"] < 2:
        return "not tested"
    alpha, m = 1 - LEVEL, c.margin
    if c.kind == "superiority":
        if p_claim < alpha:
            return "holds" if s["difference"] > 0 else "contradicted"
        if m is not None and -m < s["ci90_low"] and s["ci90_high"] < m:
            return "equivalent"
        return "inconclusive"
    if p_claim < alpha:
        return "holds"
    return "contradicted" if p_contra < alpha else "inconclusive"


def family_key(key: str) -> str:
    """The family part of a claim's key: "table1.outperforms.stella.A→V/derpp" -> "table1.outperforms.stella.A→V"."""
    return key.split("/", 1)[0]


def _check_keys(comparisons: list[Comparison]) -> None:
    """Every comparison has a key "<family>/<member>", no two share one, and a family key names one family."""
    seen, families = set(), {}
    for c in comparisons:
        if "/" not in c.key:
            raise ValueError(f"claim {c.claim!r}: its key must be '<family key>/<member>', got {c.key!r}")
        if c.key in seen:
            raise ValueError(f"claim key {c.key!r} is used twice")
        seen.add(c.key)
        if families.setdefault(family_key(c.key), c.family) != c.family:
            raise ValueError(f"family key {family_key(c.key)!r} names two families: {families[family_key(c.key)]!r} "
                             f"and {c.family!r}")


def judge(comparisons: Iterable[Comparison]) -> pd.DataFrame:
    """The claims frame (:data:`COLUMNS`) of ``comparisons``: statistics per row, Holm over each family."""
    comparisons = list(comparisons)
    _check_keys(comparisons)
    for c in comparisons:
        if c.kind not in KINDS:
            raise ValueError(f"claim {c.claim!r}: kind must be one of {KINDS}, got {c.kind!r}")
        if c.sign not in (1, -1):
            raise ValueError(f"claim {c.claim!r}: sign must be +1 or -1, got {c.sign}")
        if c.kind != "superiority" and c.margin is None:
            raise ValueError(f"claim {c.claim!r}: a {c.kind} claim needs a margin")
    comparisons = [replace(c, status=f"at chance: both sides' 95 % intervals over seeds contain chance ({c.chance:.2f} %)")
                   if at_chance(c) else c for c in comparisons]
    rows = [(c, paired_stats(c.differences())) for c in comparisons]
    tests = [_tests(c, s) for c, s in rows]
    fam = pd.Series([c.family for c in comparisons], dtype=object)
    adjusted = np.full((len(rows), 2), np.nan)
    for _, idx in fam.groupby(fam, sort=False).groups.items():
        idx = list(idx)
        for k in (0, 1):
            adjusted[idx, k] = holm([tests[i][k] for i in idx])
    sizes = fam.map(fam.value_counts())
    out = []
    for i, (c, s) in enumerate(rows):
        verdict = _verdict(c, s, *adjusted[i])
        k = 1 if verdict == "contradicted" and c.kind != "superiority" else 0      # the p of the test that decided
        exact = verdict != "not tested" and _exact(c, s)
        tested = verdict != "not tested" and not exact
        test = (f"{c.test}; Holm over {int(sizes[i])}" if sizes[i] > 1 else c.test) if tested else \
            (c.test if c.exact else f"no spread over {s['n_seeds']} repeats: compared exactly") if exact else \
            ("fewer than two paired values" if not c.status else "—")
        out.append({"key": c.key, "claim": c.claim, "chapter": c.chapter, "family": c.family, "family_size": int(sizes[i]),
                    "kind": c.kind, "paper": c.paper, "paper_difference": c.paper_difference, "ours": c.ours_text,
                    "difference": s["difference"], "ci_low": s["ci_low"] if tested else float("nan"),
                    "ci_high": s["ci_high"] if tested else float("nan"), "p": tests[i][k] if tested else float("nan"),
                    "p_holm": adjusted[i, k] if tested else float("nan"), "n_seeds": s["n_seeds"],
                    "detectable": s["detectable"] if tested else float("nan"),
                    "margin": float("nan") if c.margin is None else c.margin, "unit": c.unit, "chance": c.chance,
                    "ceiling": c.ceiling, "verdict": verdict, "test": test, "reading": c.reading, "note": c.status})
    return pd.DataFrame(out, columns=COLUMNS)


def row(claims: pd.DataFrame, key: str) -> pd.Series | None:
    """The judged row of claim ``key`` (None when the frame lacks it)."""
    hit = claims[claims["key"] == key]
    return None if hit.empty else hit.iloc[0]


def family(claims: pd.DataFrame, key: str) -> pd.DataFrame:
    """The judged rows of the family ``key`` (a family key, or a prefix ending in "." for several families)."""
    fam = claims["key"].map(family_key)
    return claims[fam.eq(key) | (fam.str.startswith(key) if key.endswith(".") else False)]


def summary_line(claims: pd.DataFrame) -> str:
    """"n claims tested: h hold, c contradicted, e equivalent, i inconclusive; k not tested"."""
    counts = claims["verdict"].value_counts()
    tested = int(len(claims) - counts.get("not tested", 0))
    return (f"{tested} claims tested: {counts.get('holds', 0)} hold, {counts.get('contradicted', 0)} contradicted, "
            f"{counts.get('equivalent', 0)} equivalent, {counts.get('inconclusive', 0)} inconclusive; "
            f"{counts.get('not tested', 0)} not tested")


# --------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class ClaimContext:
    """The settings every declaration reads: the preset, the store, the task order, the device and
    (None: each chapter's own, its record's seed tables) the seeds of the main tables."""

    preset: str
    results_dir: str = "results"
    task_order: str = "default"
    device: str = "cpu"
    seeds: tuple[int, ...] | None = None
    efficiency: bool = True

    def setup(self, chapter: str, seeds: bool = True, **params):
        """:func:`stella.report.chapter.setup` of ``chapter`` at these settings (``seeds``: replace the
        chapter's seeds by the context's, where it has them)."""
        params = {"task_order": self.task_order, "device": self.device, **params}
        nb = setup(chapter, self.preset, self.results_dir, **params)
        return replace(nb, seeds=list(self.seeds)) if seeds and self.seeds is not None else nb

    @classmethod
    def of(cls, nb, **kw) -> "ClaimContext":
        """The context of a notebook's :func:`notebook_setup` (its seeds become the context's)."""
        return cls(nb.preset, nb.results_dir, nb.task_order, nb.device, tuple(nb.seeds) if nb.seeds else None, **kw)


Declaration = Callable[[ClaimContext], list[Comparison]]
REGISTRY: dict[str, list[Declaration]] = {}


def register(chapter: str) -> Callable[[Declaration], Declaration]:
    """Decorator: ``fn(ctx) -> [Comparison]`` declares claims that ``chapter`` shows."""
    def deco(fn: Declaration) -> Declaration:
        fns = REGISTRY.setdefault(chapter, [])
        if fn.__qualname__ not in {f.__qualname__ for f in fns}:
            fns.append(fn)
        return fn
    return deco


def declared(chapter: str, ctx: ClaimContext) -> list[Comparison]:
    """Every comparison ``chapter``'s declarations make at ``ctx`` (in declaration order)."""
    if chapter not in REGISTRY:
        raise KeyError(f"no claims are declared for chapter {chapter!r} (declared: {', '.join(REGISTRY)})")
    return [c for fn in REGISTRY[chapter] for c in fn(ctx)]


# --------------------------------------------------------------------------- helpers for declarations
def per_seed(runs: pd.DataFrame, value: str, direction: str | None = None, metric: str = "avg",
             column: str = "method") -> pd.DataFrame:
    """seed x ``column`` of ``value`` (A or F) for ``metric`` of one direction (None: mean of both)."""
    sel = runs[runs["metric"] == metric]
    if direction is not None:
        sel = sel[sel["direction"] == direction]
    return sel.pivot_table(index="seed", columns=column, values=value, aggfunc="mean")


def versus(claim: str, chapter: str, family: str, table: pd.DataFrame, a, b, sign: int,
           paper_a: float = float("nan"), paper_b: float = float("nan"), label: Callable[[object], str] = str,
           **kw) -> Comparison:
    """``a`` against ``b``, two columns of a seed x side ``table``, with both sides' means and the
    paper's as text; the paper's difference is oriented like ours."""
    known = paper_a == paper_a and paper_b == paper_b
    return Comparison(claim, chapter, family, table[a], table[b], sign,
                      paper=f"{label(a)} {paper_a:.2f} vs {label(b)} {paper_b:.2f}" if known else
                      kw.pop("paper", "a plot only"),
                      paper_difference=sign * (paper_a - paper_b) if known else float("nan"),
                      ours_text=f"{label(a)} {table[a].mean():.2f} vs {label(b)} {table[b].mean():.2f}", **kw)


def not_tested(claim: str, chapter: str, family: str, why: str, paper: str = "", **kw) -> Comparison:
    """A claim of the paper this preset or benchmark cannot judge, with the reason."""
    return Comparison(claim, chapter, family, pd.Series(dtype=float), pd.Series(dtype=float), paper=paper,
                      status=why, **kw)


def continual(methods: Iterable[str]) -> list[str]:
    """The methods that learn continually: not joint training on all tasks at once (Multitask)."""
    return [m for m in methods if not METHODS[m].joint]


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


def retrieval_scale(class_counts: Mapping[int, int], ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Chance (random ranking) and ceiling (perfect class knowledge) of the mean R@k of a gallery."""
    size = sum(class_counts.values())
    return {"gallery": size, "chance": chance_recall(size, ks)["avg"],
            "ceiling": ceiling_recall(class_counts, ks)["avg"]}


REFERENCE_ROWS = ("chance: random ranking", "ceiling: class knowledge")


def reference_recalls(class_counts: Mapping[int, int], ks: Sequence[int] = (1, 5, 10)) -> pd.DataFrame:
    """The floor and the roof of a retrieval table: rows :data:`REFERENCE_ROWS` (chance, ceiling),
    columns ``R@k`` and ``avg`` (%), for the gallery with ``class_counts`` clips per class."""
    size = sum(class_counts.values())
    return pd.DataFrame([chance_recall(size, ks), ceiling_recall(class_counts, ks)], index=list(REFERENCE_ROWS))


def scale_note(scale: Mapping[str, float]) -> str:
    """"chance 4.17 %, ceiling 48.96 % (avg recall, gallery of 128 clips)" for a table's caption."""
    return (f"chance {scale['chance']:.2f} %, ceiling {scale['ceiling']:.2f} % (avg recall over a gallery of "
            f"{scale['gallery']} clips)")


def chance_context(means: pd.DataFrame, stds: pd.DataFrame, scale: Mapping[str, float]) -> pd.DataFrame:
    """Each method's avg-recall A per direction (mean over seeds), its seed std, and its distance
    above chance and below the ceiling (%p). ``means`` / ``stds``: :func:`af_table` frames."""
    out = pd.DataFrame(index=means.index)
    for d in DIRECTIONS:
        a = means[f"{d} A"]
        out[f"{d} A (%)"] = a
        out[f"{d} seed std (%p)"] = stds[f"{d} A"]
        out[f"{d} above chance (%p)"] = a - scale["chance"]
        out[f"{d} below ceiling (%p)"] = scale["ceiling"] - a
    return out


def context_view(context: pd.DataFrame, scale: Mapping[str, float]) -> pd.DataFrame:
    """:func:`chance_context` as the page shows it: two last rows, chance and the ceiling (their A in both directions),
    the numbers :func:`scale_sentence` quotes."""
    refs = pd.DataFrame({f"{d} A (%)": [scale["chance"], scale["ceiling"]] for d in DIRECTIONS},
                        index=["chance", "ceiling (perfect class knowledge)"])
    spread = pd.DataFrame({f"{d} seed std (%p)": [context[f"{d} seed std (%p)"].median()] for d in DIRECTIONS},
                          index=["median over the methods"])
    return pd.concat([context, spread.reindex(columns=context.columns), refs.reindex(columns=context.columns)])


def scale_sentence(context: pd.DataFrame, scale: Mapping[str, float]) -> str:
    """Chance, ceiling, the row furthest above chance and the median seed std of :func:`chance_context`."""
    above = context[[f"{d} above chance (%p)" for d in DIRECTIONS]]
    m, col = above.stack().idxmax()
    std = [context[f"{d} seed std (%p)"].median() for d in DIRECTIONS]
    return (f"With {scale['gallery']} clips in the gallery, chance avg recall is {scale['chance']:.2f} % and the "
            "ceiling "
            f"(perfect class knowledge) {scale['ceiling']:.2f} %. The best row is {label(m)} {col.split()[0]}, "
            f"{above.at[m, col]:.2f} %p above chance; "
            + (f"the median std over seeds is {' / '.join(f'{v:.2f}' for v in std)} %p ({' / '.join(DIRECTIONS)})."
               if std[0] == std[0] else "one seed, so no seed spread."))
