"""Continual methods: every registered method runs through the real trainer at the smoke preset,
plus one behaviour test per baseline (MIR, GMED, CLS-ER, LUMP, ESMER, Multitask, Table 3 ablations)."""
from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import pytest
import torch

import stella.continual.methods.mir as mir_mod
from stella.config import load_config
from stella.continual import METHODS, Trainer, resolve_method_config, run_experiment
from stella.continual.distributed import DistInfo, wrap_ddp
from stella.continual.functional import der_penalty, ema_update, virtual_params
from stella.continual.methods.base import Context
from stella.continual.methods.esmer import error_weights
from stella.continual.methods.lump import draw_lambda
from stella.continual.methods.mir import mir_pick
from stella.models import build_model
from stella.selection import kappa
from stella.store import RunStore


# --- helpers --------------------------------------------------------------------------
def make_method(name: str, overrides=()):
    cfg = resolve_method_config(load_config("smoke", [f"continual.method={name}", *overrides]))
    model, avm = build_model(cfg)
    c = cfg.continual
    opt = torch.optim.Adam(model.parameters(), lr=c.lr, betas=tuple(c.betas), weight_decay=c.weight_decay)
    avm_opt = torch.optim.Adam(avm.parameters(), lr=c.avm_lr)
    info = DistInfo()
    ctx = Context(cfg=cfg, model=model, avm=avm, opt=opt, avm_opt=avm_opt, device=torch.device("cpu"),
                  gen_mask=torch.Generator().manual_seed(1), gen_select=torch.Generator().manual_seed(2),
                  gen_memory=torch.Generator().manual_seed(3), net=wrap_ddp(model, info), dist=info)
    return METHODS[name](ctx)


def fake_batch(cfg, n: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    d = cfg.data
    return {"audio": torch.randn(n, d.audio_frames, d.mel_bins, generator=g),
            "video": torch.randn(n, d.num_frames, 3, d.image_size, d.image_size, generator=g),
            "label": torch.zeros(n, dtype=torch.long), "task": torch.zeros(n, dtype=torch.long),
            "index": torch.arange(seed * 100, seed * 100 + n)}


# --- every registered method through the real trainer ---------------------------------
@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_smoke_run(name, tmp_path, cached_benchmark):
    rd = run_experiment(load_config("smoke", [f"continual.method={name}"]), results_dir=str(tmp_path))
    assert rd.complete
    summary, meta, losses = rd.load_json("summary"), rd.load_json("meta"), rd.load_json("losses")
    assert summary and meta["method"] == name and meta["steps"] == len(losses) > 0
    for row in losses:
        for k, v in row.items():
            if isinstance(v, float):
                assert math.isfinite(v), (name, k, row)
    if name in ("clser", "esmer"):
        assert meta["extra_bytes"] > 0
    if name == "multitask":
        assert {r["task"] for r in losses} == {0} and meta["memory_capacity"] == 0


# --- MIR ------------------------------------------------------------------------------
def test_mir_pick_highest_interference():
    before = torch.tensor([1.0, 1.0, 2.0, 0.5, 3.0, 1.0])
    after = torch.tensor([1.1, 3.0, 2.0, 2.5, 2.0, 1.1])     # increases 0.1, 2, 0, 2, -1, 0.1
    assert mir_pick(before, after, 2).tolist() == [1, 3]
    assert mir_pick(before, after, 3).tolist() == [1, 3, 0]


def test_mir_replays_the_most_interfered_candidates(monkeypatch):
    m = make_method("mir")
    cfg = m.cfg
    m.observe(fake_batch(cfg, 4, 0))
    m.observe(fake_batch(cfg, 4, 1))                           # memory full: 8 items
    assert len(m.memory) == 8
    # construct the interference: slot s's loss rises by s (slots 7, 6, 5, 4 interfere most)
    def fake_interference(model, opt, gen, lam, a, v, mem_a, mem_v, virtual_optimizer="adam",
                          with_input_grad=False, num_visible=(None, None)):
        slots = m._probe_slots
        return torch.zeros(len(slots)), slots.float()
    orig_sample = m.memory.sample

    def sample(n, gen, device="cpu"):
        out = orig_sample(n, gen, device)
        m._probe_slots = out["slot"]
        return out
    monkeypatch.setattr(m.memory, "sample", sample)
    monkeypatch.setattr(mir_mod, "interference", fake_interference)
    logs = m.observe(fake_batch(cfg, 4, 2))
    assert sorted(m.last_picked.tolist()) == [4, 5, 6, 7]      # C x R = 20 > 8: every slot is a candidate
    assert math.isfinite(logs["loss"]) and logs["interference"] == pytest.approx(5.5)


def test_virtual_adam_step_matches_real_step_and_leaves_state():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.1, weight_decay=0.01)
    x = torch.randn(5, 3)
    net(x).pow(2).sum().backward()
    opt.step()
    opt.zero_grad()
    state_before = copy.deepcopy(opt.state_dict())
    fast = virtual_params(net, opt, net(x).pow(2).sum())
    assert str(opt.state_dict()) == str(state_before)       # untouched
    net(x).pow(2).sum().backward()
    opt.step()
    for n, p in net.named_parameters():
        assert torch.allclose(fast[n], p, atol=1e-6), n


# --- GMED -----------------------------------------------------------------------------
def test_gmed_edits_replayed_memory():
    m = make_method("gmed")
    cfg = m.cfg
    m.observe(fake_batch(cfg, 4, 0))
    before = {k: v.clone() for k, v in m.memory.data.items()}
    logs = m.observe(fake_batch(cfg, 4, 1))                  # replays (and edits) the 4 stored clips
    assert logs["edit_norm"] > 0
    edited = m.memory.data["edits"][:4]
    assert torch.equal(edited, torch.ones(4))
    assert not torch.allclose(m.memory.data["audio"][:4], before["audio"][:4])
    assert not torch.allclose(m.memory.data["video"][:4], before["video"][:4])
    assert torch.equal(m.memory.data["edits"][4:], torch.zeros(4))   # new items are not edited


# --- CLS-ER ---------------------------------------------------------------------------
def test_ema_update_math():
    model, ema = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(1.0), model.bias.fill_(2.0), ema.weight.fill_(0.0), ema.bias.fill_(0.0)
    a = ema_update(ema, model, alpha=0.999, step=1)          # warm-up: min(1 - 1/2, 0.999) = 0.5
    assert a == 0.5 and torch.allclose(ema.weight, torch.full_like(ema.weight, 0.5))
    assert torch.allclose(ema.bias, torch.tensor([1.0]))
    a = ema_update(ema, model, alpha=0.9, step=1000)         # steady state: alpha
    assert a == 0.9 and torch.allclose(ema.weight, torch.full_like(ema.weight, 0.9 * 0.5 + 0.1))


def test_clser_targets_pick_confident_model_and_state_roundtrip():
    m = make_method("clser")
    D = 4
    eye = torch.eye(D)[:3]
    good = SimpleNamespace(c_a=eye, c_v=eye, rec_a_per_sample=torch.zeros(3), rec_v_per_sample=torch.zeros(3))
    bad = SimpleNamespace(c_a=eye, c_v=eye.flip(0), rec_a_per_sample=torch.ones(3), rec_v_per_sample=torch.ones(3))
    t_a, t_v = m.targets(bad, good)                          # plastic = bad, stable = good
    assert torch.equal(t_a, good.c_a) and torch.equal(t_v, good.c_v)
    m.select_by = "reconstruction"
    t_a, t_v = m.targets(good, bad)
    assert torch.equal(t_v, good.c_v)
    cfg = m.cfg
    for s in range(3):
        m.observe(fake_batch(cfg, 4, s))
    assert m.global_step == 3 and m.eval_model() is m.ctx.model
    assert any(not torch.equal(p, q) for p, q in zip(m.stable.parameters(), m.ctx.model.parameters()))
    m2 = make_method("clser")
    m2.load_state_dict(m.state_dict())
    for p, q in zip(m2.plastic.parameters(), m.plastic.parameters()):
        assert torch.equal(p, q)
    assert m2.global_step == 3 and m.extra_bytes() > 0


# --- LUMP -----------------------------------------------------------------------------
def test_lump_mixes_both_modalities_with_one_lambda():
    m = make_method("lump", ["continual.lump_lambda=1.0"])   # Beta(1, 1): lam strictly inside (0, 1)
    cfg = m.cfg
    m.observe(fake_batch(cfg, 4, 0))
    stored = {k: v.clone() for k, v in m.memory.data.items()}
    seen = {}
    orig = m.forward

    def forward(audio, video):
        seen["audio"], seen["video"] = audio, video
        return orig(audio, video)
    m.forward = forward
    b = fake_batch(cfg, 4, 1)
    logs = m.observe(b)
    lam, slots = m.last_mix
    assert 0 < lam < 1 and logs["lump_lambda"] == lam
    assert torch.allclose(seen["audio"], lam * b["audio"] + (1 - lam) * stored["audio"][slots], atol=1e-6)
    assert torch.allclose(seen["video"], lam * b["video"] + (1 - lam) * stored["video"][slots], atol=1e-6)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert draw_lambda(g1, 0.1) == draw_lambda(g2, 0.1)     # seeded from the generator


# --- ESMER ----------------------------------------------------------------------------
def test_esmer_error_weights():
    w, keep = error_weights(torch.tensor([1.0, 2.0, 4.0]), mu=2.0, beta=1.0)
    assert torch.allclose(w, torch.tensor([1.0, 1.0, 0.5])) and keep.tolist() == [True, True, False]
    w, keep = error_weights(torch.tensor([1.0, 8.0]), mu=0.0, beta=1.0)
    assert torch.equal(w, torch.ones(2)) and keep.all()


def test_esmer_memory_skips_high_loss_samples_and_tracks_mu():
    m = make_method("esmer")
    cfg = m.cfg
    m.observe(fake_batch(cfg, 4, 0))
    assert len(m.memory) == 4 and m.mu > 0                   # mu = 0 at first: everything stored
    m.mu = 1e-9                                              # every sample is now "high loss"
    logs = m.observe(fake_batch(cfg, 4, 1))
    assert len(m.memory) == 4 and logs["weight"] < 1e-3
    assert m.eval_model() is m.ctx.model and m.extra_bytes() > 0


# --- Multitask ------------------------------------------------------------------------
def test_multitask_streams_all_tasks_as_one(tmp_path, cached_benchmark):
    cfg = resolve_method_config(load_config("smoke", ["continual.method=multitask"]))
    tr = Trainer(cfg, RunStore(str(tmp_path)).dir(cfg))
    stream = tr.task_datasets()
    assert len(stream) == 1 and len(stream[0][1]) == sum(len(t.train) for t in tr.bench.tasks)
    seen = []
    orig = tr.method.observe
    tr.method.observe = lambda batch: (seen.extend(batch["task"].tolist()), orig(batch))[1]
    tr.run()
    assert set(seen) == set(range(len(tr.bench.tasks)))


# --- Table 3 ablations ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["random", "mats", "lpis", "rca"])
def test_ablation_selects_kappa_patches(name):
    m = make_method(name)
    cfg = m.cfg
    assert type(m).strategy == name
    shapes = []
    orig = m.forward_patches

    def fp(xa, xv, pos_a, pos_v, **kw):
        shapes.append((tuple(xa.shape), tuple(xv.shape)))
        return orig(xa, xv, pos_a, pos_v, **kw)
    m.forward_patches = fp
    m.observe(fake_batch(cfg, 4, 0))
    m.observe(fake_batch(cfg, 4, 1))
    ka, kv = kappa(cfg.num_audio_patches, cfg.selection.rho_a), kappa(cfg.num_video_patches, cfg.selection.rho_v)
    p = cfg.model.patch_size
    assert shapes[0] == ((4, ka, p * p), (4, kv, 3 * p * p))
    assert shapes[1] == ((8, ka, p * p), (8, kv, 3 * p * p))
    assert ka < cfg.num_audio_patches and kv < cfg.num_video_patches


# --- Table 5: STELLA's alpha is its own (0.5 on AS where DER++ has 1.0) --------------------
@pytest.mark.parametrize("name,own,other", [("stella", "stella_alpha", "der_alpha"),
                                            ("stella+", "stella_alpha", "der_alpha"),
                                            ("derpp", "der_alpha", "stella_alpha")])
def test_penalty_weight_is_the_methods_own_alpha(name, own, other):
    logs = []
    for own_value in (0.0, 2.0):
        m = make_method(name, [f"continual.{own}={own_value}", f"continual.{other}=7.0"])
        m.observe(fake_batch(m.cfg, 4, 0))
        logs.append(m.observe(fake_batch(m.cfg, 4, 1)))
    assert "penalty" not in logs[0] or logs[0]["loss"] < logs[1]["loss"]
    assert logs[1]["penalty"] > 0
    # same seeds, same batches: the two runs differ only by 2.0 * penalty in the loss
    assert logs[1]["loss"] == pytest.approx(logs[0]["loss"] + 2.0 * logs[1]["penalty"], rel=1e-4)


def test_paper_presets_carry_table5_alphas():
    vs, as_ = load_config("paper"), load_config("paper-as")
    assert (vs.continual.der_alpha, vs.continual.stella_alpha, vs.selection.beta) == (0.5, 0.5, 0.4)
    assert (as_.continual.der_alpha, as_.continual.stella_alpha, as_.selection.beta) == (1.0, 0.5, 0.1)
    assert (as_.continual.memory_size, as_.continual.batch_size, as_.continual.epochs_per_task) == (5000, 36, 15)
    assert as_.data.benchmark == "continual-as" and as_.data.num_tasks == 7


def test_der_penalty_is_one_mse_per_modality():
    out = SimpleNamespace(c_a=torch.tensor([[9.0, 9.0], [1.0, 3.0]]), c_v=torch.tensor([[9.0], [2.0]]))
    lp = der_penalty(out, torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0]]), start=1)
    assert lp.item() == pytest.approx((0.0 + 4.0) / 2 + 4.0)     # MSE_a + MSE_v over the replayed row only


@pytest.mark.parametrize("name,ema_attr", [("clser", "stable"), ("esmer", "semantic")])
def test_ema_methods_evaluate_the_configured_model(name, ema_attr):
    working = make_method(name)
    assert working.eval_model() is working.ctx.model                        # the authors' code
    ema = make_method(name, ["continual.ema_eval=ema"])
    assert ema.eval_model() is getattr(ema, ema_attr)                       # the CLS-ER / ESMER papers


def test_gmed_edit_is_the_batch_mean_gradient_step(monkeypatch):
    import stella.continual.methods.gmed as gmed_mod

    def fake_interference(model, opt, gen, lam, audio, video, xa, xv, virtual_optimizer="adam",
                          with_input_grad=False, num_visible=(None, None)):
        before = (xa ** 2).flatten(1).sum(1) + (xv ** 2).flatten(1).sum(1)      # per replayed clip
        return before, 3.0 * before
    monkeypatch.setattr(gmed_mod, "interference", fake_interference)
    m = make_method("gmed")
    c, R = m.cfg.continual, 5
    current = fake_batch(m.cfg, 4, 0)
    mem = fake_batch(m.cfg, R, 1)
    mem["edits"] = torch.tensor([0.0, 1.0, 2.0, 0.0, 0.0])
    new_a, new_v = m.edit(current, mem)
    # d - beta l_before = (3 - 1 - beta) l_before; grad_x of its batch mean = (2 - beta) 2 x / R
    stride = (c.gmed_alpha * c.gmed_gamma ** mem["edits"]).view(R, 1, 1)
    expect = mem["audio"] + stride * (2 - c.gmed_beta) * 2 * mem["audio"] / R
    assert torch.allclose(new_a, expect, atol=1e-5)
