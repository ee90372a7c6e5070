"""The paired statistics behind every verdict of the book (pure functions of per-seed values).

:func:`paired_stats` (mean, two-sided Student-t interval, p-value, the 90 % interval of an
equivalence test and the difference detectable with 80 % power), :func:`one_sided_p`,
:func:`holm` (Holm's step-down correction), :func:`paired_verdict` (one uncorrected comparison) and
:func:`efficiency` (a ratio of two paired gains with its bootstrap interval over seeds) and
:func:`seeds_to_detect` (the seeds a difference needs at a given spread).
The claims registry (:mod:`stella.report.claims`) and any chapter that judges a measurement use
these; this module imports nothing of the package.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats

LEVEL = 0.95
POWER = 0.80


def paired_stats(d: Sequence[float], level: float = LEVEL) -> dict[str, float | int]:
    """Mean of the per-seed differences ``d``, its two-sided ``level`` t-interval, the two-sided p of
    "mean = 0", the 90 % interval (for equivalence) and ``detectable`` (80 % power). Fewer than two
    values: NaN interval and p. Zero spread: a point interval, p = 0 (or 1 when every d is 0)."""
    d = np.asarray(d, float)
    d = d[~np.isnan(d)]
    n = len(d)
    mean = float(d.mean()) if n else float("nan")
    out = {"difference": mean, "n_seeds": n, "ci_low": float("nan"), "ci_high": float("nan"), "p": float("nan"),
           "ci90_low": float("nan"), "ci90_high": float("nan"), "detectable": float("nan"), "se": float("nan")}
    if n < 2:
        return out
    se = float(d.std(ddof=1) / math.sqrt(n))
    t, t90 = stats.t.ppf(0.5 + level / 2, n - 1), stats.t.ppf(0.95, n - 1)
    out.update(se=se, ci_low=mean - t * se, ci_high=mean + t * se, ci90_low=mean - t90 * se, ci90_high=mean + t90 * se,
               detectable=float((t + stats.t.ppf(POWER, n - 1)) * se),
               p=float(2 * stats.t.sf(abs(mean) / se, n - 1)) if se > 0 else (0.0 if mean != 0 else 1.0))
    return out


def one_sided_p(mean: float, se: float, n: int, bound: float) -> float:
    """p of H0: true mean <= ``bound`` against "mean > bound" (paired t with n−1 degrees of freedom)."""
    if n < 2 or mean != mean:
        return float("nan")
    if se == 0:
        return 0.0 if mean > bound else 1.0
    return float(stats.t.sf((mean - bound) / se, n - 1))


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN entries are left out of the family and stay NaN)."""
    p = np.asarray(pvalues, float)
    out = np.full(len(p), np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = len(idx)
    order = idx[np.argsort(p[idx], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def paired_verdict(ours: Sequence[float], other: Sequence[float], sign: int = 1,
                   level: float = LEVEL) -> dict[str, float | int | str]:
    """One uncorrected paired comparison (a family of one): ``difference`` (mean of ours − other, not
    oriented), ``ci_low``, ``ci_high``, ``n_seeds`` and the verdict for "the difference has sign
    ``sign``" (holds / contradicted / inconclusive; fewer than two pairs: not tested)."""
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign}")
    s = paired_stats(np.asarray(ours, float) - np.asarray(other, float), level)
    side = 0 if s["n_seeds"] < 2 else 1 if s["ci_low"] > 0 else -1 if s["ci_high"] < 0 else 0
    verdict = ("not tested" if s["n_seeds"] < 2 else "inconclusive" if side == 0 else
               "holds" if side == sign else "contradicted")
    return {"difference": s["difference"], "ci_low": s["ci_low"], "ci_high": s["ci_high"], "n_seeds": s["n_seeds"],
            "verdict": verdict}


def efficiency(x: Sequence[float], random: Sequence[float], oracle: Sequence[float], resamples: int = 2000,
               seed: int = 0, level: float = LEVEL) -> dict[str, float | int]:
    """Selection efficiency E = mean_s(x_s − random_s) / mean_s(oracle_s − random_s) over the seeds s that all three
    sides have (the share of the oracle's gain over random selection that ``x`` captures; 0: random, 1: the oracle),
    with a percentile bootstrap interval over seeds (``resamples`` draws of the seeds with replacement, numerator and
    denominator from the same draw, a generator seeded by ``seed``). Also ``gain`` (the denominator), ``n_seeds``. A
    draw whose oracle gain is 0 gives no ratio and is left out; when the gain's own interval reaches 0 the ratio's
    interval is wide or unbounded, as it should be. Fewer than two seeds: NaN interval."""
    v = np.column_stack([np.asarray(a, float) for a in (x, random, oracle)])
    v = v[~np.isnan(v).any(1)]
    n = len(v)
    num, den = v[:, 0] - v[:, 1], v[:, 2] - v[:, 1]
    out = {"E": float(num.mean() / den.mean()) if n and den.mean() != 0 else float("nan"), "ci_low": float("nan"),
           "ci_high": float("nan"), "gain": float(den.mean()) if n else float("nan"), "n_seeds": n}
    if n < 2:
        return out
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    d = den[idx].mean(1)
    ratios = num[idx].mean(1)[d != 0] / d[d != 0]
    if len(ratios):
        out["ci_low"], out["ci_high"] = (float(np.percentile(ratios, q)) for q in (50 - 50 * level, 50 + 50 * level))
    return out


def seeds_to_detect(sd: float, effect: float, max_n: int = 100, level: float = LEVEL) -> int | None:
    """The fewest seeds n >= 2 whose paired test detects a true difference ``effect`` with 80 % power at a seed
    spread ``sd`` of the differences: (t(level, n−1) + t(0.80, n−1)) · sd / √n <= |effect| (``detectable`` of
    :func:`paired_stats`). None when more than ``max_n`` would be needed, or ``effect`` is 0 or NaN."""
    if not effect == effect or effect == 0 or not sd == sd:
        return None
    for n in range(2, max_n + 1):
        if (stats.t.ppf(0.5 + level / 2, n - 1) + stats.t.ppf(POWER, n - 1)) * sd / math.sqrt(n) <= abs(effect):
            return n
    return None
