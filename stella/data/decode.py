"""PyAV decoding of one audio-video clip, every packet checked (appendix B).

``decode_clip(video, audio, data, min_frames)`` returns the T RGB frames nearest to evenly spaced
timestamps (segment centres), (T, H, W, 3) uint8, turned upright as the video's display matrix says
(a rotation by a multiple of 90 degrees; any other rotation, or a mirrored one, is ``rotation``), and
the first ``audio_frames`` worth of audio resampled to ``sample_rate`` mono (``av.AudioResampler``),
(S,) float32. It decodes every packet of both streams, also past the part it keeps, so a file damaged
anywhere fails here, with a :class:`ClipError` whose ``reason`` is one of: missing (no such file, or
a symbolic link to none), symlink_loop, not_a_file (a directory or another non-file), empty (0
bytes), corrupt (not a media file PyAV opens), no_video, no_audio, decode_error (a packet fails to
decode, e.g. an mp4 cut short whose index still lists the lost packets), truncated (the video stream
ends more than one segment before its stated duration), too_short (fewer than T frames, or audio
under ``min_frames`` fbank frames) or rotation; ``detail`` holds the decoder's message and where it
failed, and ``path`` the file at fault (the ``wav`` of a clip whose audio is a file of its own).

Zero-byte packets: FFmpeg's ``avcodec_send_packet`` rejects a packet that has a buffer but no bytes
(EINVAL, "Invalid argument"; a packet without a buffer is the flush at the end of a stream). Theora
encoders write one for every frame identical to the one before: the Theora specification's dropped
frame, shown as a repeat of the previous frame. Ogg files write zero-byte Vorbis packets too (the
Vorbis specification: a zero-length audio packet holds no audio), at times without a timestamp, as
in the Theora/Vorbis ``movie-hello.ogg`` of Debian's forensics samples. Such packets are never passed
to the decoder, with or without a timestamp; for video the previous frame is repeated at the packet's
timestamp, for audio nothing is added.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

import av
import numpy as np

from stella.config import DataConfig
from stella.data import audio as A

_DECODE_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError)


class ClipError(Exception):
    """A clip that cannot be used: ``reason`` (the skip category), ``detail`` (the decoder's message) and
    ``path``, the file at fault (None: the clip's video)."""

    def __init__(self, reason: str, detail: str = "", path: Path | None = None):
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason, self.detail, self.path = reason, detail, path


def file_problem(p: Path) -> ClipError | None:
    """Why ``p`` cannot be opened as a media file before trying (None: it can be tried)."""
    try:
        st = os.stat(p)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return ClipError("symlink_loop", f"{p} is a loop of symbolic links", p)
        if os.path.islink(p):
            return ClipError("missing", f"{p} is a symbolic link to {os.readlink(p)}, which does not exist", p)
        return ClipError("missing", f"no file {p}", p)
    if not p.is_file():
        return ClipError("not_a_file", f"{p} is {'a directory' if p.is_dir() else 'not a regular file'}", p)
    if st.st_size == 0:
        return ClipError("empty", f"{p} is 0 bytes", p)
    return None


def _upright(frame) -> int:
    """Quarter turns (counter-clockwise) that put ``frame`` upright, from its display matrix (0 without one)."""
    matrix = next((np.frombuffer(bytes(d), np.int32).astype(np.int64) for d in frame.side_data
                   if str(d.type).endswith("DISPLAYMATRIX")), None)
    if matrix is None:
        return 0
    if matrix[0] * matrix[4] - matrix[1] * matrix[3] < 0:
        raise ClipError("rotation", "a mirrored display matrix (a flip), which is not supported")
    turns, rest = divmod(round(frame.rotation), 90)
    if rest:
        raise ClipError("rotation", f"a display rotation of {round(frame.rotation)} degrees; only multiples of 90 "
                                    "are supported")
    return turns % 4


def _seconds(stream, container) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return float(container.duration or 0) / av.time_base


def _message(e: Exception) -> str:
    return " ".join(str(getattr(e, "strerror", None) or e).split()) or type(e).__name__


class _FramePicker:
    """The T frames nearest to evenly spaced timestamps (segment centres) of one video stream."""

    def __init__(self, stream, container, num_frames: int):
        self.start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        self.end = self.start + _seconds(stream, container)
        self.targets = self.start + (np.arange(num_frames) + 0.5) / num_frames * (self.end - self.start)
        self.picked: list = [None] * num_frames
        self.prev = None                # (time, frame) of the last frame seen
        self.k = self.count = self.turns = 0

    def add(self, t: float | None, frame) -> None:
        t = float(t) if t is not None else self.start
        if self.count == 0:
            self.turns = _upright(frame)
        self.count += 1
        while self.k < len(self.targets) and t >= self.targets[self.k]:
            use = self.prev if self.prev is not None and self.targets[self.k] - self.prev[0] < t - self.targets[self.k] \
                else (t, frame)
            self.picked[self.k] = use[1].to_ndarray(format="rgb24")
            self.k += 1
        self.prev = (t, frame)

    def frames(self) -> tuple[np.ndarray, int]:
        """(T, H, W, 3) uint8, upright, and how many targets lay after the last frame (they repeat it)."""
        missing = sum(p is None for p in self.picked)
        last = self.prev[1].to_ndarray(format="rgb24") if missing else None
        frames = np.stack([p if p is not None else last for p in self.picked])
        return (np.ascontiguousarray(np.rot90(frames, self.turns, axes=(1, 2))) if self.turns else frames), missing


class _AudioCollector:
    """The first ``max_seconds`` of mono float32 audio at ``sample_rate`` (av.AudioResampler)."""

    def __init__(self, sample_rate: int, max_seconds: float | None):
        self.res = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        self.limit = None if max_seconds is None else int(max_seconds * sample_rate)
        self.out: list[np.ndarray] = []
        self.n = 0

    def add(self, frame) -> None:
        if self.limit is None or self.n < self.limit:
            for f in self.res.resample(frame):
                self.out.append(f.to_ndarray().reshape(-1))
                self.n += self.out[-1].size

    def wave(self) -> np.ndarray:
        for f in self.res.resample(None):
            self.out.append(f.to_ndarray().reshape(-1))
        wave = np.concatenate(self.out) if self.out else np.zeros(0, np.float32)
        return wave[: self.limit] if self.limit is not None else wave


def _decode(path: Path, num_frames: int | None, audio: _AudioCollector | None) -> _FramePicker | None:
    """Decode every packet of the first video stream (``num_frames`` given) and first audio stream (``audio``
    given) of ``path``, picking frames and collecting samples on the way. Raises ClipError."""
    try:
        container = av.open(str(path))
    except _DECODE_ERRORS as e:
        raise ClipError("corrupt", _message(e), path) from e
    with container as c:
        picker, streams = None, []
        if num_frames is not None:
            if not c.streams.video:
                raise ClipError("no_video", "", path)
            picker = _FramePicker(c.streams.video[0], c, num_frames)
            streams.append(c.streams.video[0])
        if audio is not None:
            if not c.streams.audio:
                raise ClipError("no_audio", "", path)
            streams.append(c.streams.audio[0])
        kind, t = "first", 0.0
        try:
            for pkt in c.demux(*streams):
                kind = pkt.stream.type
                if pkt.pts is not None and pkt.time_base is not None:
                    t = float(pkt.pts * pkt.time_base)
                if pkt.size == 0 and pkt.buffer_ptr:           # zero-byte packet, not the flush (module docstring)
                    if kind == "video" and pkt.pts is not None and picker.prev is not None:
                        picker.add(t, picker.prev[1])
                    continue
                for f in pkt.decode():
                    picker.add(f.time, f) if kind == "video" else audio.add(f)
        except ClipError as e:
            e.path = path
            raise
        except _DECODE_ERRORS as e:
            raise ClipError("decode_error", f"{kind} packet at {t:.2f} s: {_message(e)}", path) from e
    return picker


def decode_audio(path: Path, sample_rate: int, max_seconds: float | None = None) -> np.ndarray:
    """Mono float32 waveform (S,) at ``sample_rate``; every audio packet is decoded. Raises ClipError."""
    collector = _AudioCollector(sample_rate, max_seconds)
    _decode(Path(path), None, collector)
    return collector.wave()


def decode_frames(path: Path, num_frames: int) -> np.ndarray:
    """T RGB frames nearest to evenly spaced timestamps (segment centres). Returns (T, H, W, 3) uint8."""
    picker = _decode(Path(path), num_frames, None)
    if picker.count == 0:
        raise ClipError("corrupt", "no decodable video frames")
    return picker.frames()[0]


def decode_clip(video: Path, audio: Path, data: DataConfig, min_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames (T, H, W, 3) uint8, wave (S,) float32) of one clip, every packet of both streams decoded.

    Raises ClipError with the reason the clip cannot be used (module docstring)."""
    for p in dict.fromkeys((video, audio)):
        if (problem := file_problem(p)) is not None:
            raise problem
    collector = _AudioCollector(data.sample_rate, A.duration_for_frames(data.audio_frames, data.sample_rate))
    picker = _decode(video, data.num_frames, collector if audio == video else None)
    if audio != video:
        _decode(audio, None, collector)
    if picker.count == 0:
        raise ClipError("corrupt", "no decodable video frames")
    if picker.count < data.num_frames:
        raise ClipError("too_short", f"{picker.count} video frames < data.num_frames={data.num_frames}")
    frames, missing = picker.frames()
    if missing > 1:              # a whole clip ends at most one segment centre early (a frame per segment)
        raise ClipError("truncated", f"the video stops at {picker.prev[0]:.2f} s of its stated {picker.end:.2f} s")
    wave = collector.wave()
    n = A.frames_for_num_samples(wave.size, data.sample_rate)
    if n < min_frames:
        raise ClipError("too_short", f"{wave.size / data.sample_rate:.2f} s of audio, {n} fbank frames < {min_frames}",
                        audio)
    return frames, wave
