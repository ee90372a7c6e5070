"""Real audio-video clips from a CAV-MAE-style manifest, decoded with PyAV (appendix B).

Entries are ``{"video_id", "video_path" | "video" | "path", "wav" (optional), "labels"}``. Each
clip gives T RGB frames at evenly spaced timestamps and its audio resampled to 16 kHz mono
(``av.AudioResampler``) -> fbank. Every file is probed once at construction; missing, corrupt,
audio-less, video-less and too-short files are skipped with a warning naming the file and
counted in ``dataset.skipped`` (reason -> files), so ``__getitem__`` only sees good files.
Clips whose fbank covers at least ``min_fraction`` of ``audio_frames`` are zero-padded to it, as
CAV-MAE does for VGGSound's 10 s clips (998 frames -> 1024); the count is ``dataset.padded``.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import av
import numpy as np
import torch
from torch.utils.data import Dataset

from stella.config import DataConfig
from stella.data import audio as A
from stella.data import video as V
from stella.data.benchmark import augment_clip, augment_seed

log = logging.getLogger(__name__)


def media_paths(entry: dict, root: Path | None = None) -> tuple[Path, Path]:
    """(video file, audio file) of a manifest entry; the audio comes from the video unless "wav" is set."""
    v = entry.get("video_path") or entry.get("video") or entry.get("path") or entry.get("wav")
    if v is None:
        raise KeyError("entry has none of video_path / video / path / wav")
    a = entry.get("wav") or v
    fix = (lambda p: Path(p) if root is None or Path(p).is_absolute() else root / p)
    return fix(v), fix(a)


def _seconds(stream, container) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return float(container.duration or 0) / av.time_base


def probe(video: Path, audio: Path, need_s: float, num_frames: int) -> str | None:
    """None when the clip is usable, else the reason: missing, corrupt, no_video, no_audio, too_short."""
    for p in {video, audio}:
        if not p.is_file():
            return "missing"
    try:
        with av.open(str(video)) as c:
            if not c.streams.video:
                return "no_video"
            vs = c.streams.video[0]
            if vs.frames and vs.frames < num_frames:
                return "too_short"
            next(c.decode(video=0))
            if audio == video and not c.streams.audio:
                return "no_audio"
        with av.open(str(audio)) as c:
            if not c.streams.audio:
                return "no_audio"
            if _seconds(c.streams.audio[0], c) < need_s:
                return "too_short"
            next(c.decode(audio=0))
    except (av.error.FFmpegError, OSError, StopIteration, ValueError):
        return "corrupt"
    return None


def decode_audio(path: Path, sample_rate: int, max_seconds: float | None = None) -> np.ndarray:
    """Mono float32 waveform (S,) at ``sample_rate`` via PyAV's AudioResampler."""
    res = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    out, n = [], 0
    limit = None if max_seconds is None else int(max_seconds * sample_rate)
    with av.open(str(path)) as c:
        for frame in c.decode(audio=0):
            for f in res.resample(frame):
                out.append(f.to_ndarray().reshape(-1))
                n += out[-1].size
            if limit is not None and n >= limit:
                break
        for f in res.resample(None):
            out.append(f.to_ndarray().reshape(-1))
    wave = np.concatenate(out) if out else np.zeros(0, np.float32)
    return wave[:limit] if limit is not None else wave


def decode_frames(path: Path, num_frames: int) -> np.ndarray:
    """T RGB frames nearest to evenly spaced timestamps (segment centres). Returns (T, H, W, 3) uint8."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        start = float(s.start_time * s.time_base) if s.start_time is not None else 0.0
        dur = _seconds(s, c)
        targets = start + (np.arange(num_frames) + 0.5) / num_frames * dur
        picked: list = [None] * num_frames
        prev, k = None, 0
        for frame in c.decode(video=0):
            t = float(frame.time) if frame.time is not None else start
            while k < num_frames and t >= targets[k]:
                use = prev if prev is not None and targets[k] - prev[0] < t - targets[k] else (t, frame)
                picked[k] = use[1].to_ndarray(format="rgb24")
                k += 1
            if k == num_frames:
                break
            prev = (t, frame)
        last = prev[1].to_ndarray(format="rgb24") if prev is not None else None
    frames = [p if p is not None else last for p in picked]
    if any(f is None for f in frames):
        raise RuntimeError(f"{path}: no decodable video frames")
    return np.stack(frames)


class ManifestDataset(Dataset):
    """Clips of ``entries`` with global ``labels`` and stable ``indices``, at task position ``task``."""

    def __init__(self, entries: list[dict], labels: list[int], indices: list[int], task: int, data: DataConfig,
                 norm: tuple[float, float], train: bool, root: Path | None = None, min_fraction: float = 0.9):
        if not 0 < min_fraction <= 1:
            raise ValueError(f"min_fraction must be in (0, 1], got {min_fraction}")
        self.data, self.norm, self.task, self.epoch = data, norm, task, 0
        self.augment = train and data.augment
        self.min_frames = int(np.ceil(min_fraction * data.audio_frames))
        need_s = A.duration_for_frames(self.min_frames, data.sample_rate)
        self.skipped: dict[str, list[str]] = {}
        self.items: list[tuple[Path, Path, int, int]] = []
        self.padded = 0
        for e, y, idx in zip(entries, labels, indices):
            try:
                v, a = media_paths(e, root)
            except KeyError as err:
                self.skipped.setdefault("bad_entry", []).append(str(e.get("video_id", idx)))
                warnings.warn(f"manifest entry {e.get('video_id', idx)}: {err}; skipped")
                continue
            reason = probe(v, a, need_s, data.num_frames)
            if reason is not None:
                self.skipped.setdefault(reason, []).append(str(v))
                warnings.warn(f"{v}: skipped ({reason})")
                continue
            self.items.append((v, a, y, idx))
        n_skip = sum(len(v) for v in self.skipped.values())
        if n_skip:
            log.warning("manifest dataset: %d usable, %d skipped (%s)", len(self.items), n_skip,
                        ", ".join(f"{k}={len(v)}" for k, v in sorted(self.skipped.items())))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        v, a, label, index = self.items[i]
        d = self.data
        wave = decode_audio(a, d.sample_rate, A.duration_for_frames(d.audio_frames, d.sample_rate))
        n = A.frames_for_num_samples(wave.size, d.sample_rate)
        if n < self.min_frames:
            raise RuntimeError(f"{a}: decodes to {n} fbank frames < {self.min_frames} although the probe passed")
        self.padded += int(n < d.audio_frames)
        fb = A.normalize(A.fbank(torch.from_numpy(wave), d.sample_rate, d.mel_bins, d.audio_frames), *self.norm)
        video = V.resize_video(V.to_float_video(torch.from_numpy(decode_frames(v, d.num_frames))), d.image_size)
        video = V.normalize_video(video)
        if self.augment:
            g = torch.Generator().manual_seed(augment_seed(d.seed, index, self.epoch))
            fb, video, _, _ = augment_clip(fb, video, g, d)
        return {"audio": fb.to(torch.float32), "video": video.contiguous(), "label": label, "task": self.task,
                "index": index}


def build_manifest_benchmark(cfg):
    """Continual-VS / Continual-AS from ``cfg.data.manifest``: tasks by label category, in the configured order.

    Per task the first ``classes_per_task`` split classes present in the manifest; per class the last
    ``eval_per_class`` clips (manifest order) are the eval split and up to ``train_per_class`` of the
    others the train split. Audio norm: the config's, else the paper's (-5.081, 4.485).
    """
    from stella.data.benchmark import Benchmark, Task, norm_from_config
    from stella.data.splits import assign_tasks, benchmark_order, entry_labels, label_to_task, load_split, read_manifest

    d = cfg.data
    path = Path(d.manifest)
    if not path.is_file():
        raise FileNotFoundError(f"data.manifest: {path} does not exist")
    entries = read_manifest(path)
    for i, e in enumerate(entries):
        e.setdefault("_index", i)
    split = load_split(d.benchmark)
    order = benchmark_order(d.benchmark, d.task_order)
    mapping = label_to_task(d.benchmark, d.category_csv or None)
    by_task, unknown = assign_tasks(entries, mapping)
    if unknown:
        warnings.warn(f"{path}: {sum(unknown.values())} clips with labels outside {d.benchmark}: {sorted(unknown)[:5]}")
    norm = norm_from_config(d) or A.PAPER_NORM
    class_names: list[str] = []
    tasks = []
    for pos, name in enumerate(order):
        per_label: dict[str, list[dict]] = {}
        for e in by_task.get(name, []):
            lab = next(l for l in entry_labels(e) if mapping.get(l) == name)
            per_label.setdefault(lab, []).append(e)
        labels = sorted(per_label, key=lambda l: (split["tasks"].get(name, []).index(l)
                                                  if l in split["tasks"].get(name, []) else 10 ** 6, l))
        labels = labels[: d.classes_per_task]
        if not labels:
            raise ValueError(f"{path}: no clips for task {name!r} of {d.benchmark}")
        parts: dict[str, tuple[list, list, list]] = {"train": ([], [], []), "eval": ([], [], [])}
        ids = []
        for lab in labels:
            ids.append(len(class_names))
            class_names.append(lab)
            clips = per_label[lab]
            ev, tr = clips[len(clips) - d.eval_per_class:], clips[: max(0, len(clips) - d.eval_per_class)]
            for part, chosen in (("train", tr[: d.train_per_class]), ("eval", ev)):
                for e in chosen:
                    parts[part][0].append(e)
                    parts[part][1].append(ids[-1])
                    parts[part][2].append(int(e["_index"]))
        ds = {p: ManifestDataset(*parts[p], pos, d, norm, train=p == "train", root=path.parent) for p in parts}
        tasks.append(Task(name, pos, ids, ds["train"], ds["eval"]))
    return Benchmark(f"manifest:{d.benchmark}", tasks, norm, class_names, {"unknown_labels": unknown})


def build_pretrain_manifest(cfg, manifest: str | Path) -> ManifestDataset:
    """Pre-training clips (section 5.1, appendix B) from a CAV-MAE-style ``manifest``: every entry
    none of whose labels belongs to the continual benchmark (``data.benchmark``, ``data.category_csv``)
    -- the paper excludes unused VGGSound clips whose labels are in Continual-VS. One dataset, task 0,
    augmented like the continual training clips, normalised like them (config or paper statistics)."""
    from stella.data.benchmark import norm_from_config
    from stella.data.splits import entry_labels, label_to_task, read_manifest

    d = cfg.data
    path = Path(manifest)
    if not path.is_file():
        raise FileNotFoundError(f"pretrain.manifest: {path} does not exist")
    continual = label_to_task(d.benchmark, d.category_csv or None)
    kept, dropped = [], 0
    for i, e in enumerate(read_manifest(path)):
        labels = entry_labels(e)
        if any(l in continual for l in labels):
            dropped += 1
        else:
            kept.append((e, labels[0] if labels else "<no label>", i))
    if not kept:
        raise ValueError(f"pretrain.manifest: {path} has no clip outside {d.benchmark}'s labels ({dropped} dropped)")
    if dropped:
        log.warning("pretrain manifest %s: %d clips dropped (labels of %s)", path, dropped, d.benchmark)
    names = sorted({lab for _, lab, _ in kept})
    return ManifestDataset([e for e, _, _ in kept], [names.index(lab) for _, lab, _ in kept], [i for _, _, i in kept],
                           0, d, norm_from_config(d) or A.PAPER_NORM, train=True, root=path.parent)
