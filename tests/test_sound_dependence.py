"""stella.eval.sound_dependence: negative audio, visual-only maps and the summary that says whether the AVM
localises because of the sound (issue 30, item 4b)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from stella.eval.sound_dependence import (AUDIO_KINDS, negative_audio, needs_the_sound, sound_dependence_frame,
                                          sound_dependence_summary, visual_maps)


def test_negative_audio(tiny):
    cfg, _, _, bench = tiny
    ds = bench.tasks[0].eval
    audio = torch.stack([ds[i]["audio"] for i in range(len(ds))])
    labels = torch.tensor(ds.labels)
    g = torch.Generator().manual_seed(0)
    assert negative_audio("matched", audio, labels, cfg, bench.audio_norm, g) is audio
    silence = negative_audio("silence", audio, labels, cfg, bench.audio_norm, g)
    assert silence.shape == audio.shape and torch.all(silence == silence[0, 0, 0])   # one constant fbank
    noise = negative_audio("noise", audio, labels, cfg, bench.audio_norm, g)
    assert noise.shape == audio.shape and not torch.equal(noise[0], noise[1]) and noise.std() > 0
    mis = negative_audio("mismatched", audio, labels, cfg, bench.audio_norm, g)
    for i in range(len(ds)):
        j = [k for k in range(len(ds)) if torch.equal(audio[k], mis[i])]
        assert j and all(labels[k] != labels[i] for k in j)                         # another class's sound
    with pytest.raises(ValueError, match="two classes"):
        negative_audio("mismatched", audio[:2], torch.tensor([0, 0]), cfg, bench.audio_norm, g)
    with pytest.raises(ValueError, match="kind"):
        negative_audio("music", audio, labels, cfg, bench.audio_norm, g)


def test_visual_maps_find_the_bright_rimmed_object():
    from stella.data.video import normalize_video

    rgb = torch.full((1, 3, 3, 8, 8), 0.3)
    rgb[0, 1, :, 2:4, 2:4] = 1.0                                                      # a white square in frame 1
    video = torch.stack([normalize_video(v) for v in rgb])
    bright = visual_maps(video, "brightness")
    assert bright.shape == (1, 3, 8, 8) and bright[0, 1, 2, 2] == pytest.approx(1.0, abs=1e-5)
    motion = visual_maps(video, "motion")
    assert motion[0, 1, 2, 2] == pytest.approx(0.7, abs=1e-5) and motion[0, 2, 2, 2] == pytest.approx(0.7, abs=1e-5)
    assert motion[0, 1, 0, 0] == pytest.approx(0.0, abs=1e-5)
    assert torch.equal(motion[0, 0], motion[0, 1])                                   # frame 0: the change to frame 1


def test_the_frame_has_every_map_and_the_summary_judges_it(tiny):
    cfg, model, avm, bench = tiny
    ds = torch.utils.data.ConcatDataset([t.eval for t in bench.tasks])
    f = sound_dependence_frame(model, avm, ds, cfg, bench.audio_norm, seed=1)
    maps = [f"avm:{k}" for k in AUDIO_KINDS] + ["brightness", "motion", "random"]
    assert list(dict.fromkeys(f["map"])) == maps and (f.groupby("map").size() == len(ds)).all()
    assert f["iou"].between(0, 1).all()
    again = sound_dependence_frame(model, avm, ds, cfg, bench.audio_norm, seed=1)
    pd.testing.assert_frame_equal(f, again)                                          # seeded, deterministic
    s = sound_dependence_summary(f, resamples=200)
    assert list(s["map"]) == maps and np.isnan(s.loc[0, "d_auc"])
    assert (s["d_auc_low"].iloc[1:] <= s["d_auc"].iloc[1:] + 1e-12).all()


def test_needs_the_sound_reads_the_intervals():
    rng = np.random.default_rng(0)
    n = 60
    good = rng.uniform(0.5, 0.9, n)
    rows = [pd.DataFrame({"map": "avm:matched", "clip": range(n), "iou": good, "pointing": 1.0})]
    for m in ("avm:silence", "avm:noise", "avm:mismatched", "brightness"):
        rows.append(pd.DataFrame({"map": m, "clip": range(n), "iou": good * 0.3, "pointing": 0.2}))
    frame = pd.concat(rows, ignore_index=True)
    s = sound_dependence_summary(frame, resamples=200)
    assert needs_the_sound(s) and (s["d_pointing_low"].iloc[1:] > 0).all()
    frame.loc[frame["map"] == "brightness", "iou"] = good                           # brightness finds it as well
    assert not needs_the_sound(sound_dependence_summary(frame, resamples=200))
    with pytest.raises(ValueError, match="motion"):
        needs_the_sound(s, against=("motion",))
