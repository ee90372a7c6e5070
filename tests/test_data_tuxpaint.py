"""tuxpaint benchmark: a clear error without the data; real composed clips when `make data-real` ran."""
from pathlib import Path

import pytest
import torch
from torch.utils.data import default_collate

from stella.config import load_config
from stella.data.stamps import LICENCE, stamps_status
from stella.data.tuxpaint import build_tuxpaint, scan_stamps

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
