"""Audio front end of CAV-MAE (Gong et al., 2023), as used by STELLA (appendix A, Table 6).

A 16 kHz mono waveform becomes a Kaldi-compatible log-mel filterbank of ``t`` frames (10 ms
shift, 25 ms Hanning window) and ``f`` mel bins, padded or cropped to ``cfg.data.audio_frames``
and normalised with ``(x - mean) / std``. The paper uses mean -5.081 and std 4.485 for
VGGSound/AudioSet; the synthetic and tuxpaint benchmarks compute their own statistics.
Training augmentation (Table 6): small uniform noise and a random roll in time, drawn from an
explicit ``torch.Generator``; the roll is free (CAV-MAE) or by whole video-frame segments, with the
frames rolled alike, so that audio-video timing survives (``data.audio_roll``).
"""
from __future__ import annotations

import torch
import torchaudio.compliance.kaldi as kaldi

PAPER_NORM = (-5.081, 4.485)
FRAME_SHIFT_MS = 10.0
FRAME_LENGTH_MS = 25.0


def num_samples_for_frames(frames: int, sample_rate: int = 16000) -> int:
    """Waveform length that yields exactly ``frames`` fbank frames (Kaldi ``snip_edges``)."""
    shift = int(sample_rate * FRAME_SHIFT_MS / 1000)
    win = int(sample_rate * FRAME_LENGTH_MS / 1000)
    return win + (frames - 1) * shift


def frames_for_num_samples(n: int, sample_rate: int = 16000) -> int:
    """Number of fbank frames Kaldi produces for ``n`` samples (0 if shorter than one window)."""
    shift = int(sample_rate * FRAME_SHIFT_MS / 1000)
    win = int(sample_rate * FRAME_LENGTH_MS / 1000)
    return 0 if n < win else 1 + (n - win) // shift


def fbank(wave: torch.Tensor, sample_rate: int, mel_bins: int, target_frames: int) -> torch.Tensor:
    """Log-mel filterbank of a mono waveform, un-normalised.

    wave: (S,) or (1, S) float. Returns (target_frames, mel_bins) float32: the DC offset is
    removed, then kaldi.fbank exactly as CAV-MAE, then zero-pad or crop at the end in time.
    """
    w = wave.reshape(1, -1).to(torch.float32)
    w = w - w.mean()
    fb = kaldi.fbank(w, htk_compat=True, sample_frequency=sample_rate, use_energy=False,
                     window_type="hanning", num_mel_bins=mel_bins, dither=0.0,
                     frame_shift=FRAME_SHIFT_MS)                                  # (t', f)
    n = fb.shape[0]
    if n < target_frames:
        fb = torch.nn.functional.pad(fb, (0, 0, 0, target_frames - n))
    return fb[:target_frames].contiguous()


def normalize(fb: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """(x - mean) / std, the CAV-MAE convention (their code writes (x + 5.081) / 4.4849)."""
    return (fb - mean) / std


def fbank_stats(fbanks: list[torch.Tensor]) -> tuple[float, float]:
    """Mean and std over all entries of a list of (t, f) fbanks, in float64 for determinism."""
    x = torch.cat([f.reshape(-1).to(torch.float64) for f in fbanks])
    return float(x.mean()), float(x.std())


def roll_shift(frames: int, generator: torch.Generator, mode: str = "free", segments: int = 1) -> int:
    """Time shift (fbank frames) of the Table 6 random roll.

    "free": uniform in [-t, t) over the whole clip (CAV-MAE's loader, the paper's Table 6);
    "aligned": a whole number k in [0, segments) of segments of t / segments frames, so that rolling
    the video frames by k as well keeps every frame aligned with its audio segment;
    "none": 0 (no roll)."""
    if mode == "free":
        return int(torch.randint(-frames, frames, (), generator=generator))
    if mode == "aligned":
        if segments < 1 or frames % segments:
            raise ValueError(f"data.audio_roll='aligned' needs audio_frames ({frames}) divisible by num_frames ({segments})")
        return int(torch.randint(0, segments, (), generator=generator)) * (frames // segments)
    if mode == "none":
        return 0
    raise ValueError(f"data.audio_roll: must be 'free', 'aligned' or 'none', got {mode!r}")


def augment_audio(fb: torch.Tensor, generator: torch.Generator,
                  active: torch.Tensor | None = None, noise: float = 0.1, shift: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Table 6 audio augmentation on a normalised fbank, as in CAV-MAE's loader.

    fb: (t, f). Adds ``U(0, 1) * s`` noise with one scale ``s ~ U(0, noise)`` per clip, then
    rolls the time axis by ``shift`` frames (None: a free shift in [-t, t), :func:`roll_shift`).
    ``active`` (t,) ground truth is rolled alongside.
    """
    t = fb.shape[0]
    scale = torch.rand((), generator=generator) * noise
    fb = fb + torch.rand(fb.shape, generator=generator) * scale
    if shift is None:
        shift = roll_shift(t, generator)
    fb = torch.roll(fb, shift, dims=0)
    if active is not None:
        active = torch.roll(active, shift, dims=0)
    return fb, active


def frame_activity(intervals: list[tuple[float, float]], frames: int) -> torch.Tensor:
    """Which fbank frames overlap a sounding interval (seconds). Returns bool (frames,).

    Frame i covers [i * 10 ms, i * 10 ms + 25 ms); it is active when its centre lies inside
    one of the intervals.
    """
    centre = (torch.arange(frames, dtype=torch.float64) * FRAME_SHIFT_MS + FRAME_LENGTH_MS / 2) / 1000
    out = torch.zeros(frames, dtype=torch.bool)
    for a, b in intervals:
        out |= (centre >= a) & (centre < b)
    return out


def duration_for_frames(frames: int, sample_rate: int = 16000) -> float:
    """Seconds of audio needed for ``frames`` fbank frames."""
    return num_samples_for_frames(frames, sample_rate) / sample_rate

