"""The RCA diagnosis on judged patches only, and how alike the pooled queries of different classes are
(stella.eval.diagnosis, issue 30 item 1)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from stella.eval.diagnosis import c_values, pooled_query_bank, query_similarity, rca_frame, similarity_frame


def test_judged_means_leave_the_unjudged_zeros_out(tiny):
    cfg, model, avm, bench = tiny
    ds = bench.tasks[1].eval
    past = {"none": None, "memory": pooled_query_bank(model, avm, bench.tasks[0].eval, cfg)}
    f = rca_frame(model, avm, ds, cfg, past=past, draws=1, seed=3)
    none, mem = f[f.past == "none"], f[f.past == "memory"]
    for group in ("sounding", "other_video", "active", "silent_audio"):
        assert np.nanmax(none[f"C_{group}_judged"].to_numpy()) == 0.0                 # no past: C = 0 everywhere
        every, judged = mem[f"C_{group}"].to_numpy(), mem[f"C_{group}_judged"].to_numpy()
        both = ~np.isnan(every) & ~np.isnan(judged)
        assert both.any() and np.all(judged[both] >= every[both] - 1e-12)           # zeros only pull the mean down
    # the judged mean is the mean of C over the group's patches with C > 0 (C > 0 exactly on the judged kappa)
    cv = c_values(model, avm, ds, cfg, past=past, seed=3)
    video = cv[(cv.modality == "video") & (cv.past == "memory") & (cv.temperature == "beta")]
    per_clip = video[video.target & (video.C > 0)].groupby("clip")["C"].mean()
    rows = mem[mem.temperature == "beta"].reset_index(drop=True)["C_sounding_judged"].dropna()
    assert np.allclose(per_clip.loc[rows.index].to_numpy(), rows.to_numpy())


def test_query_similarity_on_hand_made_queries():
    H, d = 2, 4
    a, b = torch.zeros(H, d), torch.zeros(H, d)
    a[:, 0], b[:, 1] = 1.0, 1.0                                                      # two orthogonal classes
    q = torch.stack([a, a * 2, b, b * 3])
    s = query_similarity(q, torch.tensor([0, 0, 1, 1]))
    assert s["same"] == pytest.approx(1.0) and s["different"] == pytest.approx(0.0)
    assert (s["pairs_same"], s["pairs_different"]) == (2, 4)
    shared = query_similarity(torch.stack([a, a, a]), torch.tensor([0, 1, 2]))      # one cue for every class
    assert shared["different"] == pytest.approx(1.0) and np.isnan(shared["same"])
    unlabelled = query_similarity(q)
    assert unlabelled["pairs_different"] == 6 and unlabelled["different"] == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="labels"):
        query_similarity(q, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="R >= 2"):
        query_similarity(q[:1])


def test_similarity_frame_of_a_labelled_bank(tiny):
    cfg, model, avm, bench = tiny
    qa, qv, labels = pooled_query_bank(model, avm, bench.tasks[0].eval, cfg, labels=True)
    assert labels.tolist() == list(bench.tasks[0].eval.labels)
    f = similarity_frame({"bank": (qa, qv, labels), "memory": (qa, qv)})
    assert list(f["queries"]) == ["bank", "bank", "memory", "memory"] and list(f["modality"]) == ["audio", "video"] * 2
    assert f[["different", "same"]].iloc[:2].stack().between(-1, 1).all() and f["same"].iloc[2:].isna().all()
