"""The controls of the STELLA verdict (issue 19): the null control (rho = 1 is DER++), oracle and anti-oracle
selection, the token budgets (mask_of = full, the baselines at STELLA's budget), the sparsity knobs of the
synthetic benchmark and keys that leave every existing run key as it was."""
from __future__ import annotations

import pytest
import torch

from stella.config import ConfigError, load_config
from stella.continual import METHODS, resolve_method_config, run_experiment
from stella.continual.distributed import DistInfo, wrap_ddp
from stella.continual.methods.base import Context
from stella.continual.methods.oracle import truth_scores
from stella.continual.pretrain import pretrain_key
from stella.data.synthetic import make_classes, render_clip
from stella.models import build_model
from stella.selection import kappa, oracle_selection, select, select_from_scores
from stella.continual.budget import budget_rows, format_budget
from stella.selection.budget import visible_tokens

# --- 1. null control: STELLA with rho = 1 is DER++, bit for bit ----------------------------------------------
@pytest.mark.parametrize("extra", [[], ["selection.mask_of=full", "selection.empty_memory=topk"]])
def test_stella_with_rho_one_is_derpp(tmp_path, cached_benchmark, one_thread, extra):
    """rho_a = rho_v = 1 keeps every patch in grid order, so STELLA trains DER++ (alpha: stella_alpha = der_alpha
    at the preset) on the same masks and replay draws; the AVM and the selection draw from their own generators
    and never touch the backbone. Same summary, same losses, same weights."""
    cfg = load_config("smoke")
    assert cfg.continual.stella_alpha == cfg.continual.der_alpha
    runs = {}
    for name, ov in (("derpp", []), ("stella", ["selection.rho_a=1.0", "selection.rho_v=1.0", *extra])):
        runs[name] = run_experiment(load_config("smoke", [f"continual.method={name}", *ov]), results_dir=str(tmp_path))
    d, s = runs["derpp"], runs["stella"]
    assert d.key != s.key
    assert d.load_json("summary") == s.load_json("summary")
    keys = ("loss", "rec_a", "rec_v", "contrastive", "penalty")
    strip = lambda rows: [{k: r[k] for k in keys if k in r} for r in rows]          # noqa: E731
    assert strip(d.load_json("losses")) == strip(s.load_json("losses"))
    wd, ws = d.load_tensors("model_after_task2")["model"], s.load_tensors("model_after_task2")["model"]
    assert wd.keys() == ws.keys() and all(torch.equal(wd[k], ws[k]) for k in wd)


# --- 2. oracle and anti-oracle ------------------------------------------------------------------------------
def _hand_made(cfg, B=3):
    """Clips whose sounding object fills video patches 0, 1 (row 0 of the 4x4 grid) and 4 (row 1) of frames 1
    and 2, where the sound is on (fbank frames 16..47 = time tokens 2..5 = chunks 1 and 2); frames 0 and 3 show
    the object silent in patch 15. Returns mask (B, T, H, W), active (B, t) and the target patch sets."""
    d, p = cfg.data, cfg.model.patch_size
    mask = torch.zeros(B, d.num_frames, d.image_size, d.image_size, dtype=torch.bool)
    gw = d.image_size // p
    for f in (1, 2):
        for j in (0, 1, 4):
            r, c = divmod(j, gw)
            mask[:, f, r * p:(r + 1) * p, c * p:(c + 1) * p] = True
    mask[:, 1, p:p + 2, 0:2] = False                                           # patch 4 of frame 1 half covered
    for f in (0, 3):
        mask[:, f, 3 * p:4 * p, 3 * p:4 * p] = True
    active = torch.zeros(B, d.audio_frames, dtype=torch.bool)
    active[:, 16:48] = True
    sounding_v = {f * gw * gw + j for f in (1, 2) for j in (0, 1, 4)}
    nt, nf = cfg.audio_grid
    active_a = {t * nf + f for t in range(2, 6) for f in range(nf)}
    return mask, active, sounding_v, active_a


def test_truth_scores_on_a_hand_made_clip():
    cfg = load_config("cpu")
    mask, active, snd, act = _hand_made(cfg)
    s_a, s_v = truth_scores(mask, active, cfg)
    assert s_a.shape == (3, cfg.num_audio_patches) and s_v.shape == (3, cfg.num_video_patches)
    assert set(torch.nonzero(s_v[0]).flatten().tolist()) == snd                  # silent frames do not count
    assert float(s_v[0, 1 * 16 + 4]) == pytest.approx(1 - 4 / 64) and float(s_v[0, 16]) == 1.0
    assert set(torch.nonzero(s_a[0]).flatten().tolist()) == act and torch.all(s_a[0][sorted(act)] == 1.0)


@pytest.mark.parametrize("trim", ["tail", "neighbour"])
def test_oracle_keeps_the_sounding_patches_first_and_the_anti_oracle_last(trim):
    cfg = load_config("cpu", [f"selection.chunk_trim={trim}"])
    mask, active, snd, act = _hand_made(cfg)
    s_a, s_v = truth_scores(mask, active, cfg)
    M, N = cfg.num_audio_patches, cfg.num_video_patches
    ka, kv = kappa(M, 0.5), kappa(N, 0.5)                                       # 16 of 32, 32 of 64
    g = torch.Generator().manual_seed(0)
    for rep in range(5):
        o = select(cfg, None, s_a, s_v, None, None, g, strategy="oracle")
        a = select(cfg, None, s_a, s_v, None, None, g, strategy="anti-oracle")
        for b in range(3):
            kept_o, kept_a = set(o.idx_v[b].tolist()), set(a.idx_v[b].tolist())
            assert snd <= kept_o and not snd & kept_a and len(kept_o) == kv
            assert set(o.idx_a[b].tolist()) == act and not act & set(a.idx_a[b].tolist())
    # a budget smaller than the target: the oracle keeps the best-covered patches, the anti-oracle none of them
    cfg4 = load_config("cpu", ["selection.rho_v=0.0625", "selection.rho_a=0.25"])    # kappa_v 4, kappa_a 8
    o = select(cfg4, None, s_a, s_v, None, None, g, strategy="oracle")
    assert set(o.idx_v[0].tolist()) <= snd and 20 not in o.idx_v[0].tolist()   # the half-covered patch goes last
    assert set(o.idx_a[0].tolist()) <= act


def test_oracle_audio_takes_whole_chunks_as_algorithm_1_does():
    """Active share per chunk of 2 time tokens: chunk 2 full, chunk 0 half; kappa_a = 12 = 1.5 chunks of 8:
    chunk 2 whole, then the head of chunk 0 (the overflowing chunk trimmed at its tail)."""
    cfg = load_config("cpu", ["selection.rho_a=0.375"])
    nt, nf = cfg.audio_grid
    s_a = torch.zeros(1, nt * nf)
    s_a[0, 4 * nf:6 * nf] = 1.0                  # tokens 4, 5 = chunk 2
    s_a[0, 0:nf] = 1.0                           # token 0 = half of chunk 0
    idx_a, _ = oracle_selection(s_a, torch.rand(1, 64), cfg.audio_grid, 12, 8, 2, torch.Generator().manual_seed(1))
    assert idx_a[0].tolist() == list(range(0, 4)) + list(range(16, 24))
    idx_anti, _ = oracle_selection(s_a, torch.rand(1, 64), cfg.audio_grid, 12, 8, 2, torch.Generator().manual_seed(1),
                                   anti=True)
    assert not set(idx_anti[0].tolist()) & (set(range(16, 24)) | set(range(0, 4)))


def _method(name, overrides=()):
    cfg = resolve_method_config(load_config("cpu", [f"continual.method={name}", "pretrain.source=none",
                                                    "continual.memory_size=8", *overrides]))
    model, avm = build_model(cfg)
    c = cfg.continual
    opt = torch.optim.Adam(model.parameters(), lr=c.lr)
    avm_opt = torch.optim.Adam(avm.parameters(), lr=c.avm_lr) if METHODS[name].needs_avm else None
    info = DistInfo()
    ctx = Context(cfg=cfg, model=model, avm=avm, opt=opt, avm_opt=avm_opt, device=torch.device("cpu"),
                  gen_mask=torch.Generator().manual_seed(1), gen_select=torch.Generator().manual_seed(2),
                  gen_memory=torch.Generator().manual_seed(3), net=wrap_ddp(model, info), dist=info)
    return METHODS[name](ctx)


def _batch(cfg, n, seed, truth=True):
    g = torch.Generator().manual_seed(seed)
    d = cfg.data
    b = {"audio": torch.randn(n, d.audio_frames, d.mel_bins, generator=g),
         "video": torch.randn(n, d.num_frames, 3, d.image_size, d.image_size, generator=g),
         "label": torch.zeros(n, dtype=torch.long), "task": torch.zeros(n, dtype=torch.long),
         "index": torch.arange(n)}
    if truth:
        b["mask"], b["active"] = _hand_made(cfg, n)[:2]
    return b


@pytest.mark.parametrize("name", ["oracle", "anti-oracle"])
def test_oracle_methods_train_on_the_truth_and_replay_it_from_the_memory(name, one_thread):
    m = _method(name)
    cfg = m.cfg
    _, _, snd, act = _hand_made(cfg)
    seen = []
    orig = m.forward_patches

    def fp(xa, xv, pos_a, pos_v, **kw):
        seen.append((pos_a.clone(), pos_v.clone()))
        return orig(xa, xv, pos_a, pos_v, **kw)
    m.forward_patches = fp
    m.observe(_batch(cfg, 4, 0))
    m.observe(_batch(cfg, 4, 1))
    assert set(m.memory.data) == {"audio", "video", "score_a", "score_v", "c_a", "c_v"}
    pos_a, pos_v = seen[1]
    assert pos_v.shape == (8, kappa(cfg.num_video_patches, 0.5))              # 4 current + 4 replayed clips
    for row in range(8):
        kv, ka = set(pos_v[row].tolist()), set(pos_a[row].tolist())
        assert (snd <= kv and ka == act) if name == "oracle" else not (snd & kv or act & ka)
    with pytest.raises(ValueError, match="no ground truth"):
        m.observe(_batch(cfg, 4, 2, truth=False))


def test_oracle_traits_and_select_needs_truth():
    for name in ("oracle", "anti-oracle"):
        cls = METHODS[name]
        assert not cls.needs_avm and cls.uses_memory and cls.strategy == name
    cfg = load_config("smoke")
    with pytest.raises(ValueError, match="ground-truth"):
        select(cfg, None, None, None, None, None, None, strategy="oracle")
    s = select_from_scores(cfg, torch.rand(2, 8), torch.rand(2, 8), torch.zeros(2, 8), torch.zeros(2, 8),
                           torch.Generator().manual_seed(0), strategy="oracle")
    assert s.idx_a.shape == (2, 4) and s.idx_v.shape == (2, 4)


# --- 3. token budgets ---------------------------------------------------------------------------------------
def test_budget_table_at_the_cpu_geometry():
    cpu = load_config("cpu")
    assert (cpu.num_audio_patches, cpu.num_video_patches) == (32, 64)
    pick = lambda r: (r["visible_a"], r["visible_v"])                         # noqa: E731
    assert pick(visible_tokens(cpu, "none")) == (16, 32)                     # mask 0.5 of everything
    assert pick(visible_tokens(cpu, "stella")) == (8, 16)                    # mask 0.5 of the rho = 0.5 selection
    eq = load_config("cpu", ["selection.rho_a=0.75", "selection.rho_v=0.75", "selection.mask_of=full"])
    r = visible_tokens(eq, "stella")
    assert pick(r) == (16, 32) and (r["kept_a"], r["kept_v"]) == (24, 48)   # equal budget, 8 / 16 left to choose
    degenerate = visible_tokens(load_config("cpu", ["selection.mask_of=full"]), "random")
    assert pick(degenerate) == (15, 31)                                      # rho 0.5: kappa - 1 (all but one)
    rev = load_config("cpu", ["continual.visible_budget=stella", "data.active_fraction=0.5"])
    assert pick(visible_tokens(rev, "none")) == (8, 16)
    rows = budget_rows(rev, ["derpp", "clser", "stella"])
    assert [pick(r) for r in rows] == [(8, 16), (16, 32), (8, 16)]           # CL-SER does not take the switch
    assert "derpp" in format_budget(rows)


@pytest.mark.parametrize("name,overrides", [
    ("derpp", []), ("er", []), ("derpp", ["continual.visible_budget=stella"]),
    ("er", ["continual.visible_budget=stella"]), ("finetune", ["continual.visible_budget=stella"]),
    ("random", []), ("stella", []), ("oracle", []),
    ("random", ["selection.rho_a=0.75", "selection.rho_v=0.75", "selection.mask_of=full"]),
    ("stella", ["selection.rho_a=0.75", "selection.rho_v=0.75", "selection.mask_of=full"])])
def test_visible_tokens_are_what_the_methods_train_on(name, overrides, one_thread):
    """The budget table is checked against the masks of real training steps, current and replayed clips."""
    m = _method(name, overrides)
    outs = []
    model = m.ctx.model
    orig = model.forward_patches

    def fp(*a, **kw):
        out = orig(*a, **kw)
        outs.append(out)
        return out
    model.forward_patches = fp
    for seed in range(2):
        m.observe(_batch(m.cfg, 4, seed))
    want = visible_tokens(m.cfg, METHODS[name].strategy)
    out = outs[-1]
    assert out.mask_a.shape[1] == want["kept_a"] and out.mask_v.shape[1] == want["kept_v"]
    assert out.mask_a.shape[0] == (8 if METHODS[name].uses_memory else 4)
    assert torch.all(out.mask_a.sum(1) == want["masked_a"]) and torch.all(out.mask_v.sum(1) == want["masked_v"])


def test_visible_budget_is_refused_where_it_does_not_apply():
    for name in ("stella", "random", "clser", "esmer"):
        with pytest.raises(ConfigError, match="continual.visible_budget"):
            resolve_method_config(load_config("cpu", [f"continual.method={name}", "continual.visible_budget=stella"]))
    with pytest.raises(ConfigError, match="continual.visible_budget"):
        load_config("cpu", ["continual.visible_budget=half"])


# --- new keys leave every existing run key alone -------------------------------------------------------------
def test_new_keys_are_out_of_the_run_key_at_their_default():
    for preset in ("smoke", "cpu", "paper"):
        cfg = load_config(preset, ["data.active_fraction=0.5"])           # cpu's default is 0.25 (bench_calibrate)
        d = cfg.to_dict()
        assert "visible_budget" not in d["continual"] and "object_scale" not in d["data"]
        assert "active_fraction" not in d["data"]
        same = load_config(preset, ["continual.visible_budget=own", "data.object_scale=1.0", "data.active_fraction=0.5"])
        assert same.digest() == cfg.digest() and pretrain_key(same) == pretrain_key(cfg)
        assert cfg.with_overrides(["data.object_scale=1.5"]).data.object_scale == 1.5
    cpu = load_config("cpu", ["data.active_fraction=0.5"])
    for ov in ("data.object_scale=1.5", "data.active_fraction=1.0"):
        other = load_config("cpu", [ov])
        assert other.digest() != cpu.digest() and pretrain_key(other) != pretrain_key(cpu)   # its own stage
        assert load_config("cpu", [ov]).with_overrides([]).digest() == other.digest()
    rev = load_config("cpu", ["continual.visible_budget=stella", "data.active_fraction=0.5"])
    assert rev.digest() != cpu.digest() and pretrain_key(rev) == pretrain_key(cpu)          # same stage, paired


# --- 5. sparsity knobs ----------------------------------------------------------------------------------------
def test_sparsity_knobs_change_the_clip_as_they_say():
    classes, neutral = make_classes(2, 4, 0, 16000)
    kw = dict(num_frames=4, image_size=32, audio_frames=64, sample_rate=16000, noise_level=0.1)
    area, on_count = {}, {}
    for scale in (0.75, 1.0, 1.5):
        area[scale] = sum(int(render_clip(classes, neutral, i % 8, (0, i), num_distractors=2, object_scale=scale,
                                          **kw)["mask"].sum()) for i in range(12))
    assert area[0.75] < area[1.0] < area[1.5]
    for frac in (0.25, 0.5, 1.0):
        on_count[frac] = [int(render_clip(classes, neutral, i % 8, (0, i), num_distractors=2, audio_only=True,
                                          active_fraction=frac, **kw)["on"].sum()) for i in range(40)]
    assert set(on_count[0.25]) == {1} and set(on_count[0.5]) == {1, 2} and max(on_count[1.0]) >= 3
    base = render_clip(classes, neutral, 3, (0, 3), num_distractors=2, **kw)
    same = render_clip(classes, neutral, 3, (0, 3), num_distractors=2, object_scale=1.0, active_fraction=0.5, **kw)
    assert (base["frames"] == same["frames"]).all() and (base["wave"] == same["wave"]).all()
    for bad in ("data.object_scale=0", "data.object_scale=2.5", "data.active_fraction=0", "data.active_fraction=1.5"):
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            load_config("cpu", [bad])
