"""A released CAV-MAE checkpoint as this package's backbone: every key of the released layout (ViT-B,
``module.`` prefixed, on the meta device: nothing downloaded, no memory), and at a small size the
converted weights compute what CAV-MAE's computes (patch embedding, positions, reconstruction targets)."""
import pytest
import torch
import torch.nn.functional as F

from stella.config import load_config
from stella.models import build_model
from stella.models.convert_cavmae import (check_fits, convert_checkpoint, convert_state, model_overrides, read_cavmae,
                                          strip_prefix)

BLOCK = {"norm1": "n", "norm1_a": "n", "norm1_v": "n", "norm2": "n", "norm2_a": "n", "norm2_v": "n",
         "attn.qkv": "qkv", "attn.proj": "proj", "mlp.fc1": "fc1", "mlp.fc2": "fc2"}


def _block(prefix: str, dim: int, mlp: int) -> dict[str, tuple]:
    out = {}
    for name, kind in BLOCK.items():
        w = {"n": (dim,), "qkv": (3 * dim, dim), "proj": (dim, dim), "fc1": (mlp, dim), "fc2": (dim, mlp)}[kind]
        b = {"n": (dim,), "qkv": (3 * dim,), "proj": (dim,), "fc1": (mlp,), "fc2": (dim,)}[kind]
        out[f"{prefix}.{name}.weight"], out[f"{prefix}.{name}.bias"] = w, b
    return out


def cavmae_shapes(dim=768, dec=512, p=16, mel=128, frames=1024, image=224, depth=11, shared=1, dec_depth=8,
                  mlp_ratio=4) -> dict[str, tuple]:
    """Key names and shapes of a pre-trained CAV-MAE checkpoint (``CAVMAE`` of src/models/cav_mae.py, saved
    through DataParallel); the defaults are the released models' (11 modality-specific layers, 1 shared)."""
    na, nv = (mel // p) * (frames // p), (image // p) ** 2
    s = {"modality_a": (1, 1, dim), "modality_v": (1, 1, dim), "pos_embed_a": (1, na, dim), "pos_embed_v": (1, nv, dim),
         "patch_embed_a.proj.weight": (dim, 1, p, p), "patch_embed_a.proj.bias": (dim,),
         "patch_embed_v.proj.weight": (dim, 3, p, p), "patch_embed_v.proj.bias": (dim,),
         "norm_a.weight": (dim,), "norm_a.bias": (dim,), "norm_v.weight": (dim,), "norm_v.bias": (dim,),
         "norm.weight": (dim,), "norm.bias": (dim,), "decoder_embed.weight": (dec, dim), "decoder_embed.bias": (dec,),
         "mask_token": (1, 1, dec), "decoder_modality_a": (1, 1, dec), "decoder_modality_v": (1, 1, dec),
         "decoder_pos_embed_a": (1, na, dec), "decoder_pos_embed_v": (1, nv, dec),
         "decoder_norm.weight": (dec,), "decoder_norm.bias": (dec,),
         "decoder_pred_a.weight": (p * p, dec), "decoder_pred_a.bias": (p * p,),
         "decoder_pred_v.weight": (3 * p * p, dec), "decoder_pred_v.bias": (3 * p * p,)}
    for group, n, d in (("blocks_a", depth, dim), ("blocks_v", depth, dim), ("blocks_u", shared, dim),
                        ("decoder_blocks", dec_depth, dec)):
        for i in range(n):
            s.update(_block(f"{group}.{i}", d, mlp_ratio * d))
    return {f"module.{k}": v for k, v in s.items()}


def cavmae_state(seed: int = 0, device: str = "cpu", **geometry) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.empty(shape, device="meta") if device == "meta" else torch.randn(shape, generator=g))
            for k, shape in cavmae_shapes(**geometry).items()}


def test_the_released_layout_converts_to_the_paper_geometry_with_cavmae_depths():
    state = strip_prefix(cavmae_state(device="meta"))
    model = model_overrides(state)
    assert model == {"embed_dim": 768, "patch_size": 16, "modality_depth": 11, "fusion_depth": 1, "decoder_dim": 512,
                     "decoder_depth": 8, "mlp_ratio": 4.0}
    cfg = load_config("paper", [f"model.{k}={v}" for k, v in model.items()])
    converted = convert_state(state, cfg)
    check_fits(converted, cfg)
    assert converted["pos_embed_a"].shape == (512, 768) and converted["pos_embed_v"].shape == (784, 768)
    assert converted["decoder_pred_v.weight"].shape == (768, 512)
    with pytest.raises(ValueError, match=r"converted checkpoint (lacks blocks_f\.1|has an extra blocks_a\.10).*10 \+ 2"):
        check_fits(convert_state(state, load_config("paper")), load_config("paper"))   # the paper preset's 10 + 2


SMALL = dict(dim=16, dec=8, p=4, mel=8, frames=16, image=8, depth=1, shared=1, dec_depth=1, mlp_ratio=2)
SETS = ["model.size=micro", "model.patch_size=4", "model.embed_dim=16", "model.num_heads=2", "model.modality_depth=1",
        "model.fusion_depth=1", "model.decoder_dim=8", "model.decoder_depth=1", "model.decoder_heads=2",
        "model.mlp_ratio=2", "data.mel_bins=8", "data.audio_frames=16", "data.image_size=8", "data.num_frames=2"]


@pytest.fixture(scope="module")
def small():
    cfg = load_config("smoke", SETS)
    state = cavmae_state(seed=1, **SMALL)
    model, _ = build_model(cfg)
    model.load_state_dict(convert_checkpoint(strip_prefix(state), cfg)["model"])
    return cfg, strip_prefix(state), model.eval()


def test_audio_and_video_tokens_are_cavmaes(small):
    """CAV-MAE embeds audio (B, t, f) as a mel x time image, patches mel-major; we time-major: same tokens."""
    cfg, s, model = small
    g = torch.Generator().manual_seed(2)
    audio = torch.randn(2, 16, 8, generator=g)
    video = torch.randn(2, 2, 3, 8, 8, generator=g)
    ref = F.conv2d(audio.unsqueeze(1).transpose(2, 3), s["patch_embed_a.proj.weight"], s["patch_embed_a.proj.bias"],
                   stride=4).flatten(2).transpose(1, 2) + s["pos_embed_a"] + s["modality_a"]     # (B, F*T, D)
    T, Fq = cfg.audio_grid
    pos = torch.arange(T * Fq).expand(2, -1)
    ours = model._tokens(model.patchify_audio(audio), pos, model.patch_embed_a, model.pos_embed_a, model.modality_a)
    assert torch.allclose(ours.reshape(2, T, Fq, -1), ref.reshape(2, Fq, T, -1).transpose(1, 2), atol=1e-5)
    n = cfg.num_video_patches
    ours_v = model._tokens(model.patchify_video(video), torch.arange(n).expand(2, -1), model.patch_embed_v,
                           model.pos_embed_v, model.modality_v).reshape(2, 2, n // 2, -1)
    for k in range(2):                                   # every frame is CAV-MAE's one image
        ref_v = F.conv2d(video[:, k], s["patch_embed_v.proj.weight"], s["patch_embed_v.proj.bias"],
                         stride=4).flatten(2).transpose(1, 2) + s["pos_embed_v"] + s["modality_v"]
        assert torch.allclose(ours_v[:, k], ref_v, atol=1e-5)


def _cavmae_patchify(img: torch.Tensor, p: int) -> torch.Tensor:
    """CAV-MAE's targets: (N, c, H, W) -> (N, h*w, p*p*c), each patch ordered (row, column, channel)."""
    N, c, H, W = img.shape
    x = img.reshape(N, c, H // p, p, W // p, p).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(N, (H // p) * (W // p), p * p * c)


def test_reconstruction_heads_predict_the_same_patch_values(small):
    """For one decoder state, CAV-MAE's head against its target and ours against ours: the same error per patch,
    so the head's outputs are reordered as the patch vectors are."""
    cfg, s, model = small
    g = torch.Generator().manual_seed(3)
    audio, frame = torch.randn(1, 16, 8, generator=g), torch.randn(1, 3, 8, 8, generator=g)
    h = torch.randn(8, generator=g)
    T, Fq = cfg.audio_grid
    ref_t = _cavmae_patchify(audio.unsqueeze(1).transpose(2, 3), 4)[0]                  # (F*T, p*p) mel-major
    ref_err = ((s["decoder_pred_a.weight"] @ h + s["decoder_pred_a.bias"]) - ref_t).pow(2).sum(-1)
    ours_t = model.patchify_audio(audio)[0]                                             # (T*F, p*p) time-major
    ours_err = ((model.decoder_pred_a(h)) - ours_t).pow(2).sum(-1)
    assert torch.allclose(ours_err.reshape(T, Fq), ref_err.reshape(Fq, T).T, rtol=1e-5)
    ref_v = ((s["decoder_pred_v.weight"] @ h + s["decoder_pred_v.bias"]) - _cavmae_patchify(frame, 4)[0]).pow(2).sum(-1)
    ours_v = (model.decoder_pred_v(h) - model.patchify_video(frame.unsqueeze(1).expand(1, 2, 3, 8, 8))[0]).pow(2).sum(-1)
    assert torch.allclose(ours_v[:4], ref_v, rtol=1e-5)


def test_blocks_copy_the_joint_norms_and_the_avm_is_initialised(small):
    cfg, s, model = small
    assert torch.equal(model.blocks_f[0].norm1.weight, s["blocks_u.0.norm1.weight"])
    assert not torch.equal(model.blocks_f[0].norm1.weight, s["blocks_u.0.norm1_a.weight"])
    assert torch.equal(model.blocks_a[0].attn.qkv.weight, s["blocks_a.0.attn.qkv.weight"])
    assert torch.equal(model.mask_token_a, s["mask_token"]) and torch.equal(model.mask_token_v, s["mask_token"])
    avm = convert_checkpoint(s, cfg)["avm"]
    assert torch.equal(avm["q_a.weight"], build_model(cfg)[1].state_dict()["q_a.weight"])   # build_model's init


def test_bad_checkpoints_are_named(tmp_path):
    state = cavmae_state(**SMALL)
    ft = {k: v for k, v in state.items() if "decoder" not in k and "mask_token" not in k}
    ft["module.mlp_head.1.weight"] = torch.zeros(3, 16)
    torch.save(ft, tmp_path / "ft.pth")
    with pytest.raises(ValueError, match=r"ft\.pth: a fine-tuned CAV-MAE checkpoint"):
        read_cavmae(tmp_path / "ft.pth")
    del state["module.blocks_u.0.mlp.fc2.bias"]
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(ValueError, match=r"cut\.pth: lacks blocks_u\.0\.mlp\.fc2\.bias"):
        read_cavmae(tmp_path / "cut.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"text\.pth: not a readable checkpoint"):
        read_cavmae(tmp_path / "text.pth")
    with pytest.raises(FileNotFoundError, match="nope.pth: does not exist"):
        read_cavmae(tmp_path / "nope.pth")
    with pytest.raises(ValueError, match=r"pos_embed_a: shape \(1, 8, 16\) in the checkpoint.*\(1, 16, C\)"):
        convert_state(strip_prefix(cavmae_state(**SMALL)), load_config("smoke", [*SETS, "data.audio_frames=32"]))
