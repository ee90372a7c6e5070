"""AVM module (section 4.1, appendix D): Eq. 1 cross-attention, Eq. 10-11 logit, loss, isolation."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stella.config import load_config
from stella.models import AVM, build_model, derangement

B, M, N, D, H = 3, 5, 7, 16, 4


pytestmark = pytest.mark.usefixtures("one_thread")


def _tokens(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, M, D, generator=g), torch.randn(B, N, D, generator=g)


def _avm(seed: int = 0) -> AVM:
    torch.manual_seed(seed)
    return AVM(D, H)


def _heads(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], x.shape[1], H, D // H).permute(0, 2, 1, 3)


def _manual(avm: AVM, o_a, o_v, beta):
    ln_a = F.layer_norm(o_a, (D,), avm.norm_a.weight, avm.norm_a.bias, 1e-6)
    ln_v = F.layer_norm(o_v, (D,), avm.norm_v.weight, avm.norm_v.bias, 1e-6)
    q_a, k_a, v_a = (_heads(ln_a @ lin.weight.t()) for lin in (avm.q_a, avm.k_a, avm.v_a))
    q_v, k_v, v_v = (_heads(ln_v @ lin.weight.t()) for lin in (avm.q_v, avm.k_v, avm.v_v))
    d = D // H
    A_a = torch.einsum("bhnd,bhmd->bhnm", q_v, k_a) / (beta * math.sqrt(d))
    A_v = torch.einsum("bhmd,bhnd->bhmn", q_a, k_v) / (beta * math.sqrt(d))
    # Eq. 10 at beta = 1, heads merged, Eq. 11 mean-pool + concat + pooler + head
    V_a = torch.einsum("bhnm,bhmd->bhnd", (A_a * beta).softmax(-1), v_a)
    V_v = torch.einsum("bhmn,bhnd->bhmd", (A_v * beta).softmax(-1), v_v)
    pooled = torch.cat([V_a.permute(0, 2, 1, 3).reshape(B, N, D).mean(1),
                        V_v.permute(0, 2, 1, 3).reshape(B, M, D).mean(1)], dim=-1)
    logit = avm.head(torch.tanh(avm.pooler[0](pooled))).squeeze(-1)
    return q_a, k_v, A_a, A_v, logit


def test_shapes_and_eq1_against_einsum():
    avm = _avm()
    o_a, o_v = _tokens()
    out = avm(o_a, o_v, beta=0.4)
    d = D // H
    for t in (out.q_a, out.k_a, out.v_a):
        assert t.shape == (B, H, M, d)
    for t in (out.q_v, out.k_v, out.v_v):
        assert t.shape == (B, H, N, d)
    assert out.A_a.shape == (B, H, N, M) and out.A_v.shape == (B, H, M, N) and out.logit.shape == (B,)
    q_a, k_v, A_a, A_v, logit = _manual(avm, o_a, o_v, 0.4)
    assert torch.allclose(out.q_a, q_a, atol=1e-5) and torch.allclose(out.k_v, k_v, atol=1e-5)
    assert torch.allclose(out.A_a, A_a, atol=1e-5) and torch.allclose(out.A_v, A_v, atol=1e-5)
    assert torch.allclose(out.logit, logit, atol=1e-5)
    # the matching logit always uses beta = 1; the maps scale with 1 / beta
    out1 = avm(o_a, o_v, beta=1.0)
    assert torch.allclose(out1.logit, out.logit, atol=1e-6)
    assert torch.allclose(out1.A_a * (1 / 0.4), out.A_a, atol=1e-5)


def test_parameter_layout():
    avm = _avm()
    for lin in (avm.q_a, avm.k_a, avm.v_a, avm.q_v, avm.k_v, avm.v_v):
        assert lin.bias is None and lin.weight.shape == (D, D)
    assert avm.pooler[0].weight.shape == (2 * D, 2 * D) and avm.head.weight.shape == (1, 2 * D)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(2, 64), seed=st.integers(0, 999))
def test_derangement_has_no_fixed_point(n, seed):
    perm = derangement(n, torch.Generator().manual_seed(seed))
    assert sorted(perm.tolist()) == list(range(n))
    assert (perm != torch.arange(n)).all()


def test_pair_batch_half_negatives():
    avm = _avm()
    o_a = torch.arange(6.0).reshape(6, 1, 1).expand(6, M, D)
    paired, y = avm.pair_batch(o_a, torch.Generator().manual_seed(3))
    assert int((y == 0).sum()) == 3
    own = paired[:, 0, 0] == torch.arange(6.0)
    assert torch.equal(own, y.bool())                # positives keep their audio, negatives get another
    with pytest.raises(ValueError):
        avm.pair_batch(o_a[:1], torch.Generator())


def test_loss_trains_only_the_avm():
    cfg = load_config("smoke")
    model, avm = build_model(cfg)
    g = torch.Generator().manual_seed(0)
    audio = torch.randn(4, cfg.data.audio_frames, cfg.data.mel_bins, generator=g)
    T, gh, gw = cfg.video_grid
    video = torch.randn(4, T, 3, gh * cfg.model.patch_size, gw * cfg.model.patch_size, generator=g)
    o_a, o_v = model.fusion_tokens(audio, video)                # built WITH grad
    assert o_a.requires_grad
    loss, acc = avm.loss(o_a, o_v, torch.Generator().manual_seed(1))
    loss.backward()
    assert 0.0 <= acc.item() <= 1.0 and torch.isfinite(loss)
    assert all(p.grad is None for p in model.parameters())
    assert all(p.grad is not None for p in avm.parameters())
    assert avm.q_v.weight.grad.abs().sum() > 0 and avm.k_a.weight.grad.abs().sum() > 0


def test_avm_learns_to_match():
    """Each clip carries a random sign vector z shared by its audio and video tokens: after 400 Adam
    steps (lr 5e-3, batch 16) the AVM separates matched from re-paired clips (BCE ~0.69 -> < 0.4)."""
    torch.manual_seed(0)
    avm = AVM(D, H)
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(avm.parameters(), lr=5e-3)
    lg = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(400):
        z = torch.randn(16, 1, D, generator=g).sign()
        o_v = z + 0.3 * torch.randn(16, N, D, generator=g)
        o_a = z + 0.3 * torch.randn(16, M, D, generator=g)
        loss, acc = avm.loss(o_a, o_v, lg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    assert first > 0.6 and last < 0.4, (first, last)


def test_importance_sums_to_one():
    from stella.selection import importance_scores

    avm = _avm()
    o_a, o_v = _tokens()
    out = avm(o_a, o_v, beta=0.4)
    I_a, I_v = importance_scores(out.A_a, out.A_v)
    assert I_a.shape == (B, M) and I_v.shape == (B, N)
    assert torch.allclose(I_a.sum(1), torch.ones(B), atol=1e-5)
    assert torch.allclose(I_v, out.A_v.softmax(-1).mean(dim=(1, 2)), atol=1e-6)
