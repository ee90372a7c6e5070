"""Manifest dataset: PyAV decoding of every packet, damaged files skipped and named, benchmark building."""
import json
import os
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from stella.config import ConfigError, load_config
from stella.data import build_benchmark
from stella.data.decode import ClipError, decode_clip
from stella.data.manifest import ManifestDataset, decode_audio, decode_frames

SMOKE = load_config("smoke")
THEORA = Path(__file__).parent / "data" / "theora_vorbis.ogg"


def write_clip(path, seconds, audio=True, fps=10, size=32, freq=440.0, sr=22050, faststart=False, noise=False,
               rotation=None, hflip=False):
    """h264 video (frame i has brightness 20 * i, or noise; its left quarter white when ``rotation`` is
    set) + aac audio (a sine), written with PyAV. ``faststart`` puts the index first, as phone and camera
    files do: a truncated copy still opens. ``rotation``: a display matrix (degrees counter-clockwise,
    ``hflip`` mirrored), as phones write."""
    rng = np.random.default_rng(int(freq))
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width = vs.height = size
        vs.pix_fmt = "yuv420p"
        if rotation is not None:
            vs.set_display_rotation(rotation, hflip=hflip)
        if audio:
            ast = c.add_stream("aac", rate=sr)
            ast.layout = "stereo"
        for i in range(int(seconds * fps)):
            img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8) if noise else \
                np.full((size, size, 3), min(255, 20 * i), np.uint8)
            if rotation is not None:
                img[:, : size // 4] = 255
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


def damage(root):
    """The damaged files of a real collection, made from one good clip with sound."""
    write_clip(root / "source.mp4", 2.0, faststart=True, noise=True)
    data = (root / "source.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: int(0.3 * len(data))])
    (root / "zeroed.mp4").write_bytes(bytes(len(data)))
    (root / "text.mp4").write_text("these are lecture notes, not a video\n" * 20)
    write_clip(root / "silent.mp4", 0.8, audio=False)
    write_clip(root / "short.mp4", 0.1)
    slow = root / "late_index.mp4"                       # index at the end: a cut copy cannot be opened
    write_clip(slow, 0.8)
    (root / "cut.mp4").write_bytes(slow.read_bytes()[: slow.stat().st_size // 2])


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    for i in range(3):
        write_clip(root / f"good{i}.mp4", 0.8, freq=300.0 + 200 * i)
    for j in range(24):                   # distinct files: a manifest that lists one file twice keeps it once
        shutil.copy(root / f"good{j % 3}.mp4", root / f"g{j}.mp4")
    damage(root)
    return root


def test_decode(clips):
    wave = decode_audio(clips / "good0.mp4", 16000)
    assert wave.dtype == np.float32 and abs(wave.size / 16000 - 0.8) < 0.1
    spec = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spec) * 16000 / wave.size - 300) < 10            # resampled, still 300 Hz
    frames = decode_frames(clips / "good0.mp4", 4)
    assert frames.shape == (4, 32, 32, 3) and frames.dtype == np.uint8
    assert np.all(np.diff(frames.mean(axis=(1, 2, 3))) > 0)               # evenly spaced, in time order


def test_truncated_clip_opens_and_decodes_its_first_frame_but_is_found(clips):
    """What a first-packet probe let through: the cut mp4 opens and its first frame decodes."""
    with av.open(str(clips / "truncated.mp4")) as c:
        assert next(c.decode(video=0)) is not None
    with pytest.raises(ClipError) as e:
        decode_clip(clips / "truncated.mp4", clips / "truncated.mp4", SMOKE.data, 29)
    assert e.value.reason == "decode_error" and "packet at" in e.value.detail


def test_theora_vorbis_ogg_is_read_in_full():
    """libtheora's encoder writes zero-byte packets for repeated frames; FFmpeg refuses them if passed on."""
    with av.open(str(THEORA)) as c:
        sizes = [p.size for p in c.demux(video=0) if p.pts is not None]
    assert 0 in sizes and sizes[0] > 0
    d = load_config("cpu").data
    frames, wave = decode_clip(THEORA, THEORA, d, d.audio_frames)
    assert frames.shape == (4, 32, 32, 3) and wave.size == 10480
    brightness = frames.mean(axis=(1, 2, 3))
    assert brightness[0] < brightness[1] == brightness[3]              # the still frames repeat the 5th


def write_vorbis(path, seconds=1.0, sr=22050, empty=True):
    """A Vorbis .ogg (FFmpeg's native encoder) with, if ``empty``, a zero-byte packet after every audio
    packet, as Theora/Vorbis files from libtheora's tools have. Returns the number of zero-byte packets."""
    t = np.arange(int(seconds * sr)) / sr
    wave = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    n = 0
    with av.open(str(path), "w") as c:
        s = c.add_stream("vorbis", rate=sr)
        s.layout = "stereo"
        s.codec_context.options = {"strict": "experimental"}
        for k in range(0, wave.size, 1024):
            f = av.AudioFrame.from_ndarray(np.stack([wave[k:k + 1024]] * 2), format="fltp", layout="stereo")
            f.sample_rate, f.pts, f.time_base = sr, k, Fraction(1, sr)
            for p in s.encode(f):
                c.mux(p)
                if empty:
                    z = av.Packet(0)
                    z.stream, z.pts, z.dts, z.time_base = s, p.pts, p.dts, p.time_base
                    c.mux(z)
                    n += 1
        for p in s.encode():
            c.mux(p)
    return n


class Untimed:
    """An opened container whose zero-byte audio packets come without a timestamp, as those of Debian's
    movie-hello.ogg do (FFmpeg's ogg demuxer times those of :func:`write_vorbis`)."""

    def __init__(self, container):
        self.container = container

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.container.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self.container, name)

    def demux(self, *streams):
        for p in self.container.demux(*streams):
            if p.size == 0 and p.buffer_ptr and p.stream.type == "audio":
                p.pts = p.dts = None
            yield p


@pytest.mark.parametrize("timed", [True, False])
def test_zero_byte_vorbis_packets_are_skipped(clips, tmp_path, monkeypatch, timed):
    ogg, plain = tmp_path / "empty_packets.ogg", tmp_path / "plain.ogg"
    n = write_vorbis(ogg)
    write_vorbis(plain, empty=False)
    with av.open(str(ogg)) as c:
        empty = [p for p in c.demux(audio=0) if p.size == 0 and p.buffer_ptr]
    assert len(empty) == n > 20
    if not timed:
        real = av.open
        monkeypatch.setattr(av, "open", lambda *a, **k: Untimed(real(*a, **k)))
    wave = decode_audio(ogg, 16000)
    assert wave.size > 0.9 * 16000 and np.array_equal(wave, decode_audio(plain, 16000))   # they hold no audio
    d = load_config("cpu").data
    frames, clip_wave = decode_clip(clips / "good0.mp4", ogg, d, 1)
    assert frames.shape[0] == d.num_frames and np.array_equal(clip_wave, wave[: clip_wave.size])


def test_directory_entry_is_not_a_file(clips, tmp_path):
    (tmp_path / "folder.mp4").mkdir()
    entries = [{"video_id": "dir", "video_path": str(tmp_path / "folder.mp4"), "labels": "x"},
               {"video_id": "wav", "video_path": str(clips / "good0.mp4"), "wav": str(tmp_path), "labels": "x"},
               {"video_id": "nope", "video_path": str(tmp_path / "nope.mp4"), "labels": "x"}]
    ds = ManifestDataset(entries, [0] * 3, [0, 1, 2], 0, SMOKE.data, (-5.081, 4.485), train=False)
    got = {d["video_id"]: (d["reason"], d["detail"]) for d in ds.skip_details}
    assert got == {"dir": ("not_a_file", f"{tmp_path / 'folder.mp4'} is a directory"),
                   "wav": ("not_a_file", f"{tmp_path} is a directory"),
                   "nope": ("missing", f"no file {tmp_path / 'nope.mp4'}")}


def test_every_damaged_file_is_skipped_with_its_reason(clips, caplog):
    names = ["good0.mp4", "good1.mp4", "truncated.mp4", "zeroed.mp4", "text.mp4", "nope.mp4", "silent.mp4",
             "short.mp4", "cut.mp4"]
    entries = [{"video_id": n, "video_path": str(clips / n), "labels": "x"} for n in names] + [{"labels": "x"}]
    ds = ManifestDataset(entries, [0] * 10, list(range(10)), 0, SMOKE.data, (-5.081, 4.485), train=False)
    assert len(ds) == 2
    reasons = {d["video_id"]: d["reason"] for d in ds.skip_details}
    assert reasons == {"truncated.mp4": "decode_error", "zeroed.mp4": "corrupt", "text.mp4": "corrupt",
                       "nope.mp4": "missing", "silent.mp4": "no_audio", "short.mp4": "too_short",
                       "cut.mp4": "corrupt", "9": "bad_entry"}
    assert ds.skipped["missing"] == [str(clips / "nope.mp4")]
    assert all(d["detail"] for d in ds.skip_details if d["reason"] != "no_audio")
    it = ds[1]
    d = SMOKE.data
    assert it["audio"].shape == (d.audio_frames, d.mel_bins) and it["audio"].dtype == torch.float32
    assert it["video"].shape == (d.num_frames, 3, d.image_size, d.image_size) and it["index"] == 1
    assert torch.equal(ds[1]["audio"], it["audio"])


def test_decoded_clips_are_not_decoded_again(clips, monkeypatch):
    import stella.data.manifest as M

    entries = [{"video_id": "a", "video_path": str(clips / "good0.mp4"), "labels": "x"}]
    ds = ManifestDataset(entries, [0], [0], 0, SMOKE.data, (-5.081, 4.485), train=True)
    monkeypatch.setattr(M, "decode_clip", lambda *a: pytest.fail("decoded twice"))
    ds.set_epoch(1)
    assert ds[0]["audio"].shape == (SMOKE.data.audio_frames, SMOKE.data.mel_bins)
    assert ManifestDataset(entries, [0], [0], 0, SMOKE.data, (-5.081, 4.485), train=True, cache=ds.cache).items


def manifest(tmp_path, rows, name="m.json"):
    data = [{"video_id": f"v{i}", "video_path": str(p), "labels": label} for i, (label, p) in enumerate(rows)]
    (tmp_path / name).write_text(json.dumps({"data": data}))
    return tmp_path / name


def test_manifest_benchmark_missing_task_is_an_error(clips, tmp_path, caplog):
    m = manifest(tmp_path, [("playing badminton", clips / "good0.mp4"), ("playing badminton", clips / "good1.mp4"),
                            ("playing piano", clips / "good2.mp4"), ("playing piano", clips / "g3.mp4"),
                            ("playing piano", clips / "cut.mp4"), ("unheard of", clips / "g4.mp4")])
    cfg = load_config("smoke", [f"data.manifest={m}", "data.dataset=manifest", "data.num_tasks=3",
                                "data.classes_per_task=1", "data.eval_per_class=1",
                                "data.task_order=music,sports,vehicle,people,animals,home&nature,"
                                "others_part1,others_part2"])
    with pytest.raises(ValueError, match="no clips for task 'vehicle'"):
        build_benchmark(cfg)
    assert "1 clips with labels outside continual-vs, not used: unheard of" in caplog.text


def test_manifest_honours_num_tasks(clips, tmp_path):
    m = manifest(tmp_path, [("playing badminton", clips / "good0.mp4"), ("playing badminton", clips / "good1.mp4")])
    sets = [f"data.manifest={m}", "data.dataset=manifest", "data.classes_per_task=1", "data.eval_per_class=1"]
    b = build_benchmark(load_config("smoke", [*sets, "data.num_tasks=1"]))
    assert b.task_names == ["sports"]
    with pytest.raises(ConfigError, match=r"data\.num_tasks: 9 tasks configured, continual-vs has 8"):
        build_benchmark(load_config("smoke", [*sets, "data.num_tasks=9"]))


@pytest.mark.parametrize("text, message", [
    ("[1, 2, 3]", r"m\.json: entry 0 is 1, not an object"),
    ('{"data": [{"video_path": "a.mp4",}]}', r"m\.json: not valid JSON \(line 1, column 34"),
    ('{"clips": []}', r"m\.json: expected a JSON list of entries .* got a JSON object without \"data\""),
    ('{"data": "hello"}', r"m\.json: expected a JSON list .* got a JSON object whose \"data\" is a JSON string, not a list"),
    ('{"data": null}', r"m\.json: expected .* got a JSON object whose \"data\" is JSON null, not a list"),
    ('"hello"', r"m\.json: expected a JSON list of entries or \{\"data\": \[\.\.\.\]\}, got a JSON string$"),
])
def test_bad_manifest_files_are_named(tmp_path, text, message):
    (tmp_path / "m.json").write_text(text)
    with pytest.raises(ValueError, match=message):
        build_benchmark(load_config("smoke", [f"data.manifest={tmp_path / 'm.json'}", "data.dataset=manifest"]))


def test_manifest_two_task_benchmark(clips, tmp_path, monkeypatch, caplog):
    import stella.data.splits as S
    split = S.load_split("continual-vs")
    split = {**split, "default_order": ["sports", "music"], "shuffled_order": ["music", "sports"]}
    monkeypatch.setattr(S, "load_split", lambda b: split)
    m = manifest(tmp_path, [("playing badminton", clips / "good0.mp4"), ("playing badminton", clips / "good1.mp4"),
                            ("playing piano", clips / "good2.mp4"), ("playing piano", clips / "truncated.mp4"),
                            ("playing piano", clips / "g3.mp4"), ("unheard of", clips / "g4.mp4")])
    cfg = load_config("smoke", [f"data.manifest={m}", "data.dataset=manifest",
                                "data.classes_per_task=1", "data.eval_per_class=1", "data.task_order=shuffled"])
    b = build_benchmark(cfg)
    [line] = [r.getMessage() for r in caplog.records if "labels outside" in r.getMessage()]
    assert "unheard of" in line and "UserWarning" not in line
    assert b.task_names == ["music", "sports"] and b.audio_norm == (-5.081, 4.485)
    music, sports = b.tasks
    assert len(music.eval) == 1 and len(music.train) == 1                  # truncated.mp4 skipped
    assert music.train.skipped == {"decode_error": [str(clips / "truncated.mp4")]}
    [s] = b.info["skipped"]
    assert (s["path"], s["reason"], s["task"], s["split"], s["video_id"]) == \
        (str(clips / "truncated.mp4"), "decode_error", "music", "train", "v3")
    assert len(sports.train) == 1 and len(sports.eval) == 1
    assert {music.train.items[0][3], music.eval.items[0][3]} == {2, 4}
    batch = default_collate([sports.train[0], sports.eval[0]])
    assert batch["label"].tolist() == [1, 1] and batch["task"].tolist() == [1, 1]
    sports.train.set_epoch(0)
    a = sports.train[0]["audio"]
    sports.train.set_epoch(1)
    assert not torch.equal(a, sports.train[0]["audio"])


def test_training_runs_through_damaged_files(clips, tmp_path, caplog, one_thread):
    """A smoke run of a real-video manifest: damaged clips in both tasks, the cut mp4 in task 2's train split."""
    from stella.continual import run_experiment

    good = iter(clips / f"g{j}.mp4" for j in range(24))
    rows = []
    for t, (labels, bad) in enumerate([(("playing badminton", "playing table tennis"),
                                        [clips / "zeroed.mp4", clips / "text.mp4", clips / "nope.mp4"]),
                                       (("playing accordion", "playing acoustic guitar"),
                                        [clips / "truncated.mp4", clips / "silent.mp4"])]):
        for lab in labels:
            rows += [(lab, next(good)) for k in range(6)]
        rows[-12], rows[-11] = (labels[0], bad[0]), (labels[0], bad[1])      # train split of the task's 1st class
        if len(bad) > 2:
            rows[-1] = (labels[1], bad[2])                                   # eval split of its 2nd class
    m = manifest(tmp_path, rows)
    cfg = load_config("smoke", [f"data.manifest={m}", "data.dataset=manifest", "continual.method=finetune"])
    rd = run_experiment(cfg, results_dir=tmp_path / "store")
    assert rd.complete and rd.last_task() == 2
    skipped = {(s["path"], s["reason"], s["task"], s["split"]) for s in rd.load_json("skipped")}
    assert skipped == {(str(clips / "zeroed.mp4"), "corrupt", "sports", "train"),
                       (str(clips / "text.mp4"), "corrupt", "sports", "train"),
                       (str(clips / "nope.mp4"), "missing", "sports", "eval"),
                       (str(clips / "truncated.mp4"), "decode_error", "music", "train"),
                       (str(clips / "silent.mp4"), "no_audio", "music", "train")}
    assert rd.load_json("meta")["skipped"] == {"corrupt": 2, "decode_error": 1, "missing": 1, "no_audio": 1}
    lines = [r.getMessage() for r in caplog.records if "clips skipped" in r.getMessage()]
    assert len(lines) == 1 and "5 clips skipped" in lines[0] and "skipped.json" in lines[0]
    first = [Path(s["path"]).name for s in rd.load_json("skipped")[:3]]
    assert f": {', '.join(first)} and 2 more, listed in" in lines[0], lines[0]


def _splits_of(bench):
    """Each clip (its file, and its video_id) -> the task/split lists it is in."""
    where = {}
    for t in bench.tasks:
        for split, ds in (("train", t.train), ("eval", t.eval)):
            for v, _, _, idx in ds.items:
                where.setdefault(os.path.realpath(v), []).append(f"{t.name}/{split}")
    return where


def test_duplicates_are_named_and_kept_once_and_no_clip_is_in_two_splits(clips, tmp_path, caplog):
    os.symlink(clips / "g0.mp4", tmp_path / "alias.mp4")
    bad = "playing badminton"
    rows = [(bad, clips / f"g{j}.mp4") for j in range(5)] + [(bad, clips / "g0.mp4"), (bad, tmp_path / "alias.mp4")]
    rows += [("playing accordion", clips / f"g{j}.mp4") for j in range(5, 10)]
    m = manifest(tmp_path, rows)
    data = json.loads(m.read_text())
    data["data"][9]["video_id"] = "v1"                                       # another file, the same video
    m.write_text(json.dumps(data))
    cfg = load_config("smoke", [f"data.manifest={m}", "data.dataset=manifest", "data.classes_per_task=1",
                                "data.eval_per_class=1"])
    b = build_benchmark(cfg)
    assert [(d["index"], d["of"]) for d in b.info["duplicates"]] == [(5, 0), (6, 0), (9, 1)]
    assert "same video file" in b.info["duplicates"][1]["why"] and b.info["duplicates"][2]["why"] == "same video_id v1"
    [line] = [r.getMessage() for r in caplog.records if "duplicate entries" in r.getMessage()]
    assert f"{m}: 3 duplicate entries dropped" in line and "entry 5 (same video file" in line
    assert all(len(splits) == 1 for splits in _splits_of(b).values()), _splits_of(b)
    for seed in range(4):                    # any order of the same entries: still no clip in two splits
        order = np.random.default_rng(seed).permutation(len(rows))
        m.write_text(json.dumps({"data": [data["data"][i] for i in order]}))
        assert all(len(splits) == 1 for splits in _splits_of(build_benchmark(cfg)).values())


def test_split_manifest_keeps_a_repeated_entry_once(clips, tmp_path):
    from stella.data.splits import split_manifest

    m = manifest(tmp_path, [("playing badminton", clips / "g0.mp4"), ("playing badminton", clips / "g0.mp4")])
    assert split_manifest(m, "continual-vs", tmp_path / "out")["counts"]["sports"] == 1


def test_every_skip_names_its_real_cause(clips, tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "empty.mp4").write_bytes(b"")
    os.symlink(tmp_path / "loop_b", tmp_path / "loop_a")
    os.symlink(tmp_path / "loop_a", tmp_path / "loop_b")
    os.symlink(tmp_path / "gone.mp4", tmp_path / "dangling.mp4")
    entries = [{"video_path": "http://example.com/a.mp4"}, {"video_path": f"file://{clips / 'g0.mp4'}"},
               {"video_path": str(clips / "g1.mp4"), "wav": str(tmp_path / "empty.wav")},
               {"video_path": str(tmp_path / "empty.mp4")}, {"video_path": str(tmp_path / "loop_a")},
               {"video_path": str(tmp_path / "dangling.mp4")}, {"video_path": "clips/rel.mp4"},
               {"video_path": str(tmp_path / "nope.mp4")}]
    ds = ManifestDataset(entries, [0] * len(entries), list(range(len(entries))), 0, SMOKE.data, (-5.081, 4.485),
                         train=False, root=tmp_path)
    got = [(d["path"], d["reason"], d["detail"]) for d in ds.skip_details]
    assert got[0] == ("http://example.com/a.mp4", "url",
                      "http://example.com/a.mp4 is a URL; a manifest names local files (download it and list its path)")
    assert got[1][:2] == (f"file://{clips / 'g0.mp4'}", "url")
    assert got[2] == (str(tmp_path / "empty.wav"), "empty", f"{tmp_path / 'empty.wav'} is 0 bytes")      # not the video
    assert got[3][:2] == (str(tmp_path / "empty.mp4"), "empty")
    assert got[4] == (str(tmp_path / "loop_a"), "symlink_loop", f"{tmp_path / 'loop_a'} is a loop of symbolic links")
    assert got[5][1:] == ("missing", f"{tmp_path / 'dangling.mp4'} is a symbolic link to {tmp_path / 'gone.mp4'}, "
                                     "which does not exist")
    assert got[6] == (str(tmp_path / "clips/rel.mp4"), "missing", f"no file {tmp_path / 'clips/rel.mp4'} (a relative path "
                      f"in a manifest is resolved against the manifest's folder, not the working directory: {tmp_path})")
    assert got[7] == (str(tmp_path / "nope.mp4"), "missing", f"no file {tmp_path / 'nope.mp4'}")   # absolute: no rule
    assert not ds.items


def test_rotation_is_applied_or_the_clip_named(tmp_path):
    write_clip(tmp_path / "upright.mp4", 0.4)
    for turn in (90, -90, 180):
        write_clip(tmp_path / f"r{turn}.mp4", 0.4, rotation=turn)
    write_clip(tmp_path / "r45.mp4", 0.4, rotation=45)
    write_clip(tmp_path / "mirrored.mp4", 0.4, rotation=0, hflip=True)
    white = lambda f: {side: bool(part.mean() > 200) for side, part in     # noqa: E731
                       (("left", f[:, :4]), ("right", f[:, -4:]), ("top", f[:4]), ("bottom", f[-4:]))}
    assert white(decode_frames(tmp_path / "upright.mp4", 2)[0]) == {"left": False, "right": False, "top": False,
                                                                    "bottom": False}
    # counter-clockwise by the display matrix's angle: the white left quarter ends at the bottom, top, right
    for turn, side in ((90, "bottom"), (-90, "top"), (180, "right")):
        frames = decode_frames(tmp_path / f"r{turn}.mp4", 2)
        assert frames.shape == (2, 32, 32, 3) and [k for k, v in white(frames[-1]).items() if v] == [side], turn
    for name, detail in (("r45", "a display rotation of 45 degrees"), ("mirrored", "a mirrored display matrix")):
        with pytest.raises(ClipError, match=detail) as e:
            decode_clip(tmp_path / f"{name}.mp4", tmp_path / f"{name}.mp4", SMOKE.data, 1)
        assert e.value.reason == "rotation" and e.value.path == tmp_path / f"{name}.mp4"
