"""The pre-training stage: its key, determinism, the store's cache, resumption, and the trainer's start."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stella.config import ConfigError, load_config
from stella.continual import pretrain as P
from stella.data.synthetic import make_classes, make_pretrain_classes

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _same(a, b):
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_key_depends_on_exactly_what_the_stage_depends_on():
    base = load_config("smoke")
    key = P.pretrain_key(base)
    for same in (["continual.method=derpp"], ["run.seed=7"], ["selection.beta=0.1"], ["data.task_order=shuffled"],
                 ["continual.lr=0.5"], ["run.checkpoint_every=5"], ["data.train_per_class=6"]):
        assert P.pretrain_key(base.with_overrides(same)) == key, same
    for other in (["pretrain.steps=5"], ["pretrain.seed=1"], ["pretrain.classes=3"], ["model.mask_ratio=0.5"],
                  ["data.seed=1"], ["data.audio_roll=none"], ["data.noise_level=0.2"]):
        assert P.pretrain_key(base.with_overrides(other)) != key, other
    assert P.pretrain_key(base.with_overrides(["pretrain.source=none"])) is None


def test_reserved_classes_are_disjoint_from_continual_and_unseen_classes():
    classes, neutral = make_classes(4 + 2, 4, 0, 16000)              # the cpu benchmark plus two unseen tasks
    pre = make_pretrain_classes(32, 0, 16000)
    assert not {c.obj for c in pre} & ({c.obj for c in classes} | set(neutral))
    assert not {c.sound for c in pre} & {c.sound for c in classes}
    assert make_classes(4, 4, 0, 16000)[1] == neutral                # one neutral pool whatever the task count
    assert make_classes(4, 4, 0, 16000)[0] == classes[:16]
    with pytest.raises(ValueError, match="pretrain.classes"):
        from stella.data import build_benchmark
        build_benchmark(load_config("smoke", ["pretrain.classes=130", "data.num_tasks=8", "data.classes_per_task=4"]))


def test_stage_is_deterministic_given_its_seed(tmp_path, one_thread):
    cfg = load_config("smoke")
    for name in ("a", "b"):
        P.run_pretraining(cfg, tmp_path / name)
    wa, wb = _weights(tmp_path / "a" / "weights.pt"), _weights(tmp_path / "b" / "weights.pt")
    assert _same(wa["model"], wb["model"]) and _same(wa["avm"], wb["avm"])
    la = json.loads((tmp_path / "a" / "log.json").read_text())
    assert la == json.loads((tmp_path / "b" / "log.json").read_text())
    assert [r["phase"] for r in la] == ["joint"] * 4 + ["avm"] * 2
    P.run_pretraining(cfg.with_overrides(["pretrain.seed=3"]), tmp_path / "c")
    assert not _same(wa["model"], _weights(tmp_path / "c" / "weights.pt")["model"])
    P.run_pretraining(cfg.with_overrides(["pretrain.joint_avm=false"]), tmp_path / "d")
    ld = json.loads((tmp_path / "d" / "log.json").read_text())
    assert "avm" not in ld[0] and "contrastive" in ld[0] and "avm" in ld[-1] and "contrastive" not in ld[-1]
    assert _same(_weights(tmp_path / "d" / "weights.pt")["model"], wa["model"])   # the AVM never feeds the backbone


def test_cache_hit_computes_once(tmp_path, monkeypatch, one_thread):
    cfg = load_config("smoke")
    path = P.ensure_pretrained(cfg, tmp_path)
    assert path == tmp_path / "pretrain" / P.pretrain_key(cfg) / "weights.pt" and path.exists()
    monkeypatch.setattr(P, "run_pretraining", lambda *a, **k: pytest.fail("recomputed a cached stage"))
    assert P.ensure_pretrained(cfg.with_overrides(["continual.method=derpp", "run.seed=5"]), tmp_path) == path
    log, summary = P.pretrain_log(cfg, tmp_path)
    assert len(log) == summary["steps"] == 6 and summary["weights_bytes"] == path.stat().st_size
    assert json.loads((path.parent / "spec.json").read_text())["spec"] == P.pretrain_spec(cfg)


def test_every_method_starts_from_the_stage_before_its_copies(tmp_path, one_thread):
    from stella.continual import Trainer, resolve_method_config
    from stella.store import RunStore

    cfg = resolve_method_config(load_config("smoke", ["continual.method=clser"]))
    trainer = Trainer(cfg, RunStore(tmp_path).dir(cfg))
    w = _weights(P.ensure_pretrained(cfg, tmp_path))
    assert _same(trainer.ctx.model.state_dict(), w["model"]) and _same(trainer.ctx.avm.state_dict(), w["avm"])
    assert _same(trainer.method.stable.state_dict(), w["model"])                 # CLS-ER's EMA copy
    assert len(list((tmp_path / "pretrain").iterdir())) == 1


def test_checkpoint_source(tmp_path, one_thread):
    from stella.models import build_model

    missing = load_config("smoke", ["pretrain.source=checkpoint", f"pretrain.checkpoint={tmp_path / 'none.pt'}"])
    with pytest.raises(FileNotFoundError, match="pretrain.checkpoint"):
        P.ensure_pretrained(missing, tmp_path)
    cfg = missing.with_overrides([f"pretrain.checkpoint={tmp_path / 'w.pt'}"])
    src = build_model(cfg.with_overrides(["run.seed=99"]))
    torch.save({"model": src[0].state_dict(), "avm": src[1].state_dict()}, tmp_path / "w.pt")
    model, avm = build_model(cfg)
    assert P.load_pretrained(cfg, model, avm, tmp_path) == tmp_path / "w.pt"
    assert _same(model.state_dict(), src[0].state_dict()) and not (tmp_path / "pretrain").exists()
    with pytest.raises(ConfigError, match="pretrain.checkpoint"):
        load_config("smoke", ["pretrain.source=checkpoint"])


def _stage(root, extra_env=None):
    code = ("import sys; from stella.config import load_config; from stella.continual.pretrain import ensure_pretrained;"
            f"ensure_pretrained(load_config('smoke', ['pretrain.steps=6', 'pretrain.avm_steps=3']), {str(root)!r})")
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**ENV, **(extra_env or {})},
                          capture_output=True, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [3, 7])
def test_stage_resumes_after_sigkill(tmp_path, kill_at):
    assert _stage(tmp_path / "full").returncode == 0
    killed = _stage(tmp_path / "killed", {"STELLA_KILL_AFTER_PRETRAIN_STEP": str(kill_at)})
    assert killed.returncode == -9, killed.stderr[-2000:]
    d = next((tmp_path / "killed" / "pretrain").iterdir())
    assert (d / "state.pt").exists() and not (d / "COMPLETE").exists()
    assert _stage(tmp_path / "killed").returncode == 0
    full = next((tmp_path / "full" / "pretrain").iterdir())
    assert _same(_weights(full / "weights.pt")["model"], _weights(d / "weights.pt")["model"])
    assert json.loads((full / "log.json").read_text()) == json.loads((d / "log.json").read_text())
