"""The benchmark's knobs (data.silent_object, distractors, sound_cue, overwrite_pairs): today's clips stay
bit-identical, each knob changes what it says and nothing else, bad values fail with one line, the synthetic
generator and the tuxpaint composer alike."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from stella.config import ConfigError, load_config
from stella.continual.pretrain import pretrain_key, pretrain_spec
from stella.data import build_benchmark
from stella.data.synthetic import (COLOURS, CUES, PLACEHOLDER_COLOUR, TODAY, TODAY_OVERRIDES, build_pretrain_synthetic,
                                   make_classes, make_pretrain_classes, render_clip)
from stella.data.audio import num_samples_for_frames
from stella.data.tuxpaint import overwrite, render_stamp_clip

KW = dict(num_frames=4, image_size=32, audio_frames=64, sample_rate=16000, num_distractors=2, noise_level=0.1)
KNOBS = ("data.silent_object=placeholder", "data.distractors=classes", "data.sound_cue=class", "data.sound_cue=none")


def _digest(out: dict) -> str:
    h = hashlib.sha256()
    for k in ("wave", "frames", "mask", "overlap", "on"):
        if k in out:
            h.update(np.ascontiguousarray(out[k]).tobytes())
    h.update(repr(out["events"]).encode())
    return h.hexdigest()[:16]


def _items_digest(item) -> str:
    h = hashlib.sha256()
    for k in ("audio", "video", "mask", "active"):
        h.update(item[k].contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _sprites():
    rng = np.random.default_rng(5)
    return ([rng.uniform(0, 1, (4, 16, 16)).astype(np.float32) for _ in range(4)],
            [rng.standard_normal(8000).astype(np.float32) for _ in range(4)])


# Rendered by the generator of commit 09ae965, before the knobs existed.
TODAY_CLIPS = {(0, 0): "65dc24b2df5a8e67", (5, 170): "b5bde2196ed8d661", (13, 420): "ece32d914794a3bd",
               (15, 511): "b33380f56f2b0874"}
TODAY_ITEMS = {"smoke": ("15d005c8ff66136d", "9d5e2b3076f7a4a4", "24e62641161ab6cd", "eb62bd9ef6591d09", "be5835d55e569680"),
               "cpu": ("6c1bb90a9cf0ec0a", "39c04339860057c5", "ea2fa5f3dc8951af", "6da9a13d15d74e04", "8bbb27832ce347ab")}


def test_todays_clips_are_bit_identical_to_before_the_knobs():
    classes, neutral = make_classes(4, 4, 0, 16000)
    for (label, idx), want in TODAY_CLIPS.items():
        assert _digest(render_clip(classes, neutral, label, (0, idx), **KW)) == want
        assert _digest(render_clip(classes, neutral, label, (0, idx), **KW, **{k: v for k, v in TODAY.items()
                                                                               if k != "overwrite_pairs"})) == want
    pre = make_pretrain_classes(32, 0, 16000)
    assert _digest(render_clip(pre, neutral, 3, (0, 0x9E7, 77), **KW)) == "e4472d886f0c4fc9"
    sparse = dict(KW, num_distractors=6)
    assert _digest(render_clip(classes, neutral, 7, (0, 250), **sparse, object_scale=0.75,
                               active_fraction=0.25)) == "8a5a34f206c30ad9"
    sprites, sounds = _sprites()
    assert _digest(render_stamp_clip(sprites, sounds, 2, 9, seed=0, **KW)) == "1cffa4a3e014412b"


@pytest.mark.parametrize("preset", ["smoke", "cpu"])
def test_todays_setting_keeps_the_run_keys_and_the_items(preset, one_thread):
    """Today's benchmark is reachable as the knobs' defaults (synthetic.TODAY): same run key (at the version the
    digests were taken at, 0.2.0: 0.3.0 changed Random's audio under its old name), stage key, items."""
    cfg = load_config(preset, list(TODAY_OVERRIDES))
    digest, stage, train, ev, pre = TODAY_ITEMS[preset]
    old_stage = hashlib.sha256(json.dumps({**pretrain_spec(cfg), "version": "0.2.0"}, sort_keys=True).encode())
    assert cfg.digest("0.2.0") == digest and old_stage.hexdigest()[:16] == stage
    b = build_benchmark(cfg)
    assert _items_digest(b.tasks[1].train[3]) == train and _items_digest(b.tasks[-1].eval[2]) == ev
    assert _items_digest(build_pretrain_synthetic(cfg, cfg.pretrain.classes, cfg.pretrain.clips_per_class)[5]) == pre


def test_each_knob_has_its_own_run_key_and_the_stage_follows_the_clips():
    cpu = load_config("cpu")
    for ov in KNOBS:
        other = load_config("cpu", [ov])
        assert other.digest() != cpu.digest() and pretrain_key(other) != pretrain_key(cpu)
    pairs = load_config("cpu", ["data.overwrite_pairs=2"])
    assert pairs.digest() != cpu.digest() and pretrain_key(pairs) == pretrain_key(cpu)   # the stage has no pairs


@pytest.mark.parametrize("override,key", [("data.silent_object=grey", "data.silent_object"),
                                          ("data.distractors=all", "data.distractors"),
                                          ("data.sound_cue=lit", "data.sound_cue"),
                                          ("data.overwrite_pairs=5", "data.overwrite_pairs"),
                                          ("data.overwrite_pairs=-1", "data.overwrite_pairs"),
                                          ("data.overwrite_pairs=1.5", "data.overwrite_pairs")])
def test_a_bad_value_is_one_line_naming_its_key(override, key):
    with pytest.raises(ConfigError) as e:
        load_config("cpu", [override])
    assert str(e.value).startswith(key) and "\n" not in str(e.value)
    with pytest.raises(ValueError, match="data.sound_cue"):
        render_clip(*make_classes(2, 2, 0, 16000), 0, (0, 0), **KW, sound_cue="lit")


def _render(label=5, idx=170, **knobs):
    classes, neutral = make_classes(4, 4, 0, 16000)
    return classes, render_clip(classes, neutral, label, (0, idx), **KW, **knobs)


def test_placeholder_changes_only_the_silent_frames_of_the_sounding_object():
    for idx in range(8):
        _, dim = _render(idx % 16, idx)
        _, ph = _render(idx % 16, idx, silent_object="placeholder")
        on = dim["on"]
        assert np.array_equal(dim["wave"], ph["wave"]) and np.array_equal(dim["frames"][on], ph["frames"][on])
        silent = ph["frames"][~on][ph["mask"][~on]]                          # (n, 3) pixels of the placeholder
        assert len(silent) and np.allclose(silent, silent[:, :1], atol=1e-6)  # grey: r = g = b
        assert np.allclose(silent, 0.55 * np.asarray(PLACEHOLDER_COLOUR), atol=1e-6)
        assert not np.array_equal(dim["frames"][~on], ph["frames"][~on])


def test_class_distractors_are_other_classes_objects_lit_on_their_own_segments(monkeypatch):
    import stella.data.synthetic as syn

    painted = []
    real = syn._paint_object

    def spy(frames, cls, path, r0, on, *a):
        painted.append((cls, on.copy()))
        return real(frames, cls, path, r0, on, *a)
    monkeypatch.setattr(syn, "_paint_object", spy)
    white = lambda f, m: int(((f.min(-1) > 0.99) & ~m).sum())               # noqa: E731 - rim pixels off the object
    lit_elsewhere = 0
    for idx in range(12):
        _, neutral_d = _render(idx % 16, idx)
        painted.clear()
        classes, cls_d = _render(idx % 16, idx, distractors="classes")
        assert np.array_equal(neutral_d["wave"], cls_d["wave"]) and np.array_equal(neutral_d["on"], cls_d["on"])
        assert white(neutral_d["frames"], neutral_d["mask"]) == 0            # neutral distractors never light up
        lit_elsewhere += white(cls_d["frames"], cls_d["mask"]) > 0
        *others, (me, on) = painted                                          # the sounding object is painted last
        assert me.label == idx % 16 and np.array_equal(on, cls_d["on"]) and len(others) == 2
        assert all(c.obj != me.obj and c in classes for c, _ in others) and len({c.obj for c, _ in others}) == 2
    assert lit_elsewhere >= 6                                                # a silent object lit like the sounding one
    painted.clear()
    _, lit = _render(3, 7, distractors="lit")                                # the neutral pool, drawn as salient
    neutral_pool = make_classes(4, 4, 0, 16000)[1]
    *others, (me, _) = painted
    assert me.label == 3 and len(others) == 2 and all(c.obj in neutral_pool and c.label < 0 for c, _ in others)


def test_sound_cue_class_draws_the_classs_rim_and_none_draws_no_rim():
    for label in range(6):
        classes, out = _render(label, 40 + label, sound_cue="class")
        on = out["on"]
        colour, scale = CUES[classes[label].cue]
        f, m = out["frames"][on], out["mask"][on]
        assert np.isclose(f[m], np.asarray(COLOURS[colour]), atol=1e-6).all(-1).any()
        _, none = _render(label, 40 + label, sound_cue="none")
        assert not (none["frames"][none["mask"]].min(-1) > 0.99).any()      # no white rim anywhere on the object
        _, shared = _render(label, 40 + label)
        assert (shared["frames"][on][shared["mask"][on]].min(-1) > 0.99).any()
    assert len({c.cue for c in make_classes(4, 4, 0, 16000)[0]}) == 16       # one cue per class of the benchmark


def test_overwrite_pairs_sets_how_many_classes_reuse_an_object():
    for pairs, want in ((None, 1), (0, 0), (2, 2), (4, 4)):
        classes, _ = make_classes(4, 4, 0, 16000, pairs)
        for k in range(1, 4):
            task = [c for c in classes if c.task == k]
            assert sum(c.reuses is not None for c in task) == want
            for c in task:
                if c.reuses is not None:
                    assert c.obj == classes[c.reuses].obj and c.sound != classes[c.reuses].sound
    assert make_classes(4, 4, 0, 16000)[0] == make_classes(4, 4, 0, 16000, None)[0]
    b = build_benchmark(load_config("smoke", ["data.overwrite_pairs=2"]))
    assert len(b.info["reused"]) == 2 and all(c >= 2 for c in b.info["reused"])


def test_tuxpaint_composer_takes_the_same_knobs():
    sprites, sounds = _sprites()
    base = render_stamp_clip(sprites, sounds, 2, 9, seed=0, **KW)
    ph = render_stamp_clip(sprites, sounds, 2, 9, seed=0, **KW, silent_object="placeholder")
    on = base["overlap"] > 0
    assert np.array_equal(base["wave"], ph["wave"]) and np.array_equal(base["frames"][on], ph["frames"][on])
    silent = ph["frames"][~on][ph["mask"][~on]]                              # the disk, its rim blended
    assert len(silent) and (np.abs(silent - np.asarray(PLACEHOLDER_COLOUR)).max(-1) < 0.02).mean() > 0.8
    none = render_stamp_clip(sprites, sounds, 2, 9, seed=0, **KW, sound_cue="none")
    assert none["mask"].sum(axis=(1, 2)).std() < base["mask"].sum(axis=(1, 2)).std() + 1e-9   # no swell
    cls = render_stamp_clip(sprites, sounds, 2, 9, seed=0, **KW, distractors="classes", sound_cue="class")
    assert np.array_equal(cls["wave"], base["wave"]) and not np.array_equal(cls["frames"], base["frames"])
    with pytest.raises(ValueError, match="data.distractors"):
        render_stamp_clip(sprites, sounds, 2, 9, seed=0, **KW, distractors="all")
    more = [s.copy() for s in sprites * 2]                                  # 2 tasks of 4 stamps
    reused = overwrite(more, 2, 4, 2, seed=0)
    assert sorted(reused) == [4, 5] and all(more[c] is more[src] and src < 4 for c, src in reused.items())


def test_tuxpaint_active_fraction_shortens_the_sounds_window():
    sprites, _ = _sprites()
    sounds = [np.ones(16000, np.float32) for _ in range(4)]                      # longer than the clip
    length = lambda af: np.diff(render_stamp_clip(sprites, sounds, 1, 3, seed=0, **KW, active_fraction=af)["events"][0])[0]
    n = num_samples_for_frames(64, 16000) / 16000                                # the clip, in seconds
    assert length(0.5) == pytest.approx(0.6 * n, abs=1e-3) and length(0.25) == pytest.approx(0.3 * n, abs=1e-3)
    assert _digest(render_stamp_clip(sprites, sounds, 1, 3, seed=0, **KW)) == \
        _digest(render_stamp_clip(sprites, sounds, 1, 3, seed=0, **KW, active_fraction=0.5))
    pre = render_stamp_clip(sprites, sounds, 1, 3, seed=0, **KW, stream=(0x9E7,))
    assert _digest(pre) != _digest(render_stamp_clip(sprites, sounds, 1, 3, seed=0, **KW))
