"""Backbone f(.; theta) (appendix C): shapes, masking, subsets, losses (Eq. 8-9), checkpoints, costs."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stella.config import load_config
from stella.eval.efficiency import measure_step, module_bytes, optimizer_bytes, tensor_bytes
from stella.models import build_model, describe
from stella.models.losses import infonce_per_sample, normalize_patches, reconstruction_loss_per_sample
from stella.models.masking import default_num_visible, random_masking


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(cfg, B: int, seed: int = 1):
    g = _gen(seed)
    T, gh, gw = cfg.video_grid
    p = cfg.model.patch_size
    return (torch.randn(B, cfg.data.audio_frames, cfg.data.mel_bins, generator=g),
            torch.randn(B, T, 3, gh * p, gw * p, generator=g))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def smoke():
    cfg = load_config("smoke")
    model, avm = build_model(cfg)
    return cfg, model, avm


@pytest.mark.parametrize("preset,overrides,B", [
    ("smoke", [], 3),
    ("cpu", [], 2),
    ("paper", ["data.dataset=synthetic"], 1),     # base at the paper's full geometry, 512 + 784 patches
])
def test_shapes(preset, overrides, B):
    cfg = load_config(preset, overrides)
    model, _ = build_model(cfg)
    audio, video = _batch(cfg, B)
    M, N, p, D = cfg.num_audio_patches, cfg.num_video_patches, cfg.model.patch_size, cfg.model.embed_dim
    with torch.no_grad():
        out = model(audio, video, generator=_gen())
    assert out.pred_a.shape == (B, M, p * p) and out.pred_v.shape == (B, N, 3 * p * p)
    assert out.mask_a.shape == (B, M) and out.mask_v.shape == (B, N) and out.mask_a.dtype == torch.bool
    assert out.c_a.shape == (B, D) and out.c_v.shape == (B, D)
    for t in (out.rec_a_per_sample, out.rec_v_per_sample, out.contrastive_per_sample):
        assert t.shape == (B,)
    assert int(out.mask_a[0].sum()) == M - default_num_visible(M, cfg.model.mask_ratio)
    assert torch.isfinite(out.loss)
    if preset == "paper":
        assert (M, N) == (512, 784)
        return
    z_a, z_v = model.embed(audio, video)
    assert torch.allclose(z_a.norm(dim=-1), torch.ones(B), atol=1e-5) and z_v.shape == (B, D)
    o_a, o_v = model.fusion_tokens(audio, video)
    u_a, u_v = model.unimodal_tokens(audio, video)
    assert o_a.shape == u_a.shape == (B, M, D) and o_v.shape == u_v.shape == (B, N, D)


def test_patchify_layout(smoke):
    cfg, model, _ = smoke
    audio, video = _batch(cfg, 2)
    p, (_, gf), (_, gh, gw) = cfg.model.patch_size, cfg.audio_grid, cfg.video_grid
    xa, xv = model.patchify_audio(audio), model.patchify_video(video)
    # audio patch j = (time token j // gf, mel token j % gf); video patch = (frame, row, col), (c, y, x)
    j = gf + 1
    assert torch.equal(xa[1, j], audio[1, p:2 * p, p:2 * p].reshape(-1))
    j = (1 * gh + 1) * gw + 0
    assert torch.equal(xv[0, j], video[0, 1, :, p:2 * p, 0:p].reshape(-1))
    with pytest.raises(ValueError, match="audio must be"):
        model.patchify_audio(audio[:, :-1])


def test_describe_counts():
    d = describe(load_config("paper", ["data.dataset=synthetic"]))
    assert d["backbone_params"] == sum(d["backbone_parts"].values())
    assert abs(d["avm_percent_of_backbone"] - 3.18) < 0.1          # paper, appendix D
    assert 700 < d["backbone_mb"] < 712                              # paper: 707.8 MB
    tiny = describe(load_config("cpu"))
    model, avm = build_model(load_config("cpu"))
    assert tiny["backbone_params"] == sum(p.numel() for p in model.parameters())
    assert tiny["avm_params"] == sum(p.numel() for p in avm.parameters())


@settings(max_examples=200, deadline=None)
@given(kappa=st.integers(1, 2000), ratio=st.floats(0.0, 0.999), B=st.integers(1, 3), seed=st.integers(0, 99))
def test_masking_never_drops_all(kappa, ratio, B, seed):
    nv = default_num_visible(kappa, ratio)
    assert 1 <= nv <= max(1, kappa - 1)
    keep, restore, mask = random_masking(torch.rand(B, kappa, generator=_gen(seed)), nv)
    assert keep.shape == (B, nv)
    assert (mask.sum(1) == kappa - nv).all() and (~mask).sum(1).min() >= 1
    if kappa >= 2:
        assert mask.sum(1).min() >= 1
    assert torch.equal(torch.gather(mask, 1, keep), torch.zeros(B, nv, dtype=torch.bool))


@pytest.mark.parametrize("ka,kv", [(1, 1), (2, 3)])
def test_tiny_subsets_run(smoke, ka, kv):
    cfg, model, _ = smoke
    audio, video = _batch(cfg, 2)
    idx_a = torch.arange(ka).expand(2, ka)
    idx_v = torch.arange(kv).flip(0).expand(2, kv)
    out = model(audio, video, idx_a, idx_v, generator=_gen())
    assert out.pred_a.shape[1] == ka and out.pred_v.shape[1] == kv and torch.isfinite(out.loss)


def test_full_subset_equals_full_input(smoke):
    cfg, model, _ = smoke
    audio, video = _batch(cfg, 3)
    idx_a = torch.arange(cfg.num_audio_patches).expand(3, -1)
    idx_v = torch.arange(cfg.num_video_patches).expand(3, -1)
    a = model(audio, video, generator=_gen(5))
    b = model(audio, video, idx_a, idx_v, generator=_gen(5))
    for k in ("loss", "pred_a", "pred_v", "mask_a", "mask_v", "c_a", "c_v"):
        assert torch.equal(getattr(a, k), getattr(b, k)), k


def test_permuted_subset_same_loss_with_fixed_masks(smoke):
    cfg, model, _ = smoke
    B = 3
    audio, video = _batch(cfg, B)
    xa, xv = model.patchify_audio(audio), model.patchify_video(video)
    g = _gen(7)
    idx_a = torch.rand(B, cfg.num_audio_patches, generator=g).argsort(1)[:, :5].sort(1).values
    idx_v = torch.rand(B, cfg.num_video_patches, generator=g).argsort(1)[:, :6].sort(1).values
    na, nv = torch.rand(B, 5, generator=g), torch.rand(B, 6, generator=g)
    pa, pv = torch.rand(B, 5, generator=g).argsort(1), torch.rand(B, 6, generator=g).argsort(1)
    gat = lambda x, i: torch.gather(x, 1, i.unsqueeze(-1).expand(-1, -1, x.shape[-1]))  # noqa: E731
    ref = model.forward_patches(gat(xa, idx_a), gat(xv, idx_v), idx_a, idx_v, noise_a=na, noise_v=nv)
    ia, iv = torch.gather(idx_a, 1, pa), torch.gather(idx_v, 1, pv)
    per = model.forward_patches(gat(xa, ia), gat(xv, iv), ia, iv,
                                noise_a=torch.gather(na, 1, pa), noise_v=torch.gather(nv, 1, pv))
    assert torch.allclose(ref.loss, per.loss, atol=1e-5)
    assert torch.allclose(gat(ref.pred_a, pa), per.pred_a, atol=1e-5)
    assert torch.equal(torch.gather(ref.mask_v, 1, pv), per.mask_v)
    # a different order of the same patches with UNpermuted positions changes the result
    wrong = model.forward_patches(gat(xa, ia), gat(xv, iv), idx_a, idx_v, noise_a=na, noise_v=nv)
    assert not torch.allclose(ref.loss, wrong.loss, atol=1e-4)


def test_selection_shrinks_encoder_and_decoder(smoke):
    cfg, model, _ = smoke
    audio, video = _batch(cfg, 2)
    seen = {}
    def record(name):
        def hook(module, inputs, output):
            seen.setdefault(name, tuple(inputs[0].shape))   # audio decoder runs first
        return hook
    hooks = [model.blocks_a[0].register_forward_hook(record("enc_a")),
             model.decoder_blocks[0].register_forward_hook(record("dec"))]
    idx_a = torch.tensor([[0, 3, 5, 6], [1, 2, 4, 7]])
    idx_v = torch.tensor([[0, 1, 2], [5, 6, 7]])
    model(audio, video, idx_a, idx_v, generator=_gen(), num_visible_a=2)
    for h in hooks:
        h.remove()
    assert seen["enc_a"][:2] == (2, 2) and seen["dec"][:2] == (2, 4)


def test_num_visible_override(smoke):
    cfg, model, _ = smoke
    audio, video = _batch(cfg, 2)
    out = model(audio, video, generator=_gen(), num_visible_a=3, num_visible_v=cfg.num_video_patches)
    assert (out.mask_a.sum(1) == cfg.num_audio_patches - 3).all() and not out.mask_v.any()
    assert out.rec_v.item() == 0.0
    with pytest.raises(ValueError, match="num_visible"):
        model(audio, video, generator=_gen(), num_visible_a=0)


def test_reconstruction_normalised_by_masked_count():
    pred = torch.zeros(2, 4, 2)
    target = torch.tensor([[[1., 1.], [2., 2.], [3., 3.], [4., 4.]]]).repeat(2, 1, 1)
    mask = torch.tensor([[True, False, True, False], [False, False, False, True]])
    got = reconstruction_loss_per_sample(pred, target, mask, norm_pix=False)
    assert torch.allclose(got, torch.tensor([(1 + 9) / 2, 16 / 1]))
    t = torch.tensor([[[1., 3.]]])
    assert torch.allclose(normalize_patches(t), torch.tensor([[[-1., 1.]]]) / math.sqrt(2 + 1e-6), atol=1e-6)


def test_model_reconstruction_matches_manual(smoke):
    cfg, model, _ = smoke
    audio, video = _batch(cfg, 2)
    out = model(audio, video, generator=_gen(3))
    xa = normalize_patches(model.patchify_audio(audio))
    err = ((out.pred_a - xa) ** 2).mean(-1)
    manual = (err * out.mask_a).sum(1) / out.mask_a.sum(1)
    assert torch.allclose(out.rec_a_per_sample, manual, atol=1e-6)
    expect = out.rec_a + out.rec_v + cfg.model.contrast_weight * out.contrastive
    assert torch.allclose(out.loss, expect)


def test_infonce_hand_computed():
    c_a = torch.tensor([[2.0, 0.0], [0.0, 3.0]])           # normalises to e1, e2
    c_v = torch.tensor([[1.0, 0.0], [1.0, 1.0]])           # normalises to e1, (e1 + e2)/sqrt 2
    s = 1 / math.sqrt(2)
    a2v = [-math.log(math.e / (math.e + math.exp(s))), -math.log(math.exp(s) / (1 + math.exp(s)))]
    v2a = [-math.log(math.e / (math.e + 1)), math.log(2)]
    got = infonce_per_sample(c_a, c_v, tau=1.0)
    assert torch.allclose(got, 0.5 * torch.tensor([a2v[0] + v2a[0], a2v[1] + v2a[1]]), atol=1e-6)
    assert infonce_per_sample(c_a, c_v, tau=0.05)[0] < got[0]


def test_tiny_overfits_eight_clips():
    """150 Adam steps (lr 1e-3) on 8 fixed random clips, masks fixed by reseeding: the tiny model
    memorises them; l^r_a, l^r_v and l^c each fall at least x2 from their first value."""
    torch.manual_seed(0)
    cfg = load_config("smoke", ["model.size=tiny"])
    model, _ = build_model(cfg)
    audio, video = _batch(cfg, 8, seed=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = None
    for _ in range(150):
        out = model(audio, video, generator=_gen(0))
        if first is None:
            first = (out.rec_a.item(), out.rec_v.item(), out.contrastive.item())
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    with torch.no_grad():
        out = model(audio, video, generator=_gen(0))
    last = (out.rec_a.item(), out.rec_v.item(), out.contrastive.item())
    assert all(l < f / 2 for f, l in zip(first, last)), (first, last)


def test_efficiency_helpers(smoke):
    cfg, model, _ = smoke
    assert tensor_bytes(torch.zeros(3, 4)) == 48
    assert module_bytes(torch.nn.Linear(3, 2)) == (6 + 2) * 4
    lin = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(lin.parameters())
    assert optimizer_bytes(opt) == 0
    lin(torch.randn(1, 3)).sum().backward()
    opt.step()
    assert optimizer_bytes(opt) == 2 * 8 * 4 + 2 * 4          # exp_avg, exp_avg_sq + 2 scalar steps
    audio, video = _batch(cfg, 4)
    half_a = torch.arange(0, cfg.num_audio_patches, 2).expand(4, -1)
    half_v = torch.arange(0, cfg.num_video_patches, 2).expand(4, -1)
    full = measure_step(lambda: model(audio, video, generator=_gen()).loss.backward(), model.parameters())
    half = measure_step(lambda: model(audio, video, half_a, half_v, generator=_gen()).loss.backward(),
                        model.parameters())
    model.zero_grad(set_to_none=True)
    assert 0 < half["saved_bytes"] < full["saved_bytes"]
    assert full["param_bytes"] == module_bytes(model, buffers=False) and full["time_s"] >= 0


def test_measure_step_reports_the_largest_of_sequential_graphs():
    """MIR / GMED run a virtual forward/backward before the training one: the peak is one graph, not the sum."""
    w = torch.nn.Parameter(torch.ones(256))

    def cycle(n: int) -> None:
        (torch.randn(n, 256) * w).exp().sum().backward()         # exp saves its (n, 256) float32 output

    one = measure_step(lambda: cycle(100), [w])
    two = measure_step(lambda: (cycle(10), cycle(100), cycle(30)), [w])
    assert one["saved_cycles"] == 1 and two["saved_cycles"] == 3
    assert two["saved_bytes"] == one["saved_bytes"] >= 100 * 256 * 4
    assert one["saved_bytes"] < 100 * 256 * 4 * 3


def test_positional_embedding_modes():
    cfg = load_config("smoke")
    learned, _ = build_model(cfg)
    fixed, _ = build_model(cfg.with_overrides(["model.pos_embed=sincos"]))
    T, gh, gw = cfg.video_grid
    assert isinstance(learned.pos_embed_v, torch.nn.Parameter) and learned.pos_embed_v.shape == (T * gh * gw, 32)
    assert "pos_embed_v" not in dict(fixed.named_parameters()) and "pos_embed_v" not in fixed.state_dict()
    per_frame = gh * gw
    # learned: every frame starts from the same spatial table (authors' code); fixed: + temporal term
    assert torch.equal(learned.pos_embed_v[:per_frame], learned.pos_embed_v[per_frame:2 * per_frame])
    assert not torch.allclose(fixed.pos_embed_v[:per_frame], fixed.pos_embed_v[per_frame:2 * per_frame])
    assert torch.equal(learned.pos_embed_a.detach(), fixed.pos_embed_a)
    assert len(set(map(tuple, fixed.pos_embed_a.tolist()))) == cfg.num_audio_patches   # all distinct
    audio, video = _batch(cfg, 2)
    assert torch.isfinite(fixed(audio, video, generator=_gen()).loss)


def test_positional_gather_backward_is_deterministic_with_threads():
    """Learned positions gathered for selected patches: table[pos]'s backward (index_put accumulate) adds
    with atomics across threads, so two runs of one config differed in the last bits; F.embedding does not."""
    cfg = load_config("smoke")
    model, _ = build_model(cfg)
    n = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        g = torch.Generator().manual_seed(0)
        N = cfg.num_video_patches
        pos = torch.randint(0, N, (256, 64), generator=g)            # duplicates across and within rows
        x = torch.randn(256, 64, 3 * cfg.model.patch_size ** 2, generator=g)
        up = torch.randn(256, 64, cfg.model.embed_dim, generator=g)
        grads = set()
        for _ in range(10):
            model.zero_grad(set_to_none=True)
            (model._tokens(x, pos, model.patch_embed_v, model.pos_embed_v, model.modality_v) * up).sum().backward()
            grads.add(model.pos_embed_v.grad.numpy().tobytes())
        assert len(grads) == 1
    finally:
        torch.set_num_threads(n)


def test_load_checkpoint_checks_layout_and_shapes(tmp_path):
    from stella.models import load_checkpoint

    smoke = load_config("smoke")
    model, avm = build_model(smoke)
    torch.save({"model": model.state_dict(), "avm": avm.state_dict()}, tmp_path / "a.pt")
    m2, a2 = build_model(smoke)
    load_checkpoint(tmp_path / "a.pt", m2, a2)
    assert all(torch.equal(p, q) for p, q in zip(model.state_dict().values(), m2.state_dict().values()))
    wider = load_config("smoke", ["model.embed_dim=48", "model.decoder_dim=48"])
    m3, a3 = build_model(wider)
    with pytest.raises(ValueError, match=r"a\.pt: model\.\S+ has shape .* in the file but .* in the model"):
        load_checkpoint(tmp_path / "a.pt", m3, a3)
    torch.save({"model": {}, "avm": avm.state_dict()}, tmp_path / "b.pt")
    with pytest.raises(ValueError, match=r"b\.pt: model weights lack model\."):
        load_checkpoint(tmp_path / "b.pt", m2, a2)
    (tmp_path / "c.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=r"c\.pt: not a readable weights file"):
        load_checkpoint(tmp_path / "c.pt", m2, a2)
    with pytest.raises(FileNotFoundError, match="d.pt does not exist"):
        load_checkpoint(tmp_path / "d.pt", m2, a2)
