"""The helpers of stella.report behind notebooks 00, 01, 06, 07 (the notebooks run in test_book.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from stella.report import patches as P, plots
from stella.report.chapters import benchmark as B, modality_gap as G, localization as L
from stella.report.display import yes_no
from stella.report.runs import quiet

REPO = Path(__file__).resolve().parent.parent


def test_video_patch_pixels_marks_exactly_the_selected_patches():
    grid, p = (2, 2, 3), 4
    m = P.video_patch_pixels(torch.tensor([0, 5, 7]), grid, p)
    assert m.shape == (2, 8, 12) and m.dtype == torch.bool
    assert int(m.sum()) == 3 * p * p
    assert m[0, :4, :4].all() and m[0, 4:8, 8:12].all() and m[1, :4, 4:8].all()
    assert not m[1, 4:, :].any()


def test_audio_patch_grid_is_time_major():
    g = P.audio_patch_grid(torch.tensor([0, 3, 5]), (3, 2))
    assert g.tolist() == [[True, False], [False, True], [False, True]]


def test_chunk_status_chosen_pruned_and_not_chosen():
    # grid 5 time tokens x 2 freq tokens, chunks of 2 tokens: [0,1], [2,3], [4]
    idx = torch.tensor([4, 5, 6, 7, 8])          # chunk 1 complete, chunk 2 (token 4) half kept
    st = P.chunk_status(idx, (5, 2), 2)
    assert st["status"].tolist() == ["not chosen", "chosen", "pruned tail"]
    assert st["patches"].tolist() == [4, 4, 2] and st["kept"].tolist() == [0, 4, 1]
    assert st["last token"].tolist() == [1, 3, 4]
    # with F: a chunk whose only missing patch was excluded still counts as chosen
    ex = torch.zeros(10, dtype=torch.bool)
    ex[[0, 9]] = True
    st = P.chunk_status(torch.tensor([1, 2, 3, 8]), (5, 2), 2, excluded=ex, chunk_order=torch.tensor([2, 0, 1]))
    assert st["status"].tolist() == ["chosen", "not chosen", "chosen"]
    assert st["excluded (F)"].tolist() == [1, 0, 1] and st["draw rank"].tolist() == [1, 2, 0]


def test_quiet_silences_output(capsys):
    import sys
    with quiet():
        print("hidden")
        sys.stderr.write("hidden too")
    print("shown")
    out = capsys.readouterr()
    assert out.out == "shown\n" and out.err == ""


def test_chunk_status_matches_algorithm_1_selection():
    from stella.selection import select_audio

    g = torch.Generator().manual_seed(3)
    I = torch.rand(2, 6 * 3, generator=g)
    I = I / I.sum(1, keepdim=True)
    idx = select_audio(I, torch.zeros_like(I), (6, 3), 7, 2, torch.Generator().manual_seed(1))
    for row in idx:
        st = P.chunk_status(row, (6, 3), 2, excluded=torch.zeros(18, dtype=torch.bool))
        assert st["kept"].sum() == 7
        assert (st["status"] == "pruned tail").sum() <= 1     # Algorithm 1 prunes at most one chunk


def test_gap_curve_and_long_frame():
    g = np.array([[1.0, np.nan, np.nan], [0.8, 0.6, np.nan], [0.5, 0.7, 0.9]])
    np.testing.assert_allclose(G.gap_curve(g), [1.0, 0.7, 0.7])
    df = G.gap_long(g, method="x", seed=1)
    assert df["after task"].tolist() == [1, 2, 3] and set(df["method"]) == {"x"}


def test_map_kind_and_yes_no():
    assert L.map_kind("stella") == "avm" and L.map_kind("lpis") == "avm"
    assert L.map_kind("derpp") == "similarity"
    assert yes_no(True) == "yes" and yes_no(np.bool_(False)) == "no"


def test_localization_rows_perfect_map_and_labels():
    masks = torch.zeros(3, 2, 8, 8, dtype=torch.bool)
    masks[:, :, 2:5, 2:5] = True
    row = L.localization_rows(masks.float(), masks, method="oracle", seed=0)
    assert list(row.columns[:2]) == ["seed", "method"] or {"method", "seed"} <= set(row.columns)
    assert row["cIoU"].item() == 1.0 and row["pointing"].item() == 1.0 and row["clips"].item() == 3


@pytest.fixture(scope="module")
def smoke_bench():
    from stella.data import build_benchmark
    from stella.report.runs import run_config

    cfg = run_config("smoke", "stella")
    return cfg, build_benchmark(cfg)


def test_benchmark_tables(smoke_bench):
    cfg, bench = smoke_bench
    tf = B.tasks_frame(bench)
    assert tf["task"].tolist() == list(range(1, len(bench.tasks) + 1))
    assert tf["train clips"].sum() == sum(len(t.train) for t in bench.tasks)
    ow = B.overwriting_frame(bench)
    assert len(ow) == len(bench.info["reused"]) >= 1
    assert (ow["later task"] > ow["earlier task"]).all()
    for r in ow.to_dict("records"):
        assert bench.info["classes"][r["later class"]].obj == bench.info["classes"][r["earlier class"]].obj
    sp = B.sparsity_frame(bench, cfg.model.patch_size, max_items=2)
    assert len(sp) == len(bench.tasks) and sp["video_patches"].between(0, 1).all()


def test_dataset_maps_shapes(smoke_bench):
    from stella.models import build_model

    cfg, bench = smoke_bench
    model, avm = build_model(cfg)
    for kind in ("avm", "similarity"):
        out = L.dataset_maps(model, avm, bench.tasks[0].eval, cfg, kind)
        n = len(bench.tasks[0].eval)
        assert out["maps"].shape == (n, *cfg.video_grid)
        assert out["frame_maps"].shape == (n, cfg.data.num_frames, cfg.data.image_size, cfg.data.image_size)
        assert out["mask"].shape == out["frame_maps"].shape


def test_plot_helpers_draw(smoke_bench):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg, bench = smoke_bench
    item = bench.tasks[0].eval[0]
    T = cfg.data.num_frames
    fig, ax = plt.subplots(1, T + 1)
    plots.plot_clip(item, ax)
    fig2, ax2 = plt.subplots(1, T)
    plots.plot_selected_video(item["video"], torch.tensor([0, 1]), cfg.video_grid, cfg.model.patch_size, ax2)
    fig3, ax3 = plt.subplots()
    st = plots.plot_audio_chunks(item["audio"], torch.tensor([0, 1, 2]), cfg.audio_grid, cfg.selection.chunk_size,
                               cfg.model.patch_size, ax3)
    assert isinstance(st, pd.DataFrame) and st["kept"].sum() == 3
    fig4, ax4 = plt.subplots()
    plots.plot_audio_scores(torch.rand(cfg.num_audio_patches), cfg.audio_grid, ax4)
    plt.close("all")
