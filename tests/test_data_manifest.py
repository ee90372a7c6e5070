"""Manifest dataset: PyAV decoding, skipping bad files with warnings and counts, benchmark building."""
import json
import logging
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from stella.config import load_config
from stella.data import build_benchmark
from stella.data.manifest import ManifestDataset, decode_audio, decode_frames

SMOKE = load_config("smoke")


def write_clip(path, seconds, audio=True, fps=10, size=32, freq=440.0, sr=22050):
    """h264 video (frame i has brightness 20 * i) + aac audio (a sine), written with PyAV."""
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width = vs.height = size
        vs.pix_fmt = "yuv420p"
        if audio:
            ast = c.add_stream("aac", rate=sr)
            ast.layout = "stereo"
        for i in range(int(seconds * fps)):
            img = np.full((size, size, 3), min(255, 20 * i), np.uint8)
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        if audio:
            t = np.arange(int(seconds * sr)) / sr
            wave = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
            for k in range(0, wave.size, 1024):
                chunk = np.stack([wave[k:k + 1024]] * 2)
                f = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                f.sample_rate, f.pts, f.time_base = sr, k, Fraction(1, sr)
                for p in ast.encode(f):
                    c.mux(p)
            for p in ast.encode():
                c.mux(p)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    for i in range(3):
        write_clip(root / f"good{i}.mp4", 0.8, freq=300.0 + 200 * i)
    write_clip(root / "silent.mp4", 0.8, audio=False)
    write_clip(root / "short.mp4", 0.1)
    data = (root / "good0.mp4").read_bytes()
    (root / "corrupt.mp4").write_bytes(data[: len(data) // 2])
    (root / "garbage.webm").write_bytes(b"not a video at all" * 10)
    return root


def test_decode(clips):
    wave = decode_audio(clips / "good0.mp4", 16000)
    assert wave.dtype == np.float32 and abs(wave.size / 16000 - 0.8) < 0.1
    spec = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spec) * 16000 / wave.size - 300) < 10            # resampled, still 300 Hz
    frames = decode_frames(clips / "good0.mp4", 4)
    assert frames.shape == (4, 32, 32, 3) and frames.dtype == np.uint8
    assert np.all(np.diff(frames.mean(axis=(1, 2, 3))) > 0)               # evenly spaced, in time order


def test_skips_bad_files_with_warnings(clips, caplog):
    names = ["good0.mp4", "good1.mp4", "silent.mp4", "short.mp4", "corrupt.mp4", "garbage.webm", "nope.mp4"]
    entries = [{"video_id": n, "video_path": str(clips / n), "labels": "x"} for n in names]
    with pytest.warns(UserWarning) as rec, caplog.at_level(logging.WARNING):
        ds = ManifestDataset(entries, [0] * 7, list(range(7)), 0, SMOKE.data, (-5.081, 4.485), train=False)
    msgs = " ".join(str(w.message) for w in rec)
    for n in names[2:]:
        assert n in msgs
    assert len(ds) == 2
    assert ds.skipped["no_audio"] == [str(clips / "silent.mp4")]
    assert ds.skipped["too_short"] == [str(clips / "short.mp4")]
    assert sorted(ds.skipped["corrupt"]) == sorted([str(clips / "corrupt.mp4"), str(clips / "garbage.webm")])
    assert ds.skipped["missing"] == [str(clips / "nope.mp4")]
    assert "5 skipped" in caplog.text
    it = ds[1]
    d = SMOKE.data
    assert it["audio"].shape == (d.audio_frames, d.mel_bins) and it["audio"].dtype == torch.float32
    assert it["video"].shape == (d.num_frames, 3, d.image_size, d.image_size) and it["index"] == 1
    assert torch.equal(ds[1]["audio"], it["audio"])


def test_manifest_benchmark_missing_task_is_an_error(clips, tmp_path):
    data = []
    for i, (label, n) in enumerate([("playing badminton", "good0.mp4"), ("playing badminton", "good1.mp4"),
                                    ("playing piano", "good2.mp4"), ("playing piano", "good0.mp4"),
                                    ("playing piano", "corrupt.mp4"), ("unheard of", "good1.mp4")]):
        data.append({"video_id": f"v{i}", "video_path": str(clips / n), "labels": label})
    (tmp_path / "m.json").write_text(json.dumps({"data": data}))
    cfg = load_config("smoke", [f"data.manifest={tmp_path / 'm.json'}", "data.dataset=manifest",
                                "data.classes_per_task=1", "data.eval_per_class=1",
                                "data.task_order=music,sports,vehicle,people,animals,home&nature,"
                                "others_part1,others_part2"])
    with pytest.raises(ValueError, match="no clips for task 'vehicle'"), pytest.warns(UserWarning):
        build_benchmark(cfg)


def test_manifest_two_task_benchmark(clips, tmp_path, monkeypatch):
    import stella.data.splits as S
    split = S.load_split("continual-vs")
    split = {**split, "default_order": ["sports", "music"], "shuffled_order": ["music", "sports"]}
    monkeypatch.setattr(S, "load_split", lambda b: split)
    data = [{"video_id": f"v{i}", "video_path": str(clips / n), "labels": label}
            for i, (label, n) in enumerate([("playing badminton", "good0.mp4"), ("playing badminton", "good1.mp4"),
                                            ("playing piano", "good2.mp4"), ("playing piano", "corrupt.mp4"),
                                            ("playing piano", "good0.mp4"), ("unheard of", "good1.mp4")])]
    (tmp_path / "m.json").write_text(json.dumps(data))
    cfg = load_config("smoke", [f"data.manifest={tmp_path / 'm.json'}", "data.dataset=manifest",
                                "data.classes_per_task=1", "data.eval_per_class=1", "data.task_order=shuffled"])
    with pytest.warns(UserWarning, match="unheard of"):
        b = build_benchmark(cfg)
    assert b.task_names == ["music", "sports"] and b.audio_norm == (-5.081, 4.485)
    music, sports = b.tasks
    assert len(music.eval) == 1 and len(music.train) == 1                  # corrupt.mp4 skipped
    assert music.train.skipped == {"corrupt": [str(clips / "corrupt.mp4")]}
    assert len(sports.train) == 1 and len(sports.eval) == 1
    assert {music.train.items[0][3], music.eval.items[0][3]} == {2, 4}
    batch = default_collate([sports.train[0], sports.eval[0]])
    assert batch["label"].tolist() == [1, 1] and batch["task"].tolist() == [1, 1]
    sports.train.set_epoch(0)
    a = sports.train[0]["audio"]
    sports.train.set_epoch(1)
    assert not torch.equal(a, sports.train[0]["audio"])
