"""Does the AVM localise the sounding object BECAUSE of the sound? Negative audio and visual-only maps.

The sound-source localisation literature's own controls, applied to the AVM map: the map is computed again with
the clip's audio replaced by NEGATIVE audio, and set beside maps that never hear anything.

* AVM map: the Eq. 2 video importance I_v of the AVM at its training temperature beta = 1 (as
  :func:`stella.eval.signal.signal_frame` and chapter 07 compute it), one value per video patch, upsampled
  bilinearly to pixels (:func:`stella.eval.attention.upsample_to_frames`). Audio:
  - ``matched``: the clip's own audio;
  - ``silence``: the fbank of a zero waveform, normalised as the clips are;
  - ``noise``: the fbank of white noise (standard deviation 0.35, the class sound's typical level), drawn per clip;
  - ``mismatched``: the audio of another clip of another class (a random one per clip).
* visual-only maps, the same for every audio: ``brightness`` (the mean of the frame's RGB in [0, 1]) and
  ``motion`` (the mean absolute RGB change from the previous frame; frame 0 uses the change to frame 1), and a
  ``random`` map (one uniform value per video patch, nearest upsampling) as the chance level.

Truth: the sounding object in the frames where it sounds (:func:`stella.eval.signal.sounding_mask`). Per clip: IoU
of the map binarised at half its min-max range over the clip (``localization.binarize``) and the pointing game;
per map: AUC of the IoU success curve, cIoU (IoU >= 0.5) and mean pointing. :func:`sound_dependence_summary` sets
every map beside the matched one: matched − map in AUC with a percentile bootstrap interval over clips (one
model, so the clips are the sampling unit) and in pointing with a paired t-interval over clips. The AVM
localises because of the sound where matched beats every negative audio and the visual-only map with
intervals above 0.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch.utils.data import DataLoader

from stella.config import Config
from stella.data import audio as A
from stella.eval.attention import denormalize_video, upsample_to_frames
from stella.eval.localization import binarize, ciou, iou, iou_auc, pointing_game
from stella.eval.signal import sounding_mask
from stella.selection import importance_scores

AUDIO_KINDS = ("matched", "silence", "noise", "mismatched")
VISUAL_MAPS = ("brightness", "motion", "random")
NOISE_STD = 0.35


def negative_audio(kind: str, audio: torch.Tensor, labels: torch.Tensor, cfg: Config, norm: tuple[float, float],
                   generator: torch.Generator) -> torch.Tensor:
    """audio (B, t, f) normalised fbank of the clips, labels (B,) -> the audio of ``kind`` (AUDIO_KINDS), (B, t, f).
    ``mismatched`` takes, for each clip, the audio of a clip of another label drawn from ``generator`` (a clip
    whose label no other clip shares keeps its own: ValueError when that happens); ``noise`` draws one waveform
    per clip from ``generator``."""
    d = cfg.data
    B = audio.shape[0]
    if kind == "matched":
        return audio
    if kind == "mismatched":
        labels = torch.as_tensor(labels).reshape(-1)
        other = labels[None, :] != labels[:, None]                                   # (B, B)
        if not other.any(1).all():
            raise ValueError("negative_audio: 'mismatched' needs clips of at least two classes")
        pick = torch.rand(B, B, generator=generator).masked_fill(~other, -1.0).argmax(1)
        return audio[pick]
    n = A.num_samples_for_frames(d.audio_frames, d.sample_rate)
    if kind == "silence":
        waves = torch.zeros(1, n)
    elif kind == "noise":
        waves = NOISE_STD * torch.randn(B, n, generator=generator)
    else:
        raise ValueError(f"negative_audio: kind must be one of {', '.join(AUDIO_KINDS)}, got {kind!r}")
    fb = torch.stack([A.normalize(A.fbank(w, d.sample_rate, d.mel_bins, d.audio_frames), *norm) for w in waves])
    return fb.to(audio.dtype).expand(B, -1, -1)


def visual_maps(video: torch.Tensor, kind: str) -> torch.Tensor:
    """Maps that hear nothing: video (B, T, 3, H, W) ImageNet-normalised -> (B, T, H, W): ``brightness`` (mean RGB
    in [0, 1]) or ``motion`` (mean |RGB_t - RGB_{t-1}|, frame 0 the change to frame 1; zeros for T = 1)."""
    rgb = torch.stack([denormalize_video(v) for v in video])                           # (B, T, H, W, 3)
    if kind == "brightness":
        return rgb.mean(-1)
    if kind == "motion":
        if rgb.shape[1] == 1:
            return torch.zeros(rgb.shape[:4])
        diff = (rgb[:, 1:] - rgb[:, :-1]).abs().mean(-1)
        return torch.cat([diff[:, :1], diff], dim=1)
    raise ValueError(f"visual_maps: kind must be 'brightness' or 'motion', got {kind!r}")


@torch.no_grad()
def avm_map(model: torch.nn.Module, avm: torch.nn.Module, audio: torch.Tensor, video: torch.Tensor,
            cfg: Config, size: tuple[int, int]) -> torch.Tensor:
    """The AVM map of (audio, video): Eq. 2's I_v at beta = 1, (B, T, H, W) at frame size ``size``."""
    out = avm(*model.fusion_tokens(audio, video), beta=1.0)
    I_v = importance_scores(out.A_a, out.A_v)[1]
    return upsample_to_frames(I_v.reshape(I_v.shape[0], *cfg.video_grid).float().cpu(), size)


def _scores(maps: torch.Tensor, truth: torch.Tensor) -> dict[str, np.ndarray]:
    return {"iou": iou(binarize(maps, 0.5), truth).numpy(), "pointing": pointing_game(maps, truth).numpy()}


@torch.no_grad()
def sound_dependence_frame(model: torch.nn.Module, avm: torch.nn.Module, dataset: Any, cfg: Config,
                           norm: tuple[float, float], seed: int = 0, batch_size: int = 32,
                           device: str | torch.device = "cpu") -> pd.DataFrame:
    """One row per clip of ``dataset`` and map (module docstring): ``clip``, ``label``, ``map`` (``avm:<audio
    kind>`` or a visual map's name), ``iou``, ``pointing``. ``norm``: the benchmark's fbank (mean, std); draws
    (noise, the mismatched partners, the random map) from a generator seeded by ``seed``."""
    g = torch.Generator().manual_seed(seed)
    items = [b for b in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)]
    if not items or "mask" not in items[0] or "active" not in items[0]:
        raise ValueError("sound_dependence_frame: the dataset's items carry no ground truth ('mask', 'active')")
    audio, video = torch.cat([b["audio"] for b in items]), torch.cat([b["video"] for b in items])
    labels = torch.cat([torch.as_tensor(b["label"]) for b in items])
    truth = sounding_mask(torch.cat([b["mask"] for b in items]).bool(), torch.cat([b["active"] for b in items]).bool())
    size = tuple(truth.shape[-2:])
    modes = [(m, m.training) for m in (model, avm)]
    for m, _ in modes:
        m.eval()
    rows = []
    try:
        for kind in AUDIO_KINDS:
            neg = negative_audio(kind, audio, labels, cfg, norm, g)
            maps = torch.cat([avm_map(model, avm, neg[i:i + batch_size].to(device), video[i:i + batch_size].to(device),
                                      cfg, size) for i in range(0, len(audio), batch_size)])
            rows.append(pd.DataFrame({"map": f"avm:{kind}", **_scores(maps, truth)}))
    finally:
        for m, mode in modes:
            m.train(mode)
    for kind in VISUAL_MAPS[:2]:
        rows.append(pd.DataFrame({"map": kind, **_scores(visual_maps(video, kind), truth)}))
    rand = torch.rand(len(video), *cfg.video_grid, generator=g)
    rows.append(pd.DataFrame({"map": "random", **_scores(torch.nn.functional.interpolate(rand, size=size), truth)}))
    n = len(labels)
    return pd.concat([r.assign(clip=np.arange(n), label=labels.numpy()) for r in rows], ignore_index=True)


def _bootstrap_auc_difference(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, resamples: int
                              ) -> tuple[float, float]:
    idx = rng.integers(0, len(a), size=(resamples, len(a)))
    diffs = np.array([iou_auc(a[i]) - iou_auc(b[i]) for i in idx])
    return float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))


def sound_dependence_summary(frame: pd.DataFrame, reference: str = "avm:matched", seed: int = 0,
                             resamples: int = 1000) -> pd.DataFrame:
    """One row per map of :func:`sound_dependence_frame`: ``AUC``, ``cIoU``, ``pointing`` (mean over clips with a
    sounding frame), and ``reference`` − the map: ``d_auc`` with its 95 % percentile bootstrap interval over clips
    (``resamples`` draws from a generator seeded by ``seed``, the same clips for both maps) ``d_auc_low``,
    ``d_auc_high``, and ``d_pointing`` with its paired 95 % t-interval over clips."""
    rng = np.random.default_rng(seed)
    ref = frame[frame["map"] == reference].set_index("clip").sort_index()
    if ref.empty:
        raise ValueError(f"sound_dependence_summary: no rows of map {reference!r}")
    rows = []
    for name, part in frame.groupby("map", sort=False):
        part = part.set_index("clip").loc[ref.index]
        row = {"map": name, "AUC": iou_auc(part["iou"].to_numpy()), "cIoU": ciou(part["iou"].to_numpy()),
               "pointing": float(part["pointing"].mean()), "clips": len(part)}
        if name != reference:
            a, b = ref["iou"].to_numpy(), part["iou"].to_numpy()
            low, high = _bootstrap_auc_difference(a, b, rng, resamples)
            d = (ref["pointing"] - part["pointing"]).dropna().to_numpy()
            half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            row.update(d_auc=iou_auc(a) - iou_auc(b), d_auc_low=low, d_auc_high=high, d_pointing=float(d.mean()),
                       d_pointing_low=float(d.mean() - half), d_pointing_high=float(d.mean() + half))
        rows.append(row)
    return pd.DataFrame(rows)


def needs_the_sound(summary: pd.DataFrame, against: tuple[str, ...] = ("avm:silence", "avm:noise", "avm:mismatched",
                                                                         "brightness")) -> bool:
    """True where the reference map's AUC beats every map of ``against`` with the bootstrap interval above 0."""
    s = summary.set_index("map")
    missing = [m for m in against if m not in s.index]
    if missing:
        raise ValueError(f"needs_the_sound: the summary has no map {', '.join(missing)}")
    return bool((s.loc[list(against), "d_auc_low"] > 0).all())


__all__ = ["AUDIO_KINDS", "VISUAL_MAPS", "negative_audio", "visual_maps", "avm_map", "sound_dependence_frame",
           "sound_dependence_summary", "needs_the_sound"]
