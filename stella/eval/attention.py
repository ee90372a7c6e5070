"""Audio-conditioned attention maps over video patches (Fig. 2, 7, 13, 14).

Two kinds of map, both one value per video patch, reshaped to the frame-major patch grid
``video_grid = (T, h/p, w/p)`` (``cfg.video_grid``):

* ``"avm"`` (STELLA): the AVM cross-attention of the clip's audio queries on its video keys,
  ``A_v = mu(q_a, k_v)`` (B, H, M, N) at temperature ``beta`` (Eq. 1), turned into the Eq. 2
  importance ``I_v = mean over heads and audio queries of Softmax_N(A_v)`` (the function of
  :mod:`stella.selection.importance`). Each map sums to one over the whole clip.
* ``"similarity"`` (any backbone, used for the baselines, which have no AVM): the cosine
  similarity of each video patch token of the unimodal pass to the clip's mean audio token
  (``model.unimodal_tokens``). Values lie in [-1, 1].

:func:`upsample_to_frames` brings maps to pixel resolution for localisation against masks and
:func:`plot_attention` overlays them on the clip's frames for the notebooks.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from stella.data.video import IMAGENET_MEAN, IMAGENET_STD
from stella.selection.importance import importance_from_attention


def _to_grid(scores: torch.Tensor, video_grid: Sequence[int]) -> torch.Tensor:
    T, gh, gw = video_grid
    if scores.ndim != 2 or scores.shape[1] != T * gh * gw:
        raise ValueError(f"expected (B, N={T * gh * gw}) patch scores for video_grid {tuple(video_grid)}, "
                         f"got shape {tuple(scores.shape)}")
    return scores.reshape(scores.shape[0], T, gh, gw)


def avm_attention_maps(A_v: torch.Tensor, video_grid: Sequence[int]) -> torch.Tensor:
    """Eq. 2 video importance from AVM logits. A_v (B, H, M, N) -> (B, T, h/p, w/p), sums to 1 per clip."""
    if A_v.ndim != 4:
        raise ValueError(f"A_v must be (B, H, M, N) attention logits, got shape {tuple(A_v.shape)}")
    return _to_grid(importance_from_attention(A_v), video_grid)


def similarity_maps(u_a: torch.Tensor, u_v: torch.Tensor, video_grid: Sequence[int]) -> torch.Tensor:
    """cos(video patch token, mean audio token). u_a (B, M, D), u_v (B, N, D) -> (B, T, h/p, w/p)."""
    if u_a.ndim != 3 or u_v.ndim != 3 or u_a.shape[0] != u_v.shape[0] or u_a.shape[2] != u_v.shape[2]:
        raise ValueError(f"u_a must be (B, M, D) and u_v (B, N, D), got {tuple(u_a.shape)}, {tuple(u_v.shape)}")
    a = F.normalize(u_a.float().mean(1), dim=-1)
    return _to_grid(torch.einsum("bnd,bd->bn", F.normalize(u_v.float(), dim=-1), a), video_grid)


@torch.no_grad()
def clip_attention_maps(model: torch.nn.Module, audio: torch.Tensor, video: torch.Tensor,
                        video_grid: Sequence[int], kind: str = "avm", avm: torch.nn.Module | None = None,
                        beta: float = 1.0) -> torch.Tensor:
    """Maps (B, T, h/p, w/p) for one batch of unmasked clips; modules are left in their mode.

    ``kind="avm"`` needs ``avm`` and runs ``avm(*model.fusion_tokens(audio, video), beta)``
    (``beta=1`` is the AVM's training temperature; selection uses ``cfg.selection.beta``).
    """
    if kind == "avm":
        if avm is None:
            raise ValueError("kind='avm' needs the AVM module (pass avm=...); baselines use kind='similarity'")
        o_a, o_v = model.fusion_tokens(audio, video)
        return avm_attention_maps(avm(o_a, o_v, beta).A_v, video_grid)
    if kind == "similarity":
        return similarity_maps(*model.unimodal_tokens(audio, video), video_grid)
    raise ValueError(f"kind must be 'avm' or 'similarity', got {kind!r}")


@torch.no_grad()
def attention_maps(model: torch.nn.Module, dataset: Any, video_grid: Sequence[int], kind: str = "avm",
                   avm: torch.nn.Module | None = None, beta: float = 1.0, batch_size: int = 16,
                   device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Maps for a whole dataset in eval mode -> CPU ``maps`` (n, T, h/p, w/p), ``index``, ``task``,
    ``label`` (n,) and, when the items carry them, ``mask`` bool (n, T, H, W) and ``active`` bool (n, t)."""
    if len(dataset) == 0:
        raise ValueError("empty evaluation split: the dataset has no clips")
    mods = [m for m in (model, avm) if m is not None]
    modes = [m.training for m in mods]
    for m in mods:
        m.eval()
    out: dict[str, list[torch.Tensor]] = {}
    try:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
            maps = clip_attention_maps(model, batch["audio"].to(device), batch["video"].to(device),
                                       video_grid, kind, avm, beta)
            out.setdefault("maps", []).append(maps.float().cpu())
            for k in ("index", "task", "label", "mask", "active"):
                if k in batch:
                    out.setdefault(k, []).append(torch.as_tensor(batch[k]).cpu())
    finally:
        for m, mode in zip(mods, modes):
            m.train(mode)
    res = {k: torch.cat(v) for k, v in out.items()}
    if not torch.isfinite(res["maps"]).all():
        raise ValueError("attention maps contain NaN/inf")
    return res


def upsample_to_frames(maps: torch.Tensor, size: Sequence[int], mode: str = "bilinear") -> torch.Tensor:
    """(B, T, h, w) patch-grid maps -> (B, T, H, W) at frame size (bilinear, align_corners=False)."""
    if maps.ndim != 4:
        raise ValueError(f"maps must be (B, T, h, w), got shape {tuple(maps.shape)}")
    B, T, h, w = maps.shape
    kw = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    up = F.interpolate(maps.reshape(B * T, 1, h, w).float(), size=tuple(size), mode=mode, **kw)
    return up.reshape(B, T, *up.shape[-2:])


def denormalize_video(video: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                      std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """The inverse of ``stella.data.video.normalize_video``, laid out for display: ImageNet-normalised
    (T, 3, H, W), channels first as the model reads it -> (T, H, W, 3) in [0, 1], channels last as
    matplotlib's ``imshow`` wants it (clamped, float32 on the CPU)."""
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    return (video.detach().float().cpu() * s + m).clamp(0, 1).permute(0, 2, 3, 1)


def plot_attention(video: torch.Tensor, amap: torch.Tensor, mask: torch.Tensor | None = None,
                   title: str | None = None, alpha: float = 0.5, cmap: str = "jet", axes: Any = None):
    """Overlay one clip's map on its frames: video (T, 3, H, W) normalised, amap (T, h, w) any
    resolution, optional mask (T, H, W) drawn as a white contour. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    frames = denormalize_video(video)
    T, H, W, _ = frames.shape
    if amap.ndim != 3 or amap.shape[0] != T:
        raise ValueError(f"amap must be (T={T}, h, w), got shape {tuple(amap.shape)}")
    up = upsample_to_frames(amap[None].float().cpu(), (H, W))[0]
    lo, hi = up.min(), up.max()
    up = (up - lo) / (hi - lo) if hi > lo else torch.zeros_like(up)
    if axes is None:
        fig, axes = plt.subplots(1, T, figsize=(2.2 * T, 2.4), squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    for t, ax in enumerate(axes[:T]):
        ax.imshow(frames[t].numpy())
        ax.imshow(up[t].numpy(), cmap=cmap, alpha=alpha, vmin=0, vmax=1)
        if mask is not None and torch.as_tensor(mask)[t].any():
            ax.contour(torch.as_tensor(mask)[t].float().numpy(), levels=[0.5], colors="white", linewidths=1)
        ax.set_axis_off()
        ax.set_title(f"frame {t}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


__all__ = ["avm_attention_maps", "similarity_maps", "clip_attention_maps", "attention_maps",
           "upsample_to_frames", "denormalize_video", "plot_attention", "IMAGENET_MEAN", "IMAGENET_STD"]
