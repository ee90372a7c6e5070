import json
import os

import pytest
import torch

from stella.config import load_config
from stella.store import RunStore, atomic_write_json


def test_run_is_computed_once_and_shared(tmp_path):
    store, calls = RunStore(tmp_path), []
    cfg = load_config("smoke")

    def compute(rd):
        calls.append(1)
        rd.save_json("metrics", {"x": 1.5})
        rd.save_tensors("acc", {"m": torch.eye(2)})

    rd1 = store.run(cfg, compute)
    rd2 = store.run(cfg, compute)
    assert calls == [1] and rd1.path == rd2.path and rd2.complete
    assert rd2.load_json("metrics") == {"x": 1.5}
    assert torch.equal(rd2.load_tensors("acc")["m"], torch.eye(2))
    assert store.runs()[0]["complete"] is True


def test_crash_leaves_run_incomplete_and_recomputes(tmp_path):
    store = RunStore(tmp_path)
    cfg = load_config("smoke")

    def crash(rd):
        rd.save_json("partial", {"a": 1})
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        store.run(cfg, crash)
    assert not store.dir(cfg).complete
    rd = store.run(cfg, lambda rd: rd.save_json("metrics", {"ok": True}))
    assert rd.complete and rd.load_json("metrics") == {"ok": True}


def test_atomic_write_never_leaves_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "m.json"
    atomic_write_json(target, {"v": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_run_dir_of_another_config_is_rejected(tmp_path):
    store = RunStore(tmp_path)
    cfg = load_config("smoke")
    rd = store.dir(cfg)
    meta = json.loads((rd.path / "config.json").read_text())
    meta["config"]["continual"]["lr"] = 123.0
    (rd.path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="another config"):
        store.dir(cfg)
    with pytest.raises(FileNotFoundError, match="no result named"):
        RunStore(tmp_path / "x").dir(cfg).load_json("missing")


def test_cached_frame_computes_once_per_params(tmp_path):
    import math

    import pandas as pd

    from stella.config import load_config
    from stella.report.runs import cached_frame
    from stella.store import RunStore

    rd = RunStore(tmp_path).dir(load_config("smoke"))
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"metric": ["acc", "nan"], "value": [0.5, float("nan")]})
    a = cached_frame(rd, "probe", {"epochs": 3}, compute)
    b = cached_frame(rd, "probe", {"epochs": 3}, compute)
    assert len(calls) == 1 and list(b.columns) == ["metric", "value"]
    assert b["value"][0] == 0.5 and math.isnan(b["value"][1]) and a.equals(b)
    cached_frame(rd, "probe", {"epochs": 4}, compute)
    assert len(calls) == 2


def test_gallery_size_counts_every_tasks_eval_clips():
    from stella.config import load_config
    from stella.report.runs import gallery_size

    d = load_config("smoke").data
    assert gallery_size("smoke") == d.num_tasks * d.classes_per_task * d.eval_per_class
