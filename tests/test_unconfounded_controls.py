"""The controls without confounds (issue 30, item 1): Random takes audio in Algorithm 1's chunks (random-patches
does not), the per-modality oracles rank one modality and take the other exactly as Random does; each control
changes one thing, so the test checks everything else stays: the visible and kept token counts of every arm, and
from the same generator state the very patches of the modality it does not rank."""
from __future__ import annotations

import pytest
import torch

from stella.config import load_config
from stella.continual import METHODS, resolve_method_config
from stella.continual.distributed import DistInfo, wrap_ddp
from stella.continual.methods.base import Context
from stella.continual.methods.oracle import truth_scores
from stella.models import build_model
from stella.selection import TRUTH, random_chunks, select_from_scores
from stella.selection.budget import visible_tokens

CONTROLS = ("random", "random-patches", "oracle", "anti-oracle", "oracle-video", "anti-oracle-video", "oracle-audio",
            "anti-oracle-audio")
EQUAL = ["selection.rho_a=0.75", "selection.rho_v=0.75", "selection.mask_of=full"]


def _pick(cfg, strategy, seed=3, B=6):
    g = torch.Generator().manual_seed(0)
    s_a, s_v = torch.rand(B, cfg.num_audio_patches, generator=g), torch.rand(B, cfg.num_video_patches, generator=g)
    z = torch.zeros
    return select_from_scores(cfg, s_a, s_v, z(B, cfg.num_audio_patches), z(B, cfg.num_video_patches),
                              torch.Generator().manual_seed(seed), strategy=strategy)


def _whole_chunks(idx: torch.Tensor, nf: int, chunk: int) -> bool:
    """Every kept audio patch lies in a chunk kept whole (kappa_a a multiple of the chunk's patches)."""
    per = nf * chunk
    for row in idx.tolist():
        chunks = {i // per for i in row}
        if sorted(row) != [c * per + j for c in sorted(chunks) for j in range(per)]:
            return False
    return True


@pytest.mark.parametrize("trim", ["tail", "neighbour"])
def test_random_takes_whole_time_chunks_and_random_patches_does_not(trim):
    cfg = load_config("cpu", [f"selection.chunk_trim={trim}"])
    nt, nf = cfg.audio_grid
    r = _pick(cfg, "random", B=64)
    assert _whole_chunks(r.idx_a, nf, cfg.selection.chunk_size)               # kappa_a 16 = 2 chunks of 8
    counts = torch.bincount(r.idx_a[:, ::8].flatten() // 8, minlength=nt // 2).float()
    assert counts.min() > 0                                                   # every chunk is drawn
    assert not _whole_chunks(_pick(cfg, "random-patches", B=64).idx_a, nf, cfg.selection.chunk_size)
    odd = load_config("cpu", ["selection.rho_a=0.375"])                       # 12 = a chunk and a half
    idx = random_chunks(32, odd.audio_grid, 12, 2, torch.Generator().manual_seed(0), trim=trim)
    assert idx.shape == (32, 12) and all(len({i // 8 for i in row}) == 2 for row in idx.tolist())


@pytest.mark.parametrize("overrides", [[], EQUAL, ["selection.audio_mode=none"], ["selection.chunk_trim=neighbour"]])
def test_a_per_modality_oracle_is_randoms_other_modality_exactly(overrides):
    """From one generator state: oracle-video = (Random's audio, the Oracle's video), oracle-audio = (the Oracle's
    audio, Random's video), and likewise for the anti-oracles."""
    cfg = load_config("cpu", overrides)
    rand = _pick(cfg, "random")
    for best in ("oracle", "anti-oracle"):
        joint, video, audio = _pick(cfg, best), _pick(cfg, f"{best}-video"), _pick(cfg, f"{best}-audio")
        assert torch.equal(video.idx_a, rand.idx_a) and torch.equal(video.idx_v, joint.idx_v)
        assert torch.equal(audio.idx_a, joint.idx_a) and torch.equal(audio.idx_v, rand.idx_v)
    assert set(TRUTH) == {"oracle", "anti-oracle", "oracle-video", "anti-oracle-video", "oracle-audio", "anti-oracle-audio"}


def test_the_truth_ranks_the_named_modality_only():
    cfg = load_config("cpu")
    B = 8
    mask = torch.zeros(B, 4, 32, 32, dtype=torch.bool)
    mask[:, :2, :8, :8] = True                                                # patches 0 and 16: frames 0, 1 ...
    active = torch.zeros(B, 64, dtype=torch.bool)
    active[:, :16] = True                                                     # ... of which frame 0 sounds; chunk 0
    s_a, s_v = truth_scores(mask, active, cfg)
    z = torch.zeros
    pick = lambda s, seed: select_from_scores(cfg, s_a, s_v, z(B, 32), z(B, 64), torch.Generator().manual_seed(seed),  # noqa: E731
                                              strategy=s)
    for seed in range(3):
        v, a = pick("oracle-video", seed), pick("oracle-audio", seed)
        assert all(0 in row for row in v.idx_v.tolist())
        assert all(set(range(8)) <= set(row) for row in a.idx_a.tolist())
        av, aa = pick("anti-oracle-video", seed), pick("anti-oracle-audio", seed)
        assert not any(0 in row for row in av.idx_v.tolist())
        assert not any(set(range(8)) & set(row) for row in aa.idx_a.tolist())


@pytest.mark.parametrize("overrides", [[], EQUAL])
def test_every_control_sees_the_same_token_counts(overrides):
    cfg = load_config("cpu", overrides)
    counts = {m: visible_tokens(cfg, METHODS[m].strategy) for m in (*CONTROLS, "stella", "lpis", "rca")}
    assert len({tuple(sorted(c.items())) for c in counts.values()}) == 1, counts


def test_control_traits():
    for name in CONTROLS:
        cls = METHODS[name]
        assert cls.strategy == name and not cls.needs_avm and cls.uses_memory and not cls.joint


def _method(name):
    cfg = resolve_method_config(load_config("cpu", [f"continual.method={name}", "pretrain.source=none",
                                                    "continual.memory_size=8"]))
    model, avm = build_model(cfg)
    info = DistInfo()
    ctx = Context(cfg=cfg, model=model, avm=avm, opt=torch.optim.Adam(model.parameters(), lr=1e-3), avm_opt=None,
                  device=torch.device("cpu"), gen_mask=torch.Generator().manual_seed(1),
                  gen_select=torch.Generator().manual_seed(2), gen_memory=torch.Generator().manual_seed(3),
                  net=wrap_ddp(model, info), dist=info)
    return METHODS[name](ctx)


def _batch(cfg, n, seed):
    g = torch.Generator().manual_seed(seed)
    d = cfg.data
    mask = torch.zeros(n, d.num_frames, d.image_size, d.image_size, dtype=torch.bool)
    mask[:, 1, 8:16, 8:20] = True
    active = torch.zeros(n, d.audio_frames, dtype=torch.bool)
    active[:, 16:32] = True
    return {"audio": torch.randn(n, d.audio_frames, d.mel_bins, generator=g),
            "video": torch.randn(n, d.num_frames, 3, d.image_size, d.image_size, generator=g),
            "label": torch.zeros(n, dtype=torch.long), "task": torch.zeros(n, dtype=torch.long),
            "index": torch.arange(n), "mask": mask, "active": active}


@pytest.mark.parametrize("name", ["random", "random-patches", "oracle-video", "oracle-audio", "anti-oracle-video"])
def test_training_steps_see_the_counts_of_the_budget_table(name, one_thread):
    m = _method(name)
    outs = []
    orig = m.ctx.model.forward_patches

    def spy(*a, **kw):
        out = orig(*a, **kw)
        outs.append(out)
        return out
    m.ctx.model.forward_patches = spy
    for seed in range(2):
        m.observe(_batch(m.cfg, 4, seed))
    want = visible_tokens(m.cfg, METHODS[name].strategy)
    out = outs[-1]                                                            # 4 current + 4 replayed clips
    assert out.mask_a.shape == (8, want["kept_a"]) and out.mask_v.shape == (8, want["kept_v"])
    assert torch.all(out.mask_a.sum(1) == want["masked_a"]) and torch.all(out.mask_v.sum(1) == want["masked_v"])
