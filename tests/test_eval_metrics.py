"""Pure evaluation functions against hand-computed values (stella.eval)."""
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

matplotlib.use("Agg")

from stella.eval import attention, gap, localization as loc, metrics, probes, retrieval

NAN = float("nan")
ACC = np.array([[50.0, NAN, NAN],
                [40.0, 60.0, NAN],
                [30.0, 45.0, 70.0]])


# ---------------------------------------------------------------- A and F (section 5.1)
def test_average_accuracy_and_forgetting_hand_computed():
    assert metrics.average_accuracy(ACC) == pytest.approx((30 + 45 + 70) / 3)
    # task 0: max(50, 40) - 30 = 20; task 1: 60 - 45 = 15
    assert metrics.forgetting(ACC) == pytest.approx(17.5)
    np.testing.assert_allclose(metrics.per_task_forgetting(ACC), [20.0, 15.0])


def test_forgetting_ignores_checkpoints_before_a_task_was_learned():
    acc = ACC.copy()
    acc[0, 1], acc[0, 2], acc[1, 2] = 99.0, 99.0, 99.0   # the authors' script would count acc[0, 1]
    assert metrics.forgetting(acc) == pytest.approx(17.5)
    assert metrics.average_accuracy(acc) == pytest.approx(145 / 3)


def test_forgetting_can_be_negative():
    acc = np.array([[10.0, NAN, NAN], [20.0, 30.0, NAN], [25.0, 20.0, 40.0]])
    # task 0: max(10, 20) - 25 = -5; task 1: 30 - 20 = 10
    assert metrics.forgetting(acc) == pytest.approx(2.5)
    assert metrics.average_accuracy(acc) == pytest.approx(85 / 3)


def test_metric_input_errors():
    with pytest.raises(ValueError, match="square"):
        metrics.average_accuracy(np.zeros((2, 3)))
    bad = ACC.copy()
    bad[2, 1] = NAN
    with pytest.raises(ValueError, match=r"acc\[2, 1\]"):
        metrics.forgetting(bad)
    with pytest.raises(ValueError, match="at least 2 tasks"):
        metrics.forgetting(np.array([[42.0]]))
    assert metrics.average_accuracy([[42.0]]) == 42.0


def test_accuracy_matrix_from_rows_and_duplicates():
    rows = pd.DataFrame({"after_task": [0, 1, 1], "task": [0, 0, 1], "value": [50.0, 40.0, 60.0]})
    acc = metrics.accuracy_matrix(rows)
    np.testing.assert_array_equal(acc, [[50.0, NAN], [40.0, 60.0]])
    with pytest.raises(ValueError, match="duplicate"):
        metrics.accuracy_matrix(pd.concat([rows, rows.iloc[:1]]))
    table = metrics.summarize_matrices({"x": acc, "one": np.array([[3.0]])})
    assert table.loc[0, "A"] == 50.0 and table.loc[0, "F"] == 10.0 and math.isnan(table.loc[1, "F"])


# ---------------------------------------------------------------- retrieval
SIM = torch.tensor([[0.9, 0.1, 0.2, 0.3],    # gt 0: rank 1
                    [0.5, 0.4, 0.6, 0.1],    # gt 1: 0.5, 0.6 and itself are >= 0.4 -> rank 3
                    [0.2, 0.2, 0.2, 0.2]])   # gt 2: all tied -> rank 4 (pessimistic)
GT = torch.tensor([0, 1, 2])


def test_ranks_recall_and_median_rank_with_ties():
    assert retrieval.ranks(SIM, GT).tolist() == [1, 3, 4]
    rec = retrieval.recall_at_k(SIM, GT, ks=(1, 3, 4))
    assert rec == pytest.approx({"R@1": 100 / 3, "R@3": 200 / 3, "R@4": 100.0})
    assert retrieval.median_rank(SIM, GT) == 3.0
    assert retrieval.ranks(torch.tensor([[1.0, 1.0, 0.0]]), torch.tensor([1])).tolist() == [2]


def test_recall_input_errors():
    with pytest.raises(ValueError, match="NaN"):
        retrieval.recall_at_k(torch.tensor([[NAN, 0.0]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="empty"):
        retrieval.recall_at_k(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="gt indices"):
        retrieval.recall_at_k(SIM, torch.tensor([0, 1, 7]))


def _emb():
    e = torch.eye(4)
    return {0: {"z_a": e[[0, 1]], "z_v": e[[0, 1]]},
            1: {"z_a": e[[2, 0]], "z_v": e[[2, 3]]}}   # task-1 clip 1's audio equals task-0 clip 0's


def test_retrieval_scores_use_the_gallery_of_all_tasks():
    df = retrieval.retrieval_scores(_emb())
    assert list(df.columns) == ["task", "direction", "metric", "value"]
    assert len(df) == 2 * 2 * 5
    v = df.set_index(["task", "direction", "metric"])["value"]
    assert v[(0, "A→V", "R@1")] == 100.0
    assert v[(1, "A→V", "R@1")] == 50.0          # audio e1 -> gt e4 ranks 4th in the joint gallery
    assert v[(1, "A→V", "MdR")] == 2.5
    assert v[(0, "V→A", "R@1")] == 50.0          # video e1 ties with task-1 audio e1 -> rank 2
    assert v[(0, "V→A", "R@5")] == 100.0
    assert v[(1, "V→A", "avg")] == pytest.approx((50 + 100 + 100) / 3)
    flat = {"z_a": torch.cat([_emb()[0]["z_a"], _emb()[1]["z_a"]]),
            "z_v": torch.cat([_emb()[0]["z_v"], _emb()[1]["z_v"]]), "task": torch.tensor([0, 0, 1, 1])}
    pd.testing.assert_frame_equal(retrieval.retrieval_scores(flat), df)


def test_retrieval_scores_reject_nan_and_empty():
    emb = _emb()
    emb[1]["z_v"] = emb[1]["z_v"].clone()
    emb[1]["z_v"][0, 0] = NAN
    with pytest.raises(ValueError, match="task 1 z_v.*NaN"):
        retrieval.retrieval_scores(emb)
    with pytest.raises(ValueError, match="empty"):
        retrieval.retrieval_scores({})
    with pytest.raises(ValueError, match="non-empty"):
        retrieval.retrieval_scores({0: {"z_a": torch.zeros(0, 4), "z_v": torch.zeros(0, 4)}})


def test_accuracy_matrices_and_table1_summary():
    after0 = retrieval.retrieval_scores({0: _emb()[0]}).assign(after_task=0)
    after1 = retrieval.retrieval_scores(_emb()).assign(after_task=1)
    accs = retrieval.accuracy_matrices([after0, after1])
    assert set(accs) == {(d, m) for d in ("A→V", "V→A") for m in ("R@1", "R@5", "R@10", "avg", "MdR")}
    np.testing.assert_array_equal(accs[("V→A", "R@1")], [[100.0, NAN], [50.0, 50.0]])
    table = retrieval.summarize(accs)
    assert list(table.index) == ["A→V", "V→A"]
    assert table.shape == (2, 8) and ("MdR", "A") not in table.columns
    assert table.loc["V→A", ("R@1", "A")] == 50.0
    assert table.loc["V→A", ("R@1", "F")] == 50.0
    assert table.loc["A→V", ("R@1", "F")] == 0.0
    for d in ("A→V", "V→A"):
        for s_ in ("A", "F"):
            assert table.loc[d, ("avg", s_)] == pytest.approx(np.mean([table.loc[d, (m, s_)] for m in ("R@1", "R@5", "R@10")]))


def test_avg_forgetting_is_the_mean_of_the_recall_forgettings():
    # Table 1's Avg column: F of Finetune A→V is (4.16 + 11.98 + 15.35) / 3 = 10.50, not F of the mean recall
    acc = {("A→V", "R@1"): np.array([[10.0, NAN], [5.0, 8.0]]), ("A→V", "R@5"): np.array([[20.0, NAN], [26.0, 9.0]])}
    acc[("A→V", "avg")] = (acc[("A→V", "R@1")] + acc[("A→V", "R@5")]) / 2
    table = retrieval.summarize(acc, metrics=("R@1", "R@5", "avg"))
    assert table.loc["A→V", ("R@1", "F")] == 5.0 and table.loc["A→V", ("R@5", "F")] == -6.0
    assert table.loc["A→V", ("avg", "F")] == pytest.approx(-0.5)          # F of the mean recall would be -0.5 too here
    acc[("A→V", "R@5")] = np.array([[20.0, NAN], [14.0, 9.0]])
    acc[("A→V", "avg")] = (acc[("A→V", "R@1")] + acc[("A→V", "R@5")]) / 2
    table = retrieval.summarize(acc, metrics=("R@1", "R@5", "avg"))
    assert table.loc["A→V", ("avg", "F")] == pytest.approx((5.0 + 6.0) / 2)
    assert table.loc["A→V", ("avg", "A")] == pytest.approx((6.5 + 11.5) / 2)


# ---------------------------------------------------------------- modality gap
def test_modality_gap_hand_computed():
    za = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    zv = torch.tensor([[0.0, 1.0], [0.0, 2.0]])
    assert gap.modality_gap(za, zv) == pytest.approx(math.sqrt(2))
    assert gap.modality_gap(torch.eye(2), torch.eye(2)) == pytest.approx(0.0)
    assert gap.modality_gap(torch.eye(2), torch.tensor([[-1.0, 0.0]])) == pytest.approx(math.sqrt(2.5))
    with pytest.raises(ValueError, match="NaN"):
        gap.modality_gap(torch.tensor([[NAN, 0.0]]), zv)
    with pytest.raises(ValueError, match="non-empty"):
        gap.modality_gap(torch.zeros(0, 2), zv)


def test_modality_gaps_and_decline():
    rows = gap.modality_gaps({0: {"z_a": torch.eye(2), "z_v": torch.eye(2)},
                              1: {"z_a": torch.tensor([[1.0, 0.0]]), "z_v": torch.tensor([[0.0, 1.0]])}},
                             after_task=1)
    assert rows["gap"].tolist() == pytest.approx([0.0, math.sqrt(2)]) and set(rows["after_task"]) == {1}
    g = np.array([[0.8, NAN, NAN], [0.7, 0.9, NAN], [0.5, 0.6, 1.0]])
    assert gap.gap_decline(g) == pytest.approx(((0.8 - 0.5) + (0.9 - 0.6)) / 2)
    tidy = pd.DataFrame([{"after_task": t, "task": i, "gap": g[t, i]} for t in range(3) for i in range(t + 1)])
    assert gap.gap_decline(tidy) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="at least 2 tasks"):
        gap.gap_decline(np.array([[1.0]]))


def test_umap_2d_is_seeded_and_labelled():
    g = torch.Generator().manual_seed(0)
    za, zv = torch.randn(12, 6, generator=g), torch.randn(12, 6, generator=g) + 3
    a, b = gap.umap_2d(za, zv, seed=3), gap.umap_2d(za, zv, seed=3)
    assert list(a.columns) == ["x", "y", "modality", "item"] and len(a) == 24
    assert (a["modality"] == "audio").sum() == 12
    np.testing.assert_array_equal(a[["x", "y"]].to_numpy(), b[["x", "y"]].to_numpy())


# ---------------------------------------------------------------- localisation
def test_binarize_iou_and_pointing_hand_computed():
    maps = torch.tensor([[[[0.9, 0.1], [0.6, 0.0]]],        # normalised: 1, .11 / .67, 0
                         [[[0.3, 0.3], [0.3, 0.3]]]])       # constant: everything predicted
    masks = torch.tensor([[[[True, True], [False, False]]],
                          [[[False, False], [False, True]]]])
    assert loc.binarize(maps).tolist() == [[[[True, False], [True, False]]], [[[True, True], [True, True]]]]
    assert loc.iou(loc.binarize(maps), masks).tolist() == pytest.approx([1 / 3, 1 / 4])
    assert loc.pointing_game(maps, masks).tolist() == pytest.approx([1.0, 0.25])
    df = loc.per_clip_localization(maps, masks)
    assert list(df.columns) == ["clip", "iou", "pointing"] and df["iou"].tolist() == pytest.approx([1 / 3, 0.25])
    both_empty = loc.iou(torch.zeros(1, 1, 2, 2, dtype=torch.bool), torch.zeros(1, 1, 2, 2, dtype=torch.bool))
    assert both_empty.tolist() == [1.0]


def test_binarize_median_rule_of_lvs():
    maps = torch.tensor([[[[0.9, 0.1], [0.6, 0.0]]],        # sorted 0, .1, .6, .9: cut = sorted[2] = .6
                         [[[0.3, 0.3], [0.3, 0.3]]]])       # constant: nothing is above the median
    assert loc.binarize(maps, "median").tolist() == [[[[True, False], [False, False]]], [[[False, False], [False, False]]]]
    peaked = torch.cat([torch.linspace(0.0, 0.1, 15), torch.ones(1)]).view(1, 1, 4, 4)
    # min-max keeps the one peak pixel, the median rule the 7 values above sorted[8]
    assert int(loc.binarize(peaked).sum()) == 1 and int(loc.binarize(peaked, "median").sum()) == 7
    with pytest.raises(ValueError, match="median"):
        loc.binarize(maps, "mean")


def test_pointing_skips_frames_without_mask():
    maps = torch.tensor([[[[1.0, 0.0]], [[1.0, 0.0]]]])     # (1, T=2, 1, 2)
    masks = torch.tensor([[[[True, False]], [[False, False]]]])
    assert loc.pointing_game(maps, masks).tolist() == [1.0]
    assert math.isnan(loc.pointing_game(maps, torch.zeros_like(masks)).item())


def test_ciou_and_auc_hand_computed():
    assert loc.ciou([1 / 3, 0.25, 0.6, 1.0]) == 0.5
    assert loc.iou_auc([1.0]) == pytest.approx(1.0)
    assert loc.iou_auc([0.0]) == pytest.approx(0.025)
    # rate 1 up to tau = 0.5, then 0.5: 0.5 + (1 + .5)/2 * .05 + .45 * .5
    assert loc.iou_auc([0.5, 1.0]) == pytest.approx(0.7625)
    s = loc.localization_summary(pd.DataFrame({"iou": [0.5, 1.0], "pointing": [1.0, 0.0]}))
    assert s.loc[0, "cIoU"] == 1.0 and s.loc[0, "pointing"] == 0.5 and s.loc[0, "mIoU"] == 0.75
    with pytest.raises(ValueError, match="empty"):
        loc.ciou([])
    with pytest.raises(ValueError, match="must match"):
        loc.per_clip_localization(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 4, 4, dtype=torch.bool))


def test_attention_drift_cosine_and_js():
    before = torch.tensor([[[1.0, 0.0]], [[0.5, 0.5]], [[1.0, 2.0]]])
    after = torch.tensor([[[0.0, 1.0]], [[1.0, 0.0]], [[2.0, 4.0]]])
    cos = loc.attention_drift(before, after, "cosine")
    assert cos.tolist() == pytest.approx([1.0, 1 - 1 / math.sqrt(2), 0.0], abs=1e-12)
    js = loc.attention_drift(before, after, "js")
    # p = (.5, .5), q = (1, 0): JS = .5 KL(p|m) + .5 KL(q|m), m = (.75, .25)
    kl_p = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    kl_q = math.log2(1 / 0.75)
    assert js.tolist() == pytest.approx([1.0, math.sqrt(0.5 * kl_p + 0.5 * kl_q), 0.0], abs=1e-9)
    with pytest.raises(ValueError, match="kind"):
        loc.attention_drift(before, after, "l2")
    with pytest.raises(ValueError, match="shapes"):
        loc.attention_drift(before, after[:2])


# ---------------------------------------------------------------- attention maps
def test_avm_map_is_eq2_importance_on_the_frame_major_grid():
    A_v = torch.zeros(2, 3, 4, 8)                            # (B, H, M, N), video_grid (2, 2, 2)
    A_v[0, :, :, 5] = 10.0                                   # patch 5 = frame 1, row 0, col 1
    maps = attention.avm_attention_maps(A_v, (2, 2, 2))
    assert maps.shape == (2, 2, 2, 2)
    assert maps.flatten(1).sum(1).tolist() == pytest.approx([1.0, 1.0])
    assert maps[1].flatten().tolist() == pytest.approx([1 / 8] * 8)
    assert maps[0].argmax().item() == 5 and maps[0, 1, 0, 1] > 0.99
    with pytest.raises(ValueError, match="video_grid"):
        attention.avm_attention_maps(A_v, (2, 2, 3))


def test_denormalize_video_inverts_normalize_in_display_layout():
    from stella.data.video import normalize_video

    x = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))          # (T, 3, H, W) in [0, 1]
    out = attention.denormalize_video(normalize_video(x))
    assert out.shape == (2, 4, 5, 3)                                               # (T, H, W, 3)
    assert torch.allclose(out, x.permute(0, 2, 3, 1), atol=1e-6)


def test_similarity_map_and_upsampling():
    e = torch.eye(3)
    u_a = e[[0, 0, 1]][None] * torch.tensor([[[1.0], [1.0], [0.0]]])   # mean audio token along e0
    u_v = e[[1, 1, 1, 0]][None]                                         # token 3 aligned with the audio
    m = attention.similarity_maps(u_a, u_v, (1, 2, 2))
    assert m.flatten().tolist() == pytest.approx([0.0, 0.0, 0.0, 1.0])
    up = attention.upsample_to_frames(m, (4, 4), mode="nearest")
    assert up.shape == (1, 1, 4, 4) and up[0, 0, 3, 3] == 1.0 and up[0, 0, 0, 0] == 0.0
    fig = attention.plot_attention(torch.zeros(2, 3, 4, 4), torch.rand(2, 2, 2, generator=torch.Generator().manual_seed(0)),
                                   mask=torch.ones(2, 4, 4, dtype=torch.bool))
    assert len(fig.axes) == 2


# ---------------------------------------------------------------- probe helpers
def test_time_features_align_audio_time_tokens_with_frames():
    u_a = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 4, 1)          # audio grid (2 time, 2 freq)
    u_v = torch.tensor([10.0, 20.0]).view(1, 2, 1)                  # video grid (1, 1, 2)
    assert probes.time_features(u_a, u_v, (2, 2), (1, 1, 2))[0].tolist() == [[1.5, 15.0], [3.5, 15.0]]
    u_a = torch.arange(4.0).view(1, 4, 1)                           # 4 time tokens, 1 freq
    u_v = torch.tensor([10.0, 20.0]).view(1, 2, 1)                  # 2 frames of 1 patch
    assert probes.time_features(u_a, u_v, (4, 1), (2, 1, 1))[0, :, 1].tolist() == [10.0, 10.0, 20.0, 20.0]


def test_event_targets_pool_active_frames():
    active = torch.tensor([[True, True, False, True], [False, False, False, True]])
    assert probes.event_targets(active, torch.tensor([2, 0]), 2).tolist() == [[3, 3], [0, 1]]
    with pytest.raises(ValueError, match="time tokens"):
        probes.event_targets(active, torch.tensor([2, 0]), 3)


def test_train_probe_separable_and_seeded():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, generator=g)
    y = (x[:, 0] > 0).long()
    r1 = probes.train_probe(x[:40], y[:40], x[40:], y[40:], 2, torch.Generator().manual_seed(1), epochs=60)
    r2 = probes.train_probe(x[:40], y[:40], x[40:], y[40:], 2, torch.Generator().manual_seed(1), epochs=60)
    assert r1 == r2 and r1["test_accuracy"] >= 90.0
    mlp = probes.train_probe(x[:40], y[:40], x[40:], y[40:], 2, torch.Generator().manual_seed(1), hidden=16, epochs=60)
    assert mlp["train_accuracy"] >= 90.0
    with pytest.raises(ValueError, match="NaN"):
        probes.train_probe(x[:40] * NAN, y[:40], x[40:], y[40:], 2, g)
    with pytest.raises(ValueError, match="never occur"):
        probes._label_map(torch.tensor([0, 1]), torch.tensor([2]))


def test_chance_recall_matches_random_rankings():
    ch = retrieval.chance_recall(128)
    assert ch["R@1"] == pytest.approx(100 / 128) and ch["R@10"] == pytest.approx(1000 / 128)
    assert ch["avg"] == pytest.approx((1 + 5 + 10) * 100 / 128 / 3)
    assert retrieval.chance_recall(4)["R@5"] == 100.0
    g = torch.Generator().manual_seed(0)
    sim = torch.rand(4000, 50, generator=g, dtype=torch.float64)
    got = retrieval.recall_at_k(sim, torch.randint(0, 50, (4000,), generator=g), (1, 5, 10))
    for k, v in retrieval.chance_recall(50).items():
        if k != "avg":
            assert abs(got[k] - v) < 2.5, (k, got[k], v)      # 4000 random queries: binomial sd <= 0.8 %p
    with pytest.raises(ValueError, match="gallery_size"):
        retrieval.chance_recall(0)
