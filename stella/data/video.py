"""Video front end: resize, ImageNet normalisation and multi-scale crop (appendix A, Table 6).

Clips are float tensors (T, 3, H, W). Training uses GroupMultiScaleCrop as in CAV-MAE/TSN: one
crop per clip, shared by all frames, whose sides are drawn from scales {1, .875, .75} of the
shorter side, then resized back to ``image_size``. The ground-truth mask follows the same crop.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_SCALES = (1.0, 0.875, 0.75)


def to_float_video(frames: torch.Tensor) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float32 in [0, 1]."""
    return frames.permute(0, 3, 1, 2).to(torch.float32) / 255.0


def resize_video(video: torch.Tensor, size: int) -> torch.Tensor:
    """(T, 3, H, W) -> (T, 3, size, size), bilinear with antialiasing when shrinking."""
    if video.shape[-2:] == (size, size):
        return video
    shrink = video.shape[-1] > size or video.shape[-2] > size
    return F.interpolate(video, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


def normalize_video(video: torch.Tensor) -> torch.Tensor:
    """ImageNet mean/std per channel. video: (T, 3, H, W) in [0, 1]."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=video.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=video.dtype).view(1, 3, 1, 1)
    return (video - mean) / std


def multiscale_crop(video: torch.Tensor, generator: torch.Generator, mask: torch.Tensor | None = None,
                    scales: tuple[float, ...] = CROP_SCALES, max_distort: int = 1
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """GroupMultiScaleCrop: one random crop for all frames, resized back to the input size.

    video: (T, 3, H, W); mask: optional (T, H, W) bool, cropped identically (nearest).
    Crop height/width scales are drawn from ``scales`` with index distance <= ``max_distort``
    (TSN's rule); the offset is uniform over valid positions.
    """
    T, _, H, W = video.shape
    base = min(H, W)
    pairs = [(i, j) for i in range(len(scales)) for j in range(len(scales)) if abs(i - j) <= max_distort]
    i, j = pairs[int(torch.randint(len(pairs), (), generator=generator))]
    ch, cw = max(1, int(round(base * scales[i]))), max(1, int(round(base * scales[j])))
    y0 = int(torch.randint(H - ch + 1, (), generator=generator))
    x0 = int(torch.randint(W - cw + 1, (), generator=generator))
    crop = video[:, :, y0:y0 + ch, x0:x0 + cw]
    out = F.interpolate(crop, size=(H, W), mode="bilinear", align_corners=False)
    if mask is not None:
        m = mask[:, None, y0:y0 + ch, x0:x0 + cw].to(torch.float32)
        mask = F.interpolate(m, size=(H, W), mode="nearest")[:, 0] > 0.5
    return out.contiguous(), mask
