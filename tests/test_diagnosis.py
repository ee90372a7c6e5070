"""stella.eval.diagnosis: RCA's correlation scores and exclusions against the ground truth, on a tiny model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from stella.config import load_config
from stella.continual import run_experiment
from stella.eval.diagnosis import c_values, memory_queries, pooled_query_bank, rca_frame, rca_summary


def test_without_past_queries_rca_excludes_nothing(tiny):
    cfg, model, avm, bench = tiny
    ds = bench.tasks[1].eval
    f = rca_frame(model, avm, ds, cfg, draws=2)
    assert len(f) == 2 * len(ds) and set(f.temperature) == {"beta", "sqrt_d"} and set(f.past) == {"none"}
    for c in ("C_sounding", "C_other_video", "C_active", "C_silent_audio"):
        assert np.nanmax(f[c].to_numpy()) == 0.0
    assert f["sounding_patches"].between(0, 1).all() and f["judged_sounding"].dropna().between(0, 1).all()
    for s in ("rca", "stella", "lpis", "random"):
        assert f[f"kept_sounding_{s}"].dropna().between(0, 1).all()


def test_past_queries_give_c_in_unit_interval_and_the_two_temperatures_differ(tiny):
    cfg, model, avm, bench = tiny
    bank = pooled_query_bank(model, avm, bench.tasks[0].eval, cfg)
    H, d = cfg.model.num_heads, cfg.model.embed_dim // cfg.model.num_heads
    assert bank[0].shape == (len(bench.tasks[0].eval), H, d) == bank[1].shape
    ds = bench.tasks[1].eval
    past = {"none": None, "memory": bank}
    f = rca_frame(model, avm, ds, cfg, past=past, draws=2, seed=3)
    mem = f[f.past == "memory"]
    assert len(mem) == 2 * len(ds)
    assert mem[["C_sounding", "C_other_video", "C_active", "C_silent_audio"]].stack().between(0, 1).all()
    by_t = mem.groupby("temperature")[["C_other_video", "C_silent_audio"]].mean()
    assert not np.allclose(by_t.loc["beta"].to_numpy(), by_t.loc["sqrt_d"].to_numpy())
    summary = rca_summary(f)
    assert len(summary) == 4 and {"past", "temperature", "C_sounding", "kept_sounding_rca"} <= set(summary.columns)
    # the per-patch values agree with the per-clip means (same generator seed, same pairing of past queries)
    cv = c_values(model, avm, ds, cfg, past=past, seed=3)
    video = cv[(cv.modality == "video") & (cv.past == "memory") & (cv.temperature == "beta")]
    per_clip = video[video.target].groupby("clip")["C"].mean()
    clip_rows = mem[mem.temperature == "beta"].reset_index(drop=True)
    want = clip_rows["C_sounding"].dropna()
    assert np.allclose(per_clip.loc[want.index].to_numpy(), want.to_numpy())
    judged = video.groupby("clip")["C"].apply(lambda c: int((c > 0).sum()))
    assert (judged == round(cfg.num_video_patches * cfg.selection.rho_v)).all()    # RCA judges the kappa kept keys


def test_memory_queries_from_a_stella_run(tmp_path, one_thread):
    cfg = load_config("smoke", ["continual.method=stella"])
    rd = run_experiment(cfg, results_dir=str(tmp_path))
    q_a, q_v = memory_queries(rd.path)
    H, d = cfg.model.num_heads, cfg.model.embed_dim // cfg.model.num_heads
    assert q_a.shape == q_v.shape == (cfg.continual.memory_size, H, d) and torch.isfinite(q_a).all()
    der = run_experiment(load_config("smoke", ["continual.method=derpp"]), results_dir=str(tmp_path))
    with pytest.raises(ValueError, match="no pooled queries"):
        memory_queries(der.path)
    with pytest.raises(FileNotFoundError):
        memory_queries(tmp_path / "nope")
