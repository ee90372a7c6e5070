"""Benchmark containers and the clip dataset shared by the synthetic and tuxpaint benchmarks.

A :class:`Benchmark` is the task sequence D_1..D_T of section 3.1 in the configured order; each
:class:`Task` holds a train and an eval ``Dataset`` over disjoint clips. Items follow
docs/CONTRACTS.md: audio (t, f) normalised fbank, video (T, 3, H, W) ImageNet-normalised, label,
task (position in the sequence), index (stable clip id), and for generated clips the ground
truth mask (T, H, W) and active (t,). Train datasets augment (Table 6) with a generator seeded by
(data seed, index, epoch); ``set_epoch(e)`` makes runs reproducible and resumable. With
``data.audio_roll = "aligned"`` the audio roll moves whole segments and the frames (and mask) roll
by the same number of frames, keeping each frame aligned with its audio segment.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from stella.config import DataConfig
from stella.data import audio as A
from stella.data import video as V


@dataclass
class Task:
    name: str
    index: int                 # position in the task sequence
    classes: list[int]         # global class ids
    train: Dataset
    eval: Dataset


@dataclass
class Benchmark:
    name: str
    tasks: list[Task]
    audio_norm: tuple[float, float]          # (mean, std) applied to the fbank
    class_names: list[str]
    info: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]


def augment_seed(seed: int, index: int, epoch: int) -> int:
    """One 63-bit seed per (data seed, clip index, epoch)."""
    return int(np.random.SeedSequence([seed, index, epoch, 0xA06]).generate_state(2, np.uint64)[0] >> 1)


def augment_clip(audio: torch.Tensor, video: torch.Tensor, generator: torch.Generator, data: DataConfig,
                 mask: torch.Tensor | None = None, active: torch.Tensor | None = None):
    """Table 6 augmentation of one clip: audio (t, f) noise + roll (``data.audio_roll``), video
    (T, 3, H, W) multi-scale crop; mask (T, H, W) and active (t,) follow. With the "aligned" roll of
    k segments the frames roll by k too. Returns (audio, video, mask, active)."""
    shift = A.roll_shift(audio.shape[0], generator, data.audio_roll, video.shape[0])
    audio, active = A.augment_audio(audio, generator, active, shift=shift)
    if data.audio_roll == "aligned" and shift:
        k = shift // (audio.shape[0] // video.shape[0])
        video = torch.roll(video, k, dims=0)
        mask = None if mask is None else torch.roll(mask, k, dims=0)
    video, mask = V.multiscale_crop(video, generator, mask)
    return audio, video, mask, active


class ClipSource:
    """Renders clips with ``render(index) -> {wave, events, frames, mask}`` and caches their tensors.

    The cached base item is un-augmented: audio (t, f) normalised, video (T, 3, H, W) normalised,
    mask (T, H, W) bool, active (t,) bool.
    """

    def __init__(self, render: Callable[[int], dict], data: DataConfig, norm: tuple[float, float]):
        self.render, self.data, self.norm = render, data, norm
        self.cache: dict[int, dict[str, torch.Tensor]] = {}

    def base(self, index: int) -> dict[str, torch.Tensor]:
        if index not in self.cache:
            d = self.data
            raw = self.render(index)
            fb = A.fbank(torch.from_numpy(raw["wave"]), d.sample_rate, d.mel_bins, d.audio_frames)
            video = torch.from_numpy(raw["frames"]).permute(0, 3, 1, 2)                  # (T, 3, H, W)
            mask = torch.from_numpy(raw["mask"])
            if video.shape[-1] != d.image_size:
                video = V.resize_video(video, d.image_size)
                mask = torch.nn.functional.interpolate(mask[:, None].float(), size=(d.image_size,) * 2,
                                                       mode="nearest")[:, 0] > 0.5
            self.cache[index] = {"audio": A.normalize(fb, *self.norm).to(torch.float32),
                                 "video": V.normalize_video(video).contiguous(),
                                 "mask": mask.contiguous(),
                                 "active": A.frame_activity(raw["events"], d.audio_frames)}
        return self.cache[index]


class ClipDataset(Dataset):
    """Clips ``indices`` (global ids) with labels ``labels`` of the task at sequence position ``task``."""

    def __init__(self, source: ClipSource, indices: list[int], labels: list[int], task: int,
                 augment: bool, seed: int):
        if len(indices) != len(labels) or not indices:
            raise ValueError(f"a task split needs >= 1 clip and one label per clip, got {len(indices)}, {len(labels)}")
        self.source, self.indices, self.labels = source, list(indices), list(labels)
        self.task, self.augment, self.seed, self.epoch = task, augment, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        index = self.indices[i]
        base = self.source.base(index)
        audio, video, mask, active = base["audio"], base["video"], base["mask"], base["active"]
        if self.augment:
            g = torch.Generator().manual_seed(augment_seed(self.seed, index, self.epoch))
            audio, video, mask, active = augment_clip(audio, video, g, self.source.data, mask, active)
        return {"audio": audio, "video": video, "label": self.labels[i], "task": self.task,
                "index": index, "mask": mask, "active": active}


_NORM_CACHE: dict[tuple, tuple[float, float]] = {}


def clip_norm_stats(key: tuple, render_audio: Callable[[int], np.ndarray], indices: list[int],
                    data: DataConfig) -> tuple[float, float]:
    """Mean/std of the un-normalised fbank over the clips ``indices``, cached per ``key``."""
    if key not in _NORM_CACHE:
        fbs = [A.fbank(torch.from_numpy(render_audio(i)), data.sample_rate, data.mel_bins, data.audio_frames)
               for i in indices]
        _NORM_CACHE[key] = A.fbank_stats(fbs)
    return _NORM_CACHE[key]


def norm_from_config(data: DataConfig) -> tuple[float, float] | None:
    """``(audio_norm_mean, audio_norm_std)`` when both are set in the config, else None."""
    if data.audio_norm_mean is None or data.audio_norm_std is None:
        return None
    return float(data.audio_norm_mean), float(data.audio_norm_std)


def object_patches(mask: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(T, H/p, W/p) float: 1 where a ``patch_size`` patch of the (T, H, W) ``mask`` holds any of its pixels."""
    T, H, W = mask.shape
    g = mask[:, : H // patch_size * patch_size, : W // patch_size * patch_size].float()
    return g.reshape(T, H // patch_size, patch_size, W // patch_size, patch_size).amax(dim=(2, 4))


def sparsity(dataset: Dataset, patch_size: int, max_items: int | None = None) -> dict[str, float]:
    """How sparse the audio-visual correlation is (Fig. 2b), averaged over clips.

    video_patches: fraction of the (T, H/p, W/p) video patches holding any pixel of the sounding
    object; video_pixels: fraction of pixels on it; audio_chunks: fraction of the t/p audio time
    tokens (p fbank frames each) containing an event frame; audio_frames: fraction of active frames.
    """
    n = len(dataset) if max_items is None else min(len(dataset), max_items)
    vp, vx, ac, af = [], [], [], []
    for i in range(n):
        item = dataset[i]
        m, a = item["mask"], item["active"]
        g = object_patches(m, patch_size)
        vp.append(float(g.mean()))
        vx.append(float(m.float().mean()))
        c = a[: a.shape[0] // patch_size * patch_size].reshape(-1, patch_size).any(dim=1)
        ac.append(float(c.float().mean()))
        af.append(float(a.float().mean()))
    return {"video_patches": float(np.mean(vp)), "video_pixels": float(np.mean(vx)),
            "audio_chunks": float(np.mean(ac)), "audio_frames": float(np.mean(af)), "clips": n}


def sounding_share(dataset: Dataset, patch_size: int, max_items: int | None = None) -> float:
    """Fraction of the (T, H/p, W/p) video patches that show the sounding object while it sounds: a patch holding
    any pixel of ``mask`` in a frame whose audio segment (t/T fbank frames) holds an active frame; averaged over
    clips. The product of :func:`sparsity`'s spatial and temporal shares where the object's size does not change."""
    n = len(dataset) if max_items is None else min(len(dataset), max_items)
    out = []
    for i in range(n):
        item = dataset[i]
        m, a = item["mask"], item["active"]
        T = m.shape[0]
        g = object_patches(m, patch_size)
        on = a[: a.shape[0] // T * T].reshape(T, -1).any(dim=1)
        out.append(float((g * on[:, None, None]).mean()))
    return float(np.mean(out))
