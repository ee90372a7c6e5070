"""Selection efficiency E (stella.report.stats.efficiency): the share of the oracle's gain over random selection."""
from __future__ import annotations

import numpy as np
import pytest

from stella.report.stats import efficiency


def test_e_is_one_at_the_oracle_zero_at_random_and_half_way_in_between():
    rng = np.random.default_rng(0)
    r = 10 + rng.normal(0, 1, 6)
    o = r + 8 + rng.normal(0, 1, 6)
    assert efficiency(o, r, o)["E"] == pytest.approx(1.0) and efficiency(r, r, o)["E"] == pytest.approx(0.0)
    half = efficiency(r + 0.5 * (o - r), r, o)
    assert half["E"] == pytest.approx(0.5) and half["ci_low"] == pytest.approx(0.5) and half["ci_high"] == pytest.approx(0.5)
    assert half["n_seeds"] == 6 and half["gain"] == pytest.approx(float(np.mean(o - r)))


def test_the_interval_covers_the_estimate_widens_with_noise_and_is_reproducible():
    rng = np.random.default_rng(1)
    r = rng.normal(10, 1, 8)
    o = r + 6 + rng.normal(0, 1, 8)
    quiet, noisy = (efficiency(r + 3 + rng.normal(0, s, 8), r, o, seed=3) for s in (0.2, 3.0))
    assert quiet["ci_low"] <= quiet["E"] <= quiet["ci_high"]
    assert noisy["ci_high"] - noisy["ci_low"] > quiet["ci_high"] - quiet["ci_low"]
    x = r + 3 + rng.normal(0, 1, 8)
    assert efficiency(x, r, o, seed=5) == efficiency(x, r, o, seed=5)


def test_seeds_missing_on_a_side_are_dropped_and_one_seed_has_no_interval():
    e = efficiency([1.0, np.nan, 3.0], [0.0, 0.0, 1.0], [2.0, 2.0, 5.0])
    assert e["n_seeds"] == 2 and e["E"] == pytest.approx((1 + 2) / (2 + 4))
    one = efficiency([1.0], [0.0], [2.0])
    assert one["E"] == 0.5 and np.isnan(one["ci_low"]) and np.isnan(one["ci_high"])
    assert np.isnan(efficiency([1.0, 2.0], [1.0, 1.0], [1.0, 1.0])["E"])      # no gain: no ratio


def test_seeds_to_detect_inverts_the_detectable_difference():
    from stella.report.stats import paired_stats, seeds_to_detect

    rng = np.random.default_rng(4)
    for sd, effect in ((1.0, 2.0), (5.7, 4.9), (1.3, 1.5)):
        n = seeds_to_detect(sd, effect)
        d = rng.normal(0, 1, n)
        d = (d - d.mean()) / d.std(ddof=1) * sd                     # exactly this spread
        assert paired_stats(d)["detectable"] <= effect + 1e-9
        if n > 2:
            d = rng.normal(0, 1, n - 1)
            d = (d - d.mean()) / d.std(ddof=1) * sd
            assert paired_stats(d)["detectable"] > effect
    assert seeds_to_detect(10.0, 0.1) is None and seeds_to_detect(1.0, float("nan")) is None
    assert seeds_to_detect(1.0, -2.0) == seeds_to_detect(1.0, 2.0)
