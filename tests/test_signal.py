"""stella.eval.signal: patch ground truth, kept shares, the per-clip frame (smoke), the pre-training curve."""
import math

import pytest
import torch

from stella.eval.signal import (active_patches, kept_share, object_coverage, object_patches, pretrain_curve,
                                signal_frame, signal_summary, sounding_mask)


def test_object_and_active_patches_hand_computed():
    mask = torch.zeros(1, 2, 4, 4, dtype=torch.bool)
    mask[0, 0, 0, 0] = True                 # one pixel in patch (frame 0, row 0, col 0)
    mask[0, 1, 2:, 3] = True                # frame 1, patch (1, 1)
    assert object_patches(mask, 2).tolist() == [[True, False, False, False, False, False, False, True]]
    active = torch.tensor([[0, 0, 1, 1, 1, 0, 0, 0]], dtype=torch.bool)   # tokens of 2 frames: 0, 1, 0.5, 0
    assert active_patches(active, (4, 2), 2).tolist() == [[False, False, True, True, True, True, False, False]]


def test_sounding_mask_keeps_frames_whose_segment_is_active():
    mask = torch.ones(1, 4, 2, 2, dtype=torch.bool)
    active = torch.tensor([[0, 0, 1, 1, 0, 1, 1, 1]], dtype=torch.bool)   # segments: 0, 1, 0.5, 1
    assert sounding_mask(mask, active)[0].flatten(1).all(1).tolist() == [False, True, True, True]


def test_kept_share():
    target = torch.tensor([[True, True, False, False], [False, False, False, False]])
    idx = torch.tensor([[0, 2], [1, 3]])
    share = kept_share(idx, target)
    assert share[0] == 0.5 and math.isnan(share[1])
    weights = torch.tensor([[0.25, 0.75, 0.0, 0.0]])
    assert float(kept_share(torch.tensor([[1, 3]]), weights)[0]) == 0.75
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    mask[0, 0, :2, :1] = True
    assert object_coverage(mask, 2).tolist() == [[0.5, 0.0, 0.0, 0.0]]


def test_signal_frame_at_smoke(one_thread):
    from stella.config import load_config
    from stella.data import build_benchmark
    from stella.models import build_model

    cfg = load_config("smoke")
    model, avm = build_model(cfg)
    ds = build_benchmark(cfg).tasks[0].eval
    fr = signal_frame(model, avm, ds, cfg)
    assert len(fr) == len(ds) and fr["object_patches"].between(0, 1).all()
    for k in ("stella", "topk", "random"):
        assert fr[f"kept_object_{k}"].between(0, 1).all() and fr[f"kept_sounding_{k}"].dropna().between(0, 1).all()
    s = signal_summary(fr)
    assert 0 <= s["auc_avm_object"] <= 1 and s["clips"] == len(ds)
    assert fr.equals(signal_frame(model, avm, ds, cfg))                    # seeded draws
    many = signal_frame(model, avm, ds, cfg, draws=3)                      # sampled shares averaged over draws
    assert many["kept_sounding_topk"].equals(fr["kept_sounding_topk"])
    assert many["kept_sounding_majority_stella"].dropna().between(0, 1).all()
    assert not many["kept_active_stella"].equals(fr["kept_active_stella"])
    with pytest.raises(ValueError):
        signal_frame(model, avm, ds, cfg, draws=0)


def test_pretrain_curve_smooths_per_loss():
    log = [{"step": i + 1, "phase": "joint", "rec_a": float(i), "avm": 1.0} for i in range(4)]
    log.append({"step": 5, "phase": "avm", "avm": 3.0})
    df = pretrain_curve(log, window=2)
    rec = df[df["loss"] == "rec_a"]["smoothed"].tolist()
    assert rec == [0.0, 0.5, 1.5, 2.5]
    assert set(df["phase"]) == {"joint", "avm"} and not df["value"].isna().any()
    with pytest.raises(ValueError):
        pretrain_curve([])
