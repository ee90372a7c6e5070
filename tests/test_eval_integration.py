"""stella.eval on the smoke preset: real model, real synthetic benchmark, no training run."""
import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import ConcatDataset

from stella.config import load_config
from stella.eval import attention, gap, localization, probes, retrieval

models = pytest.importorskip("stella.models", reason="stella.models is not written yet")
data = pytest.importorskip("stella.data", reason="stella.data is not written yet")


@pytest.fixture(scope="module")
def setup():
    cfg = load_config("smoke")
    model, avm = models.build_model(cfg)
    bench = data.build_benchmark(cfg)
    return cfg, model, avm, bench


@pytest.fixture(scope="module")
def embeddings(setup):
    cfg, model, _, bench = setup
    return {t.index: retrieval.extract_embeddings(model, t.eval, batch_size=8) for t in bench.tasks}


def test_extract_embeddings_shapes_and_mode(setup, embeddings):
    cfg, model, _, bench = setup
    e = embeddings[0]
    n, D = len(bench.tasks[0].eval), cfg.model.embed_dim
    assert e["z_a"].shape == (n, D) and e["z_v"].shape == (n, D)
    assert torch.allclose(e["z_a"].norm(dim=-1), torch.ones(n), atol=1e-5)
    assert e["task"].tolist() == [0] * n and model.training


def test_retrieval_table_after_each_task(setup, embeddings):
    cfg, _, _, bench = setup
    T = len(bench.tasks)
    per_task = retrieval.retrieval_scores(embeddings)
    assert len(per_task) == T * 2 * 5 and per_task["value"].between(0, 100 * T).all()
    rows = [per_task.assign(after_task=t) for t in range(T)]   # same weights: F must be 0
    table = retrieval.summarize(retrieval.accuracy_matrices(rows))
    assert table.shape == (2, 8) and np.isfinite(table.to_numpy()).all()
    assert (table.xs("F", axis=1, level=1) == 0).all().all()
    assert table.loc["A→V", ("R@1", "A")] == pytest.approx(
        per_task.query("direction == 'A→V' and metric == 'R@1'")["value"].mean())
    gaps = pd.concat([gap.modality_gaps(embeddings, after_task=t) for t in range(T)])
    assert gaps["gap"].between(0, 2).all() and np.isfinite(gap.gap_decline(gaps))


def test_attention_maps_localization_and_drift(setup):
    cfg, model, avm, bench = setup
    ds = bench.tasks[0].eval
    res = attention.attention_maps(model, ds, cfg.video_grid, kind="avm", avm=avm, batch_size=8)
    n = len(ds)
    assert res["maps"].shape == (n, *cfg.video_grid)
    assert torch.allclose(res["maps"].flatten(1).sum(1), torch.ones(n), atol=1e-4)
    sim = attention.attention_maps(model, ds, cfg.video_grid, kind="similarity")["maps"]
    assert sim.shape == res["maps"].shape and sim.abs().max() <= 1 + 1e-5
    up = attention.upsample_to_frames(res["maps"], (cfg.data.image_size,) * 2)
    per_clip = localization.per_clip_localization(up, res["mask"])
    summary = localization.localization_summary(per_clip)
    assert summary[["cIoU", "AUC", "mIoU", "pointing"]].apply(lambda c: c.between(0, 1)).all().all()
    drift = localization.attention_drift(res["maps"], sim, "js")
    assert drift.shape == (n,) and (drift >= 0).all() and (drift <= 1).all()
    with pytest.raises(ValueError, match="AVM"):
        attention.attention_maps(model, ds, cfg.video_grid, kind="avm")


def test_probes_run_and_return_sane_numbers(setup):
    cfg, model, _, bench = setup
    train = ConcatDataset([t.train for t in bench.tasks])
    test = ConcatDataset([t.eval for t in bench.tasks])
    cls = probes.classification_probe(model, train, test, torch.Generator().manual_seed(0), epochs=20)
    assert cls.loc[0, "classes"] == bench.num_classes and 0 <= cls.loc[0, "test_accuracy"] <= 100
    ev = probes.event_localization_probe(model, train, test, torch.Generator().manual_seed(0), epochs=20)
    assert ev.loc[0, "classes"] == bench.num_classes + 1 and 0 <= ev.loc[0, "test_accuracy"] <= 100
    assert ev.loc[0, "steps_test"] == len(test) * cfg.audio_grid[0]
    before = [p.detach().clone() for p in model.parameters()]
    ft = probes.retrieval_finetune(model, bench.tasks[-1].train, bench.tasks[-1].eval,
                                   torch.Generator().manual_seed(0), steps=2, batch_size=4)
    assert set(ft["stage"]) == {"zero-shot", "fine-tuned"} and len(ft) == 2 * 2 * 4
    assert ft["value"].notna().all()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_bad_inputs_name_the_problem(setup):
    _, model, _, bench = setup
    with pytest.raises(ValueError, match="empty evaluation split"):
        retrieval.extract_embeddings(model, [], batch_size=4)

    class NaNModel(torch.nn.Module):
        def embed(self, audio, video):
            z = torch.ones(audio.shape[0], 4)
            z[0, 0] = float("nan")
            return z, z

    with pytest.raises(ValueError, match="z_a: 1 embeddings contain NaN"):
        retrieval.extract_embeddings(NaNModel(), bench.tasks[0].eval, batch_size=4)
    with pytest.raises(ValueError, match="never occur"):
        probes.classification_probe(model, bench.tasks[0].train, bench.tasks[1].eval,
                                    torch.Generator().manual_seed(0), epochs=1)
