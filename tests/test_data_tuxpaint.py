"""tuxpaint benchmark: a clear error without the data; real composed clips when `make data-real` ran."""
from pathlib import Path

import pytest
import torch
from torch.utils.data import default_collate

from stella.config import ConfigError, load_config
from stella.continual.pretrain import pretrain_dataset, pretrain_key, pretrain_spec
from stella.data.stamps import LICENCE, stamps_status
from stella.data.tuxpaint import build_pretrain_tuxpaint, build_tuxpaint, reserved_stamps, scan_stamps

ROOT = Path(__file__).resolve().parents[1] / "data" / "tuxpaint"
STATUS = stamps_status(ROOT)


def test_missing_data_names_folder_and_make_target(tmp_path):
    with pytest.raises(FileNotFoundError, match="make data-real") as e:
        build_tuxpaint(load_config("smoke", ["data.dataset=tuxpaint"]), root=tmp_path / "tux")
    assert str(tmp_path / "tux") in str(e.value)


@pytest.mark.skipif(not STATUS.present, reason=f"tuxpaint stamps absent: {STATUS.reason}")
def test_fetched_package_is_gpl_2_or_later_as_the_book_says():
    text = (ROOT / "COPYRIGHT").read_text()
    assert LICENCE == "GPL-2.0-or-later" and "License: GPL-2" in text and "any later version" in text


@pytest.mark.skipif(not STATUS.present, reason=f"tuxpaint stamps absent: {STATUS.reason}")
def test_composed_clips():
    cats = scan_stamps(ROOT)
    assert sum(len(v) for v in cats.values()) >= 100
    cfg = load_config("smoke", ["data.dataset=tuxpaint", "data.image_size=32", "data.augment=false"])
    a, b = build_tuxpaint(cfg, ROOT), build_tuxpaint(cfg, ROOT)
    assert len(a.tasks) == 2 and len(set(a.class_names)) == 4
    x, y = a.tasks[1].eval[0], b.tasks[1].eval[0]
    for k in ("audio", "video", "mask", "active"):
        assert torch.equal(x[k], y[k])
    assert x["mask"].reshape(x["mask"].shape[0], -1).any(1).all() and 0 < x["active"].sum() < x["active"].numel()
    assert not torch.equal(x["video"], a.tasks[1].eval[1]["video"])
    batch = default_collate([a.tasks[0].train[i] for i in range(2)])
    assert batch["video"].shape == (2, cfg.data.num_frames, 3, 32, 32) and batch["task"].tolist() == [0, 0]


TUX = ["data.dataset=tuxpaint", "pretrain.source=tuxpaint", "data.augment=false"]


@pytest.mark.skipif(not STATUS.present, reason=f"tuxpaint stamps absent: {STATUS.reason}")
def test_the_pretraining_stamps_are_reserved_from_the_tasks():
    cfg = load_config("cpu", TUX)
    reserved = reserved_stamps(cfg, ROOT)
    used = {s[0] for s in build_tuxpaint(cfg, ROOT).info["stamps"]}
    assert len(reserved) == cfg.pretrain.classes and not used & {s[0] for s in reserved}
    assert reserved == reserved_stamps(cfg, ROOT)                                # drawn from data.seed
    assert reserved != reserved_stamps(load_config("cpu", [*TUX, "data.seed=1"]), ROOT)
    with pytest.raises(ValueError, match="pretrain.classes: 500 pre-training stamps"):
        reserved_stamps(load_config("cpu", [*TUX, "pretrain.classes=500"]), ROOT)


@pytest.mark.skipif(not STATUS.present, reason=f"tuxpaint stamps absent: {STATUS.reason}")
def test_the_pretraining_clips_are_composed_like_the_tasks_from_a_stream_of_their_own():
    cfg = load_config("smoke", TUX)
    a, b = (build_pretrain_tuxpaint(cfg, 3, 2, ROOT) for _ in range(2))
    assert len(a) == 6 and a.labels == [0, 0, 1, 1, 2, 2] and len(a.info["stamps"]) == 3
    x = a[1]
    for k in ("audio", "video", "mask", "active"):
        assert torch.equal(x[k], b[1][k])
    task = build_tuxpaint(cfg, ROOT).tasks[0].train[0]
    assert x["video"].shape == task["video"].shape and not torch.equal(x["video"], task["video"])
    assert pretrain_dataset(cfg)[0]["video"].shape == x["video"].shape     # pretrain.source: tuxpaint reads it


def test_tuxpaint_pretraining_needs_the_tuxpaint_benchmark_and_keys_its_classes():
    with pytest.raises(ConfigError) as e:
        load_config("cpu", ["pretrain.source=tuxpaint"])
    assert str(e.value).startswith("pretrain.source") and "\n" not in str(e.value)
    cfg = load_config("cpu", TUX)
    spec = pretrain_spec(cfg)
    assert spec["pretrain"]["classes"] == cfg.pretrain.classes and spec["data"]["dataset"] == "tuxpaint"
    assert pretrain_key(cfg) != pretrain_key(load_config("cpu", [*TUX, "pretrain.classes=16"]))
