"""Eq. 5 (video), Algorithm 1 (audio) and Eq. 6: properties, fallbacks, and a literal Algorithm 1."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

from stella.selection import (chunk_importance, chunked_rank, exclusion_mask, gather, multinomial_order, rank_audio,
                              rank_video, select_audio, select_video)

FAST = settings(max_examples=30, deadline=None)


def algorithm1_reference(F, t_select, kappa, L_c):
    """Appendix H, Algorithm 1, one sample, as a loop; the garbled prune_tail_idx line is read as
    "the position from the end where the count of non-excluded patches reaches the overflow".
    F (nt, nf) bool, t_select: chunk ids in draw order. Returns the set of patches left with F False."""
    F = F.clone()
    nf = F.shape[1]
    num_tokens = 0
    for j, t in enumerate(t_select):
        rows = slice(t * L_c, (t + 1) * L_c)
        num_tokens += F[rows].numel() - int(F[rows].sum())
        if num_tokens > kappa:
            F_last = F[rows].reshape(-1).clone()
            F_last_accum = torch.cumsum(torch.flip(~F_last, [0]).long(), 0)
            prune_tail_idx = int((F_last_accum == num_tokens - kappa).nonzero()[0])
            F_last[F_last.numel() - 1 - prune_tail_idx:] = True
            F[rows] = F_last.reshape(-1, nf)
            for t_prune in t_select[j + 1:]:
                F[t_prune * L_c:(t_prune + 1) * L_c] = True
            break
    return set((~F).reshape(-1).nonzero().flatten().tolist())


def naive_select_video(I, C, kappa, generator):
    """Per-sample loop with torch.multinomial (benchmark baseline); same law as select_video."""
    out = []
    for b in range(I.shape[0]):
        F = torch.rand(I.shape[1], generator=generator) < C[b]
        w = torch.where(F, torch.zeros_like(I[b]), I[b])
        n = int((w > 0).sum())
        first = torch.multinomial(w, min(n, kappa), replacement=False, generator=generator) if n else w.new_zeros(0).long()
        rest = [j for j in torch.argsort(I[b], descending=True).tolist() if j not in set(first.tolist())]
        out.append(torch.cat([first, torch.tensor(rest[:kappa - len(first)], dtype=torch.long)]).sort().values)
    return torch.stack(out)


def naive_select_audio(I, C, grid, kappa, L_c, generator):
    """Per-sample loop: Algorithm 1 literally (benchmark baseline)."""
    nt, nf = grid
    out = []
    for b in range(I.shape[0]):
        F = (torch.rand(I.shape[1], generator=generator) < C[b]).reshape(nt, nf)
        I_t = I[b].reshape(nt, nf).sum(1)
        I_c = torch.stack([I_t[s:s + L_c].mean() for s in range(0, nt, L_c)])
        t_select = torch.multinomial(I_c, len(I_c), replacement=False, generator=generator).tolist()
        kept = sorted(algorithm1_reference(F, t_select, kappa, L_c))
        out.append(torch.tensor(kept[:kappa]))
    return out


@FAST
@given(nt=st.integers(1, 9), nf=st.integers(1, 4), L_c=st.integers(1, 5), data=st.data())
def test_vectorised_algorithm1_equals_the_literal_loop(nt, nf, L_c, data):
    M = nt * nf
    kappa = data.draw(st.integers(1, M))
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 10_000)))
    p = data.draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))
    F = torch.rand(1, M, generator=g) < p
    nc = -(-nt // L_c)
    order = torch.randperm(nc, generator=g)[None]
    ours = chunked_rank(F, order, (nt, nf), L_c)[0]
    ref = algorithm1_reference(F[0].reshape(nt, nf), order[0].tolist(), kappa, L_c)
    n_free = int((~F).sum())
    if n_free >= kappa:
        assert set(ours[:kappa].tolist()) == ref and len(ref) == kappa
    else:   # fewer free patches than kappa: all of them, then excluded ones in chunk order
        assert ref == set(ours[:n_free].tolist())
        rank = torch.argsort(order[0])
        ex = [j for j in range(M) if F[0, j]]
        ex.sort(key=lambda j: (int(rank[(j // nf) // L_c]), j))
        assert ours[n_free:kappa].tolist() == ex[:kappa - n_free]


@FAST
@given(nt=st.integers(1, 10), nf=st.integers(1, 4), L_c=st.integers(1, 4), data=st.data())
def test_audio_selects_whole_time_chunks_except_a_prefix_of_the_last(nt, nf, L_c, data):
    M = nt * nf
    kappa = data.draw(st.integers(1, M))
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 10_000)))
    I = torch.rand(2, M, generator=g)
    for C in (torch.zeros(2, M), torch.ones(2, M)):      # nothing excluded / everything excluded
        idx = select_audio(I, C, (nt, nf), kappa, L_c, g)
        assert idx.shape == (2, kappa)
        for row in idx.tolist():
            assert row == sorted(set(row)) and 0 <= row[0] and row[-1] < M
            chunks = {}
            for j in row:
                chunks.setdefault((j // nf) // L_c, []).append(j)
            partial = [c for c, js in chunks.items() if len(js) != nf * min(L_c, nt - c * L_c)]
            assert len(partial) <= 1
            for c in partial:
                start = c * L_c * nf
                assert chunks[c] == list(range(start, start + len(chunks[c])))   # time-major prefix


def test_audio_frequency_mode_selects_frequency_bands():
    nt, nf, L_c = 6, 4, 2
    g = torch.Generator().manual_seed(3)
    idx = select_audio(torch.rand(3, nt * nf, generator=g), torch.zeros(3, nt * nf), (nt, nf), 12, L_c, g, "frequency")
    for row in idx.tolist():
        bands = {j % nf for j in row}
        assert len(bands) == 2 and all(sum(1 for j in row if j % nf == f) == nt for f in bands)
        assert {f // L_c for f in bands} == {next(iter(bands)) // L_c}


def test_audio_mode_none_is_the_video_sampler():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    I, F = torch.rand(2, 24), torch.rand(2, 24) < 0.3
    assert torch.equal(rank_audio(I, F, (6, 4), 2, g1, "none"), rank_video(I, F, g2))
    with pytest.raises(ValueError):
        rank_audio(I, F, (6, 4), 2, g1, "diagonal")


def test_chunk_importance_sums_frequency_and_averages_a_partial_last_chunk():
    I = torch.arange(10, dtype=torch.float32)[None]           # (nt=5, nf=2): time sums 1, 5, 9, 13, 17
    assert torch.allclose(chunk_importance(I, (5, 2), 2), torch.tensor([[3.0, 11.0, 17.0]]))
    assert torch.allclose(chunk_importance(I, (5, 2), 2, "frequency"), torch.tensor([[22.5]]))   # (20 + 25) / 2


def test_audio_kappa_equal_to_M_keeps_everything_and_larger_raises():
    g = torch.Generator().manual_seed(0)
    I = torch.rand(2, 12, generator=g)
    assert torch.equal(select_audio(I, torch.rand(2, 12), (4, 3), 12, 3, g), torch.arange(12).expand(2, 12))
    with pytest.raises(ValueError):
        select_audio(I, torch.zeros(2, 12), (4, 3), 13, 3, g)
    with pytest.raises(ValueError):
        select_video(I, torch.zeros(2, 12), 0, g)


def test_audio_prefers_non_excluded_patches_then_excluded_in_chunk_order():
    # 4 chunks of 1 time token x 2 freq; everything excluded except 3 patches; kappa 5
    I = torch.tensor([[0.4, 0.4, 0.1, 0.1, 0.0, 0.0, 0.0, 0.0]])
    C = torch.ones(1, 8)
    C[0, [3, 5, 7]] = 0.0
    g = torch.Generator().manual_seed(0)
    idx = select_audio(I, C, (4, 2), 5, 1, g)[0].tolist()
    assert {3, 5, 7} <= set(idx) and len(set(idx)) == 5


@FAST
@given(B=st.integers(1, 4), L=st.integers(1, 16), data=st.data())
def test_video_exact_kappa_distinct_and_respects_exclusions(B, L, data):
    kappa = data.draw(st.integers(1, L))
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 10_000)))
    I = torch.rand(B, L, generator=g) * (torch.rand(B, L, generator=g) > 0.2)
    C = (torch.rand(B, L, generator=g) < 0.4).float()        # C in {0, 1}: F = C deterministically
    idx = select_video(I, C, kappa, g)
    assert idx.shape == (B, kappa)
    for b in range(B):
        row = idx[b].tolist()
        assert row == sorted(set(row)) and 0 <= row[0] and row[-1] < L
        free = [j for j in range(L) if C[b, j] == 0]
        free_pos = [j for j in free if I[b, j] > 0]
        if len(free_pos) >= kappa:
            assert set(row) <= set(free_pos)
        elif len(free) >= kappa:
            assert set(free_pos) <= set(row) <= set(free)
        else:   # fallback: all free ones, then excluded by decreasing importance
            assert set(free) <= set(row)
            ex = sorted((j for j in range(L) if C[b, j] == 1 and I[b, j] > 0), key=lambda j: (-I[b, j].item(), j))
            assert set(ex[:kappa - len(free)]) <= set(row)


def test_video_all_excluded_falls_back_to_top_importance():
    I = torch.tensor([[0.1, 0.5, 0.05, 0.3, 0.05]])
    idx = select_video(I, torch.ones(1, 5), 2, torch.Generator().manual_seed(0))
    assert idx.tolist() == [[1, 3]]


def test_same_seed_same_indices_and_the_generator_advances():
    I, C = torch.rand(4, 64), torch.rand(4, 64) * 0.5
    a = select_video(I, C, 20, torch.Generator().manual_seed(7))
    b = select_video(I, C, 20, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    g = torch.Generator().manual_seed(7)
    first, second = select_audio(I, C, (16, 4), 20, 2, g), select_audio(I, C, (16, 4), 20, 2, g)
    assert torch.equal(first, select_audio(I, C, (16, 4), 20, 2, torch.Generator().manual_seed(7)))
    assert not torch.equal(first, second)


def test_first_draw_is_proportional_to_masked_importance():
    n = 20_000
    I = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.0]).expand(n, 5)
    F = torch.tensor([False, True, False, False, False]).expand(n, 5)
    first = rank_video(I, F, torch.Generator().manual_seed(0))[:, 0]
    freq = torch.bincount(first, minlength=5).float() / n
    assert torch.allclose(freq, torch.tensor([0.125, 0.0, 0.375, 0.5, 0.0]), atol=0.015)   # > 4 sigma


def test_second_draw_follows_sampling_without_replacement():
    n, w = 30_000, torch.tensor([0.2, 0.3, 0.5])
    order = multinomial_order(w.expand(n, 3), torch.Generator().manual_seed(1))[:, :2]
    for i in range(3):
        for j in range(3):
            if i != j:
                expected = (w[i] * w[j] / (1 - w[i])).item()
                got = ((order[:, 0] == i) & (order[:, 1] == j)).float().mean().item()
                assert abs(got - expected) < 0.015


def test_bernoulli_exclusion_rate_matches_C():
    C = torch.full((1, 50_000), 0.3)
    F = exclusion_mask(C, torch.Generator().manual_seed(0))
    assert abs(F.float().mean().item() - 0.3) < 0.01
    assert not exclusion_mask(torch.zeros(2, 9), None).any() and exclusion_mask(torch.ones(2, 9), None).all()


def test_gather_is_eq6_indexing():
    x = torch.randn(3, 10, 4)
    idx = torch.tensor([[0, 3, 9], [1, 2, 5], [7, 8, 9]])
    assert torch.equal(gather(x, idx), torch.stack([x[i, idx[i]] for i in range(3)]))
    assert torch.equal(gather(x[..., 0], idx), torch.stack([x[i, idx[i], 0] for i in range(3)]))


def test_naive_baselines_agree_on_deterministic_cases():
    I = torch.rand(3, 24)
    assert torch.equal(naive_select_video(I, torch.ones(3, 24), 5, torch.Generator()),
                       select_video(I, torch.ones(3, 24), 5, torch.Generator()))
    for row in naive_select_audio(I, torch.zeros(3, 24), (6, 4), 8, 2, torch.Generator().manual_seed(0)):
        assert len(row) == 8 and len({j // 8 for j in row.tolist()}) == 1     # one whole chunk of 2x4
