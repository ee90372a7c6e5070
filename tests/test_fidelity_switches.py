"""The code-vs-paper fidelity switches of cfg.selection: both readings of each, against hand-written references."""
import math
from types import SimpleNamespace

import pytest
import torch

from stella.config import load_config
from stella.models import build_model
from stella.selection import chunked_rank, importance_scores, mu, select, select_audio, select_topk
from stella.selection.budget import visible_of_kept


def _avm_out(B=3, H=2, M=8, N=16, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    q_a, k_a = torch.randn(B, H, M, d, generator=g), torch.randn(B, H, M, d, generator=g)
    q_v, k_v = torch.randn(B, H, N, d, generator=g), torch.randn(B, H, N, d, generator=g)
    return SimpleNamespace(q_a=q_a, k_a=k_a, q_v=q_v, k_v=k_v, A_a=mu(q_v, k_a, 0.4), A_v=mu(q_a, k_v, 0.4))


def _cfg(*sets):
    # smoke geometry: audio grid (4, 2) -> M = 8, video (2, 2, 2) -> N = 8; override N via a 4-frame clip
    return load_config("smoke", ["data.num_frames=4", "selection.beta=0.4", *sets])


def test_eq4_temperature_beta_vs_sqrt_d():
    out = _avm_out()
    I_a, I_v = importance_scores(out.A_a, out.A_v)
    past = torch.randn(5, 2, 4, generator=torch.Generator().manual_seed(1))
    C = {}
    for reading in ("beta", "sqrt_d"):
        cfg = _cfg(f"selection.corr_temperature={reading}", "continual.method=stella")
        C[reading] = select(cfg, out, I_a, I_v, past, past, torch.Generator().manual_seed(0)).C_v
    # reference for video patches: q^_a pooled over the kappa most important audio patches
    ka, kv = 4, 8
    keep_a = torch.argsort(I_a, dim=1, descending=True, stable=True)[:, :ka]
    w = I_a.gather(1, keep_a) / I_a.gather(1, keep_a).sum(1, keepdim=True)
    q_hat_a = (out.q_a.gather(2, keep_a[:, None, :, None].expand(-1, 2, -1, 4)) * w[:, None, :, None]).sum(2)
    keep_v = torch.argsort(I_v, dim=1, descending=True, stable=True)[:, :kv]
    for reading, scale in (("beta", 1 / (0.4 * 2.0)), ("sqrt_d", 1 / 2.0)):
        for b in range(3):
            for j in keep_v[b].tolist():
                k = out.k_v[b, :, j]                                             # (H, d)
                gap = ((past[b] - q_hat_a[b]) * k).sum(-1) * scale               # past minus current logit, per head
                assert float(C[reading][b, j]) == pytest.approx(float(torch.sigmoid(gap).mean()), abs=1e-5)
    assert not torch.allclose(C["beta"], C["sqrt_d"])


def test_masking_of_the_full_length_vs_the_selected_set():
    for reading, expect in (("selected", (1, 1)), ("full", (2, 2))):
        cfg = load_config("smoke", [f"selection.mask_of={reading}", "continual.method=stella"])
        na, nv = visible_of_kept(cfg, 4, 4)                                      # what SelectingMethod.train_on passes
        model, _ = build_model(cfg)
        M, N = cfg.num_audio_patches, cfg.num_video_patches                       # 8, 8 -> kappa 4, 4
        pos_a, pos_v = torch.arange(4)[None].expand(2, 4), torch.arange(4)[None].expand(2, 4)
        xa, xv = torch.randn(2, 4, 64), torch.randn(2, 4, 3 * 64)
        o = model.forward_patches(xa, xv, pos_a, pos_v, torch.Generator().manual_seed(0), na, nv)
        visible = (4 - int(o.mask_a[0].sum()), 4 - int(o.mask_v[0].sum()))
        assert visible == expect, reading   # full: round(0.2 * 8) = 2 of 8; selected: round(0.2 * 4) = 1 of 4
        assert (M, N) == (8, 8)


def _neighbour_reference(F, order, kappa, L_c, side):
    """The authors' Algorithm 1 for one sample: chunks in draw order, the overflowing chunk trimmed at its
    head when the following chunk (in time) was already taken, at its tail when only the preceding one
    was, else at ``side[chunk]`` ("head"/"tail"). F (nt, nf) bool. Returns the kept patch set."""
    nt, nf = F.shape
    taken, kept = set(), []
    for c in order:
        rows = range(c * L_c, min(nt, (c + 1) * L_c))
        free = [r * nf + f for r in rows for f in range(nf) if not F[r, f]]
        if len(kept) + len(free) > kappa:
            need = kappa - len(kept)
            if c + 1 in taken:
                trim = "head"
            elif c - 1 in taken:
                trim = "tail"
            else:
                trim = side[c]
            kept += free[len(free) - need:] if trim == "head" else free[:need]
            break
        kept += free
        taken.add(c)
    return set(kept)


@pytest.mark.parametrize("seed", range(40))
def test_chunk_trim_neighbour_matches_the_authors_rule(seed):
    g = torch.Generator().manual_seed(seed)
    nt, nf, L_c = 8, 2, 2
    F = torch.rand(1, nt * nf, generator=g) < 0.2
    order = torch.randperm(nt // L_c, generator=g)[None]
    kappa = int(torch.randint(1, int((~F).sum()) + 1, (), generator=g))
    g1, g2 = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    ours = chunked_rank(F, order, (nt, nf), L_c, "time", "neighbour", g1)[0, :kappa]
    coin = torch.rand(1, nt // L_c, generator=g2)[0] < 0.5
    side = ["head" if bool(x) else "tail" for x in coin]
    assert set(ours.tolist()) == _neighbour_reference(F[0].reshape(nt, nf), order[0].tolist(), kappa, L_c, side)


def test_chunk_trim_readings_differ_where_the_next_chunk_was_taken():
    F = torch.zeros(1, 8, dtype=torch.bool)                    # nt 4, nf 2, L_c 2: chunks {0-3}, {4-7}
    order = torch.tensor([[1, 0]])                            # chunk 1 (later in time) drawn first
    tail = chunked_rank(F, order, (4, 2), 2)[0, :5].sort().values.tolist()
    head = chunked_rank(F, order, (4, 2), 2, "time", "neighbour", torch.Generator())[0, :5].sort().values.tolist()
    assert tail == [0, 4, 5, 6, 7] and head == [3, 4, 5, 6, 7]
    idx = select_audio(torch.ones(1, 8), torch.zeros(1, 8), (4, 2), 5, 2, torch.Generator().manual_seed(0),
                       "time", "neighbour")
    assert idx.shape == (1, 5) and len(set(idx[0].tolist())) == 5


def test_empty_memory_topk_vs_sampled():
    out = _avm_out(B=4, N=16, seed=3)
    I_a, I_v = importance_scores(out.A_a, out.A_v)
    top = select(_cfg("selection.empty_memory=topk", "continual.method=stella"), out, I_a, I_v, None, None,
                 torch.Generator().manual_seed(0))
    assert torch.equal(top.idx_v, select_topk(I_v, 8)) and torch.equal(top.idx_a, select_topk(I_a, 4))
    assert torch.equal(top.idx_v, torch.argsort(I_v, 1, descending=True)[:, :8].sort(1).values)
    sampled = [select(_cfg("selection.empty_memory=sample", "continual.method=stella"), out, I_a, I_v, None, None,
                      torch.Generator().manual_seed(s)).idx_v for s in range(6)]
    assert any(not torch.equal(s, top.idx_v) for s in sampled)
    past = torch.randn(2, 2, 4)
    with_memory = select(_cfg("selection.empty_memory=topk", "continual.method=stella"), out, I_a, I_v, past, past,
                         torch.Generator().manual_seed(0))
    again = select(_cfg("selection.empty_memory=sample", "continual.method=stella"), out, I_a, I_v, past, past,
                   torch.Generator().manual_seed(0))
    assert torch.equal(with_memory.idx_v, again.idx_v)          # the switch acts only while the memory is empty


def test_paper_presets_follow_the_authors_where_the_paper_is_silent():
    for preset in ("paper", "paper-as"):
        sc = load_config(preset).selection
        assert (sc.mask_of, sc.empty_memory, sc.corr_temperature, sc.chunk_trim) == ("full", "topk", "beta", "tail")
    assert math.isclose(load_config("cpu").selection.beta, 0.4)
