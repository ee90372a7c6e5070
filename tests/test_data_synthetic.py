"""Synthetic benchmark: determinism, shapes, ground truth, overwriting, sparsity, norm, augmentation."""
import pytest
import torch
from torch.utils.data import default_collate

from stella.config import ConfigError, load_config
from stella.data import build_benchmark, sparsity
from stella.data.audio import frame_activity
from stella.data.synthetic import make_classes, render_clip

GEOM = ["data.image_size=32", "data.audio_frames=64", "data.mel_bins=32", "data.num_frames=4"]


def bench(*overrides):
    return build_benchmark(load_config("smoke", list(overrides)))


def test_shapes_dtypes_and_collate():
    cfg = load_config("smoke")
    b = build_benchmark(cfg)
    d = cfg.data
    assert len(b.tasks) == d.num_tasks and b.num_classes == d.num_tasks * d.classes_per_task
    for pos, task in enumerate(b.tasks):
        assert task.index == pos and len(task.train) == d.classes_per_task * d.train_per_class
        assert len(task.eval) == d.classes_per_task * d.eval_per_class
        it = task.train[0]
        assert it["audio"].shape == (d.audio_frames, d.mel_bins) and it["audio"].dtype == torch.float32
        assert it["video"].shape == (d.num_frames, 3, d.image_size, d.image_size) and it["video"].dtype == torch.float32
        assert it["mask"].shape == (d.num_frames, d.image_size, d.image_size) and it["mask"].dtype == torch.bool
        assert it["active"].shape == (d.audio_frames,) and it["active"].dtype == torch.bool
        assert it["task"] == pos and it["label"] in task.classes
    batch = default_collate([b.tasks[0].train[i] for i in range(4)])
    assert batch["video"].shape[0] == 4 and batch["label"].dtype == torch.int64


def test_train_eval_disjoint_and_indices_unique():
    b = bench()
    seen = set()
    for task in b.tasks:
        tr, ev = set(task.train.indices), set(task.eval.indices)
        assert not tr & ev
        assert not (tr | ev) & seen
        seen |= tr | ev


def test_deterministic_per_index():
    a, b = bench(), bench()
    for task_a, task_b in zip(a.tasks, b.tasks):
        for i in (0, len(task_a.eval) - 1):
            x, y = task_a.eval[i], task_b.eval[i]
            for k in ("audio", "video", "mask", "active"):
                assert torch.equal(x[k], y[k]), k
    x, y = a.tasks[0].eval[0], a.tasks[0].eval[1]
    assert not torch.equal(x["audio"], y["audio"]) and not torch.equal(x["video"], y["video"])
    c = bench("data.seed=1")
    assert not torch.equal(c.tasks[0].eval[0]["video"], x["video"])


def test_ground_truth_consistency():
    classes, neutral = make_classes(2, 4, 0, 16000)
    kw = dict(num_frames=4, image_size=32, audio_frames=64, sample_rate=16000, num_distractors=2, noise_level=0.1)
    gain = []
    for index in range(24):
        clip = render_clip(classes, neutral, index % 8, (0, index), **kw)
        mask, ov, on = clip["mask"], clip["overlap"], clip["on"]
        assert mask.shape == (4, 32, 32) and mask.reshape(4, -1).any(1).all()
        assert 1 <= on.sum() <= 2 and (ov == on).all()                   # 1 .. T//2 segments sound
        area = mask.reshape(4, -1).sum(1)
        assert area[on].min() > area[~on].max()                           # the object swells while it sounds
        active = frame_activity(clip["events"], 64)
        assert torch.equal(active, torch.from_numpy(on).repeat_interleave(16))   # exactly the sounding segments
    b = bench(*GEOM, "data.augment=false")
    for item in (b.tasks[0].train[i] for i in range(8)):
        x, on = item["audio"], item["active"]
        gain.append(float((x[on].mean(0) - x[~on].mean(0)).max()))   # the sound's mel bands light up
        assert item["mask"].reshape(item["mask"].shape[0], -1).any(1).all()
    assert min(gain) > 1.0


def _lit_frames_follow_the_audio(item) -> bool:
    """Frames whose audio segment is active show the object brighter than frames whose segment is silent."""
    from stella.eval.attention import denormalize_video

    v, m, a = denormalize_video(item["video"]), item["mask"], item["active"]           # v (T, H, W, 3)
    T = v.shape[0]
    seg_on = a.float().reshape(T, -1).mean(1) >= 0.5
    bright = torch.stack([v[t].mean(-1)[m[t]].mean() if m[t].any() else torch.tensor(float("nan")) for t in range(T)])
    return bool(bright[seg_on].nan_to_num(2.0).min() > bright[~seg_on].nan_to_num(-1.0).max())


def test_aligned_roll_keeps_frames_with_their_audio_segments():
    aligned = bench(*GEOM, "data.audio_roll=aligned").tasks[0].train
    free = bench(*GEOM, "data.audio_roll=free").tasks[0].train
    base = bench(*GEOM, "data.augment=false").tasks[0].train
    shifted = 0
    for i in range(len(aligned)):
        item = aligned[i]
        assert _lit_frames_follow_the_audio(item)
        shifted += not torch.equal(item["active"], base[i]["active"])
    assert shifted > 0                                                     # the roll does move the clip
    assert not all(_lit_frames_follow_the_audio(free[i]) for i in range(len(free)))
    with pytest.raises(ConfigError, match="audio_roll"):
        bench("data.audio_roll=aligned", "data.audio_frames=40", "model.patch_size=4", "data.num_frames=3")


def test_overwriting_reuses_visual_objects_with_new_sounds():
    classes, _ = make_classes(4, 4, 0, 16000)
    reused = [c for c in classes if c.reuses is not None]
    assert len(reused) == 3 and all(c.task >= 1 for c in reused)
    for c in reused:
        src = classes[c.reuses]
        assert src.task < c.task and src.obj == c.obj and src.sound != c.sound
    assert len({c.sound for c in classes}) == len(classes)
    assert bench().info["reused"]


def test_sparsity_below_bounds():
    cfg = load_config("smoke", GEOM + ["data.augment=false"])
    b = build_benchmark(cfg)
    s = sparsity(b.tasks[0].train, cfg.model.patch_size)
    assert 0 < s["video_patches"] < 0.4 and 0 < s["video_pixels"] < 0.15
    assert 0 < s["audio_frames"] < 0.5 and 0 < s["audio_chunks"] < 0.75


def test_fbank_normalisation_stats():
    b = bench(*GEOM, "data.augment=false", "data.train_per_class=8")
    x = torch.cat([t.train[i]["audio"].reshape(-1) for t in b.tasks for i in range(len(t.train))])
    assert abs(float(x.mean())) < 0.15 and abs(float(x.std()) - 1) < 0.15
    assert bench(*GEOM, "data.augment=false", "data.train_per_class=8").audio_norm == b.audio_norm
    paper = bench("data.audio_norm_mean=-5.081", "data.audio_norm_std=4.485")
    assert paper.audio_norm == (-5.081, 4.485)


def test_augmentation_switch_and_reproducibility():
    on1, on2, off = bench(), bench(), bench("data.augment=false")
    t1, t2 = on1.tasks[0].train, on2.tasks[0].train
    base = off.tasks[0].train[0]
    a = t1[0]
    assert not torch.equal(a["audio"], base["audio"])
    assert torch.equal(a["audio"], t2[0]["audio"]) and torch.equal(a["video"], t2[0]["video"])
    assert a["active"].sum() == base["active"].sum()
    t1.set_epoch(1)
    b = t1[0]
    assert not torch.equal(a["audio"], b["audio"])
    t2.set_epoch(1)
    assert torch.equal(b["video"], t2[0]["video"]) and torch.equal(b["mask"], t2[0]["mask"])
    off.tasks[0].train.set_epoch(3)
    assert torch.equal(off.tasks[0].train[0]["audio"], base["audio"])
    ev = on1.tasks[0].eval
    assert torch.equal(ev[0]["video"], off.tasks[0].eval[0]["video"])


def test_task_order():
    d = bench()
    s = bench("data.task_order=shuffled")
    assert s.task_names == list(reversed(d.task_names)) or s.task_names != d.task_names
    assert sorted(s.task_names) == sorted(d.task_names)
    e = bench(f"data.task_order='{d.task_names[1]},{d.task_names[0]}'")
    assert e.task_names == [d.task_names[1], d.task_names[0]]
    assert e.tasks[0].train[0]["task"] == 0 and e.tasks[0].classes == d.tasks[1].classes
    with pytest.raises(ValueError, match="nope"):
        bench("data.task_order='nope,task1-chimes'")


def test_bad_parameters_fail_early():
    with pytest.raises(ConfigError, match="num_tasks"):
        bench("data.num_tasks=0")
    with pytest.raises(ConfigError, match="image_size"):
        bench("data.image_size=20")
    with pytest.raises(ConfigError, match="num_frames"):
        bench("data.num_frames=0")
    with pytest.raises(ValueError, match="image_size"):
        bench("model.patch_size=4", "data.image_size=4", "data.audio_frames=32", "data.mel_bins=16")
    with pytest.raises(ValueError, match="visual objects"):
        make_classes(40, 10, 0, 16000)
    with pytest.raises(ConfigError, match="audio_roll"):
        bench("data.audio_roll=sideways")
