"""The book driver's record of its phases, the thread pins of its kernels, and the fused-Adam switch
(off by default, outside the run key unless set)."""
import json
import os

import pytest

from stella.builder import driver
from stella.config import load_config
from stella.report.runs import run_config


def test_kernels_get_the_presets_threads_and_the_env_is_restored(monkeypatch):
    assert driver.kernel_threads("cpu") == load_config("cpu").run.num_threads == 1
    assert driver.kernel_threads("paper") == 0
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    with driver._thread_env(1):
        assert [os.environ[v] for v in driver.THREAD_VARS] == ["1"] * len(driver.THREAD_VARS)
    assert os.environ["OMP_NUM_THREADS"] == "7" and "MKL_NUM_THREADS" not in os.environ
    with driver._thread_env(0):                       # 0: the libraries' default, nothing set
        assert os.environ["OMP_NUM_THREADS"] == "7" and "MKL_NUM_THREADS" not in os.environ


def test_timings_file(tmp_path):
    t = {"preset": "smoke", "jobs": 2, "phases": {"runs": 1.5}, "notebooks": {"a": 2.0}, "runs": {}}
    driver.write_timings(tmp_path, t, t_build=0.0)
    saved = json.loads(driver.timings_path(tmp_path, "smoke").read_text())
    assert saved["phases"]["runs"] == 1.5 and saved["phases"]["total"] > 0 and saved["notebooks"] == {"a": 2.0}


@pytest.mark.parametrize("preset", ["smoke", "cpu", "paper"])
def test_fused_adam_is_outside_the_key_unless_set(preset):
    base = run_config(preset, "derpp", 1)
    assert "fused_adam" not in base.key_dict()["continual"] and base.continual.fused_adam is False
    assert run_config(preset, "derpp", 1, ["continual.fused_adam=false"]).digest() == base.digest()
    fused = run_config(preset, "derpp", 1, ["continual.fused_adam=true"])
    assert fused.key_dict()["continual"]["fused_adam"] is True and fused.digest() != base.digest()


def test_fused_adam_trains_and_builds_fused_optimisers(tmp_path):
    from stella.continual.trainer import Trainer
    from stella.store import RunStore

    for fused in (False, True):
        cfg = run_config("smoke", "stella", 1, [f"continual.fused_adam={str(fused).lower()}", "pretrain.source=none"])
        tr = Trainer(cfg, RunStore(tmp_path).dir(cfg))
        for opt in (tr.ctx.opt, tr.ctx.avm_opt):
            assert bool(opt.defaults.get("fused")) is fused
        out = tr.run()
        assert out["meta"]["steps"] > 0


def test_store_reads_back_runs_with_and_without_the_switch(tmp_path):
    from stella.store import RunStore, atomic_write_json

    store = RunStore(tmp_path)
    for sets in ([], ["continual.fused_adam=true"]):
        cfg = run_config("smoke", "derpp", 1, sets)
        store.dir(cfg)
        assert store.dir(cfg).path.name == cfg.digest()            # its own config.json compares equal
    cfg = run_config("smoke", "derpp", 2)
    old = cfg.to_dict()
    assert "fused_adam" not in old["continual"]                     # at its default it is stored as runs before it were
    atomic_write_json(tmp_path / cfg.digest() / "config.json", {"config": old, "key": cfg.digest()})
    assert store.dir(cfg).path.name == cfg.digest()
