"""Eq. 2-4 of STELLA on hand-computed tiny tensors, plus property checks against naive loops."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from stella.selection import (correlation_scores, importance_scores, kappa, mu, past_query_set, pooled_queries)

FAST = settings(max_examples=25, deadline=None)


def test_kappa_rounds_half_up_and_clips():
    assert kappa(512, 0.5) == 256 and kappa(784, 0.5) == 392
    assert kappa(512, 0.375) == 192 and kappa(784, 0.625) == 490
    assert kappa(5, 0.5) == 3          # 2.5 rounds up, not to even
    assert kappa(10, 0.01) == 1 and kappa(7, 1.0) == 7
    with pytest.raises(ValueError):
        kappa(10, 0.0)


def test_mu_is_scaled_dot_product():
    q, k = torch.tensor([[1.0, 2.0, 0.0, 0.0]]), torch.tensor([[3.0, 1.0, 0.0, 5.0]])
    assert mu(q, k, beta=0.5).item() == pytest.approx(5.0 / (0.5 * 2.0))


def test_importance_hand_computed():
    # B=1, H=2; A_a (1, 2, N=1, M=2): head 0 logits [0, ln 3] -> [1/4, 3/4]; head 1 [0, 0] -> [1/2, 1/2]
    A_a = torch.tensor([[[[0.0, math.log(3.0)]], [[0.0, 0.0]]]])
    # A_v (1, 2, M=2, N=1): one video patch -> softmax is 1 everywhere
    A_v = torch.zeros(1, 2, 2, 1)
    I_a, I_v = importance_scores(A_a, A_v)
    assert torch.allclose(I_a, torch.tensor([[0.375, 0.625]]))
    assert torch.allclose(I_v, torch.tensor([[1.0]]))


def test_importance_averages_over_the_other_modalitys_queries():
    # two video queries on 2 audio keys: [1, 0]-like and [0, 1]-like rows average to [1/2, 1/2]
    A_a = torch.tensor([[[[20.0, -20.0], [-20.0, 20.0]]]])
    I_a, _ = importance_scores(A_a, torch.zeros(1, 1, 2, 2))
    assert torch.allclose(I_a, torch.tensor([[0.5, 0.5]]), atol=1e-6)


@FAST
@given(B=st.integers(1, 3), H=st.integers(1, 3), M=st.integers(1, 7), N=st.integers(1, 7), seed=st.integers(0, 999))
def test_importance_is_a_distribution_and_matches_a_loop(B, H, M, N, seed):
    g = torch.Generator().manual_seed(seed)
    A_a, A_v = torch.randn(B, H, N, M, generator=g) * 3, torch.randn(B, H, M, N, generator=g) * 3
    I_a, I_v = importance_scores(A_a, A_v)
    assert I_a.shape == (B, M) and I_v.shape == (B, N)
    assert torch.allclose(I_a.sum(1), torch.ones(B), atol=1e-5) and torch.allclose(I_v.sum(1), torch.ones(B), atol=1e-5)
    ref = torch.stack([sum(A_a[b, h, n].softmax(-1) for h in range(H) for n in range(N)) / (H * N) for b in range(B)])
    assert torch.allclose(I_a, ref, atol=1e-6)


def test_importance_rejects_mismatched_maps():
    with pytest.raises(ValueError):
        importance_scores(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4))


def _qk():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])[None, None]   # (1, 1, 3, 2)
    k = torch.tensor([[5.0, 5.0], [6.0, 6.0], [7.0, 7.0]])[None, None]
    return q, k


def test_pooled_queries_descending_hand_computed():
    q, k = _qk()
    I = torch.tensor([[0.2, 0.5, 0.3]])
    q_hat, k_hat, keep = pooled_queries(q, k, I, kappa=2)
    assert keep.tolist() == [[1, 2]]
    assert torch.allclose(q_hat, (0.625 * q[0, 0, 1] + 0.375 * q[0, 0, 2])[None, None])
    assert torch.equal(k_hat, k[:, :, [1, 2]])


def test_pooled_queries_literal_ascending_keeps_least_important():
    q, k = _qk()
    I = torch.tensor([[0.2, 0.5, 0.3]])
    q_hat, k_hat, keep = pooled_queries(q, k, I, kappa=2, descending=False)
    assert keep.tolist() == [[0, 2]]
    assert torch.allclose(q_hat, (0.4 * q[0, 0, 0] + 0.6 * q[0, 0, 2])[None, None])


def test_pooled_queries_zero_weights_fall_back_to_uniform_mean():
    q, k = _qk()
    q_hat, _, keep = pooled_queries(q, k, torch.zeros(1, 3), kappa=3)
    assert keep.tolist() == [[0, 1, 2]]
    assert torch.allclose(q_hat, q.mean(dim=2))


@FAST
@given(B=st.integers(1, 3), H=st.integers(1, 3), L=st.integers(1, 9), d=st.integers(1, 5), data=st.data())
def test_pooled_queries_matches_a_loop(B, H, L, d, data):
    k_ = data.draw(st.integers(1, L))
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 999)))
    q, k = torch.randn(B, H, L, d, generator=g), torch.randn(B, H, L, d, generator=g)
    I = torch.rand(B, L, generator=g).softmax(-1)
    q_hat, k_hat, keep = pooled_queries(q, k, I, k_)
    for b in range(B):
        top = sorted(range(L), key=lambda j: -I[b, j].item())[:k_]
        assert sorted(keep[b].tolist()) == sorted(top)
        w = I[b, top] / I[b, top].sum()
        assert torch.allclose(q_hat[b], (q[b][:, top] * w[None, :, None]).sum(1), atol=1e-5)
        assert torch.equal(k_hat[b], k[b][:, keep[b]])


def test_correlation_hand_computed():
    # d = 4, beta = 0.5 -> scale 1 / (0.5 * 2) = 1; H = 1, kept keys at patches 3 and 0 of L = 5
    q_cur = torch.tensor([[[1.0, 0.0, 0.0, 0.0]]])                     # (B=1, H=1, d)
    q_past = torch.tensor([[[0.0, 1.0, 0.0, 0.0]]])                    # (B, H, d), P = 1
    k_hat = torch.tensor([[[[1.0, 1.0, 0.0, 0.0], [0.0, math.log(3.0), 0.0, 0.0]]]])
    keep = torch.tensor([[3, 0]])
    C = correlation_scores(q_cur, k_hat, keep, q_past, num_patches=5, beta=0.5)
    # patch 3: logits (1, 1) -> past share 1/2; patch 0: (0, ln 3) -> 3/4; not kept -> 0
    assert torch.allclose(C, torch.tensor([[0.75, 0.0, 0.0, 0.5, 0.0]]))


def test_correlation_means_over_heads_and_stacks_several_past_queries():
    k_hat = torch.ones(1, 2, 1, 1)
    q_cur = torch.tensor([[[0.0], [0.0]]])
    q_past = torch.tensor([[[[0.0], [math.log(3.0)]], [[0.0], [math.log(3.0)]]]])   # (B=1, P=2, H=2, d=1)
    C = correlation_scores(q_cur, k_hat, torch.tensor([[0]]), q_past, 1, beta=1.0)
    # head 0: (0, 0, 0) -> 2/3; head 1: (0, ln3, ln3) -> 6/7; mean over heads
    assert C.item() == pytest.approx((2 / 3 + 6 / 7) / 2, abs=1e-6)


def test_correlation_is_zero_for_an_empty_memory():
    C = correlation_scores(torch.randn(2, 3, 4), torch.randn(2, 3, 2, 4), torch.tensor([[0, 1], [2, 3]]), None, 6, 0.4)
    assert torch.equal(C, torch.zeros(2, 6))


@FAST
@given(B=st.integers(1, 3), H=st.integers(1, 3), L=st.integers(2, 9), seed=st.integers(0, 999))
def test_correlation_half_when_past_equals_current_and_monotone(B, H, L, seed):
    g = torch.Generator().manual_seed(seed)
    d, k_ = 4, max(1, L // 2)
    k_hat, q = torch.randn(B, H, k_, d, generator=g), torch.randn(B, H, d, generator=g)
    keep = torch.stack([torch.randperm(L, generator=g)[:k_] for _ in range(B)])
    C = correlation_scores(q, k_hat, keep, q, L, beta=0.4)
    assert torch.allclose(C.gather(1, keep), torch.full((B, k_), 0.5), atol=1e-6)
    assert (C.sum(1) - C.gather(1, keep).sum(1)).abs().max() < 1e-6
    # a zero current query against one past query p: C_j = mean_h sigmoid(p . k_j / (beta sqrt d)),
    # above 1/2 exactly where the past aligns with the key, and rising as the past query grows
    past = k_hat.mean(2)
    C_hi = correlation_scores(torch.zeros_like(q), k_hat, keep, past, L, beta=0.4).gather(1, keep)
    logits = torch.einsum("bhd,bhkd->bhk", past, k_hat) / (0.4 * math.sqrt(d))
    assert torch.allclose(C_hi, torch.sigmoid(logits).mean(1), atol=1e-6)
    C_2x = correlation_scores(torch.zeros_like(q), k_hat, keep, 2 * past, L, beta=0.4).gather(1, keep)
    aligned = (logits > 1e-3).all(1)
    assert (C_2x[aligned] > C_hi[aligned]).all()


def test_current_pooled_logit_equals_importance_weighted_logits():
    # the official code's "current" entry (per-query logits averaged with importance weights) is mu(q^, k^)
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 3, 6, 4, generator=g), torch.randn(2, 3, 5, 4, generator=g)
    I = torch.rand(2, 6, generator=g)
    q_hat, _, keep = pooled_queries(q, q, I, 3)
    w = I.gather(1, keep) / I.gather(1, keep).sum(1, keepdim=True)
    per_query = mu(q.gather(2, keep[:, None, :, None].expand(2, 3, 3, 4)), k, 0.4)     # (B, H, 3, 5)
    assert torch.allclose((per_query * w[:, None, :, None]).sum(2), mu(q_hat[:, :, None], k, 0.4)[:, :, 0], atol=1e-5)


def test_past_query_set_paired_cycles_and_mean_averages():
    rep = torch.arange(2 * 1 * 2, dtype=torch.float32).reshape(2, 1, 2)
    paired = past_query_set(rep, 3, "paired")
    assert paired.shape == (3, 1, 1, 2)
    assert torch.equal(paired[:, 0], rep[[0, 1, 0]])
    mean = past_query_set(rep, 3, "mean")
    assert mean.shape == (3, 1, 1, 2) and torch.equal(mean[2, 0], rep.mean(0))
    assert past_query_set(None, 3) is None and past_query_set(torch.zeros(0, 1, 2), 3) is None
    with pytest.raises(ValueError):
        past_query_set(rep, 3, "sum")
