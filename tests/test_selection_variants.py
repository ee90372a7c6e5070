"""Table 3 / Fig. 9b ablation variants and the trainer-facing `select` / `select_from_scores`."""
import types

import pytest
import torch
from hypothesis import given, settings, strategies as st

from stella.config import ConfigError, load_config
from stella.selection import (STRATEGIES, TRUTH_STRATEGIES, ablate_scores, budgets, energy_scores, importance_scores, mats_selection,
                              motion_scores, mu, random_selection, select, select_from_scores)

FAST = settings(max_examples=20, deadline=None)


def _cfg(**sel):
    return load_config("smoke", overrides=[f"selection.{k}={v}" for k, v in sel.items()])


def _avm(cfg, B=3, H=2, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    M, N = cfg.num_audio_patches, cfg.num_video_patches
    q_a, k_a = torch.randn(B, H, M, d, generator=g), torch.randn(B, H, M, d, generator=g)
    q_v, k_v = torch.randn(B, H, N, d, generator=g), torch.randn(B, H, N, d, generator=g)
    beta = cfg.selection.beta
    return types.SimpleNamespace(q_a=q_a, k_a=k_a, q_v=q_v, k_v=k_v, A_a=mu(q_v, k_a, beta), A_v=mu(q_a, k_v, beta))


@FAST
@given(B=st.integers(1, 4), L=st.integers(1, 30), data=st.data())
def test_random_selection_is_kappa_distinct_sorted(B, L, data):
    kappa = data.draw(st.integers(1, L))
    seed = data.draw(st.integers(0, 999))
    idx = random_selection(B, L, kappa, torch.Generator().manual_seed(seed))
    assert idx.shape == (B, kappa)
    for row in idx.tolist():
        assert row == sorted(set(row)) and row[0] >= 0 and row[-1] < L
    assert torch.equal(idx, random_selection(B, L, kappa, torch.Generator().manual_seed(seed)))


def test_random_selection_is_uniform():
    idx = random_selection(20_000, 4, 1, torch.Generator().manual_seed(0))
    assert torch.allclose(torch.bincount(idx[:, 0], minlength=4).float() / 20_000, torch.full((4,), 0.25), atol=0.015)


def test_motion_scores_hand_computed():
    # T = 3 frames, one patch per frame (h = w = 1), P = 2 pixels
    v = torch.tensor([[[0.0, 0.0], [1.0, 3.0], [1.0, 5.0]]])
    assert torch.allclose(motion_scores(v, (3, 1, 1)), torch.tensor([[2.0, 2.0, 1.0]]))
    assert torch.equal(motion_scores(torch.randn(2, 4, 3), (1, 2, 2)), torch.zeros(2, 4))
    with pytest.raises(ValueError):
        motion_scores(v, (2, 1, 1))


def test_energy_scores_hand_computed():
    assert torch.allclose(energy_scores(torch.tensor([[[1.0, -3.0], [0.0, 2.0]]])), torch.tensor([[5.0, 2.0]]))


def test_mats_never_picks_static_patches_while_moving_ones_remain():
    scores = torch.tensor([[0.0, 3.0, 0.0, 1.0, 2.0, 0.0]]).expand(50, 6)
    idx = mats_selection(scores, 3, torch.Generator().manual_seed(0))
    assert (idx == torch.tensor([1, 3, 4])).all()
    idx = mats_selection(scores, 2, torch.Generator().manual_seed(0))
    assert not (idx == idx[0]).all()          # stochastic, not a fixed top-k


def test_ablate_scores():
    I, C = torch.rand(2, 5), torch.rand(2, 5)
    assert ablate_scores("stella", I, C) == (I, C)
    assert torch.equal(ablate_scores("lpis", I, C)[1], torch.zeros(2, 5))
    I_r, C_r = ablate_scores("rca", I, C)
    assert torch.allclose(I_r, torch.full((2, 5), 0.2)) and torch.equal(C_r, C)
    with pytest.raises(ValueError):
        ablate_scores("mats", I, C)


@pytest.mark.parametrize("strategy", [s for s in STRATEGIES if s not in TRUTH_STRATEGIES])   # oracle: test_controls
def test_select_shapes_for_every_strategy(strategy):
    cfg = _cfg()
    M, N = cfg.num_audio_patches, cfg.num_video_patches
    ka, kv = budgets(cfg, M, N, strategy=strategy)
    avm = _avm(cfg)
    past = torch.randn(5, 2, 4)
    s = select(cfg, avm, None, None, past, past, torch.Generator().manual_seed(0),
               torch.randn(3, M, 64), torch.randn(3, N, 192), strategy=strategy)
    assert s.idx_a.shape == (3, ka) and s.idx_v.shape == (3, kv)
    assert s.I_a.shape == s.C_a.shape == (3, M) and s.I_v.shape == s.C_v.shape == (3, N)
    assert torch.allclose(s.I_a.sum(1), torch.ones(3)) and torch.allclose(s.I_v.sum(1), torch.ones(3))
    assert (s.q_hat_a is not None) == (strategy in ("stella", "lpis", "rca"))
    if strategy == "none":
        assert torch.equal(s.idx_a, torch.arange(M).expand(3, M))
    if strategy in ("lpis", "none", "random", "mats"):
        assert not s.C_a.any() and not s.C_v.any()
    if strategy in ("stella", "rca"):
        assert s.C_a.gt(0).sum(1).eq(ka).all() and s.C_v.gt(0).sum(1).eq(kv).all()
    if strategy == "rca":
        assert torch.allclose(s.I_v, torch.full((3, N), 1.0 / N))
    if strategy in ("none", "random"):
        assert select(cfg, None, None, None, None, None, torch.Generator(), torch.randn(3, M, 1),
                      strategy=strategy).idx_a.shape[0] == 3


def test_select_matches_the_equations_step_by_step():
    cfg = _cfg()
    avm = _avm(cfg)
    I_a, I_v = importance_scores(avm.A_a, avm.A_v)
    s = select(cfg, avm, None, None, None, None, torch.Generator().manual_seed(0))
    assert torch.equal(s.I_a, I_a) and torch.equal(s.I_v, I_v)
    assert not s.C_a.any() and not s.C_v.any()                      # empty memory
    assert torch.equal(s.q_hat_a, select(cfg, avm, I_a, I_v, torch.zeros(0, 2, 4), None, torch.Generator()).q_hat_a)


def test_past_queries_cross_modalities():
    cfg = _cfg()
    avm = _avm(cfg)
    g = torch.Generator().manual_seed(1)
    pa, pv = torch.randn(3, 2, 4, generator=g), torch.randn(3, 2, 4, generator=g)
    s1 = select(cfg, avm, None, None, pa, pv, torch.Generator())
    s2 = select(cfg, avm, None, None, pa, pv * 3 + 1, torch.Generator())
    assert torch.equal(s1.C_v, s2.C_v) and not torch.equal(s1.C_a, s2.C_a)   # C_v depends on q^p_a only
    s3 = select(cfg.with_overrides(["selection.past_queries=mean"]), avm, None, None, pa, pv, torch.Generator())
    assert not torch.equal(s1.C_v, s3.C_v)


def test_select_from_scores_reuses_stored_scores_deterministically():
    cfg = _cfg()
    s = select(cfg, _avm(cfg), None, None, torch.randn(4, 2, 4), torch.randn(4, 2, 4), torch.Generator())
    r1 = select_from_scores(cfg, s.I_a, s.I_v, s.C_a, s.C_v, torch.Generator().manual_seed(9))
    r2 = select_from_scores(cfg, s.I_a, s.I_v, s.C_a, s.C_v, torch.Generator().manual_seed(9))
    assert torch.equal(r1.idx_a, r2.idx_a) and torch.equal(r1.idx_v, r2.idx_v) and r1.q_hat_a is None
    ones = torch.ones_like(s.C_v)
    excl = select_from_scores(cfg, s.I_a, s.I_v, s.C_a, ones.clone().index_fill_(1, torch.arange(0, ones.shape[1], 2), 0),
                              torch.Generator())
    assert (excl.idx_v % 2 == 0).all()                              # only the non-excluded (even) patches


def test_select_errors():
    cfg = _cfg()
    with pytest.raises(ValueError, match="patches"):
        select(cfg, None, None, None, None, None, torch.Generator(), strategy="mats")
    with pytest.raises(ValueError, match="AVM"):
        select(cfg, None, None, None, None, None, torch.Generator(), strategy="stella")
    with pytest.raises(ValueError, match="audio_grid"):
        select_from_scores(_cfg(), torch.rand(2, 7), torch.rand(2, 8), torch.zeros(2, 7), torch.zeros(2, 8), None)
    with pytest.raises(ValueError, match="unknown strategy 'greedy'"):
        select(cfg, None, None, None, None, None, torch.Generator(), strategy="greedy")
    with pytest.raises(ConfigError, match="selection.strategy: unknown key"):
        _cfg(strategy="lpis")                                       # the method's class decides it
    with pytest.raises(ConfigError):
        _cfg(audio_mode="diagonal")


@pytest.mark.parametrize("mode", ["time", "frequency", "none"])
def test_audio_modes_run_through_select(mode):
    cfg = _cfg(audio_mode=mode, rho_a=0.25)
    s = select(cfg, _avm(cfg), None, None, None, None, torch.Generator().manual_seed(0))
    assert s.idx_a.shape[1] == budgets(cfg, cfg.num_audio_patches, cfg.num_video_patches)[0]
