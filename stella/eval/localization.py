"""Sound-source localisation and attention drift on ground-truth masks (Fig. 2, 7, 13, 14).

Inputs are attention maps ``maps`` (B, T, H, W) at frame resolution (see
:func:`stella.eval.attention.upsample_to_frames`) and the synthetic benchmark's ground-truth
sounding-object masks ``masks`` bool (B, T, H, W). All functions are pure.

Conventions (stated once, used everywhere):

* Binarisation: each clip's map is min-max normalised over its whole (T, H, W) volume and a
  pixel is predicted "sounding" when ``map >= map_threshold`` (default 0.5, i.e.
  ``map >= min + 0.5 (max - min)``). A constant map predicts every pixel. ``map_threshold =
  "median"`` is the LVS / EZ-VSL evaluation's rule instead: a pixel is predicted when its value is
  above the clip's median (``sorted(map)[n // 2]``), so half of every clip is predicted whatever
  the map's sharpness (a constant map predicts nothing). The min-max rule rewards peaked maps (the
  AVM's softmax) and the median rule does not, so the attention chapter reports both.
* IoU is computed per clip over the (T, H, W) volume; empty prediction and empty mask give 1.
* cIoU follows the sound-source localisation literature (Senocak et al. 2018; Chen et al. 2021,
  LVS): the fraction of clips whose IoU is ``>= iou_threshold`` (0.5). AUC is the area under
  the success-rate curve ``tau -> fraction(IoU >= tau)`` for ``tau`` in 0, 0.05, ..., 1
  (trapezoid rule, as the LVS evaluation code does).
* Pointing game, per frame with a non-empty mask: the score of a frame is the fraction of the
  argmax pixels that fall inside the mask (the expected hit under uniform tie-breaking, so a
  constant map scores the mask's area fraction, i.e. chance). A clip's score is the mean over
  those frames (NaN when no frame has a mask).
* Drift between two maps of the same clip is ``1 - cosine`` of the flattened maps, or the
  Jensen-Shannon distance (base 2, in [0, 1]) of the maps normalised to sum to one (a map
  with negative values, e.g. cosine similarities, is first shifted by its minimum).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch


def _check(maps: torch.Tensor, masks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    maps = torch.as_tensor(maps)
    if maps.ndim != 4 or maps.shape[0] == 0:
        raise ValueError(f"maps must be a non-empty (B, T, H, W) tensor, got shape {tuple(maps.shape)}")
    if not torch.isfinite(maps).all():
        raise ValueError("maps contain NaN/inf")
    if masks is not None:
        masks = torch.as_tensor(masks)
        if masks.shape != maps.shape:
            raise ValueError(f"masks {tuple(masks.shape)} must match maps {tuple(maps.shape)}; "
                             "upsample the maps to frame size first")
        masks = masks.bool()
    return maps.double(), masks


def binarize(maps: torch.Tensor, map_threshold: float | str = 0.5) -> torch.Tensor:
    """Per-clip min-max normalisation over (T, H, W), then ``>= map_threshold`` -> bool (B, T, H, W);
    ``map_threshold="median"``: ``> sorted(map)[n // 2]`` per clip (LVS)."""
    maps, _ = _check(maps)
    if map_threshold == "median":
        flat = maps.flatten(1)
        cut = flat.sort(dim=1).values[:, flat.shape[1] // 2]
        return (flat > cut[:, None]).view_as(maps)
    if isinstance(map_threshold, str) or not 0.0 <= map_threshold <= 1.0:
        raise ValueError(f"map_threshold must be in [0, 1] or 'median', got {map_threshold!r}")
    flat = maps.flatten(1)
    lo, hi = flat.min(1).values, flat.max(1).values
    span = (hi - lo).clamp_min(1e-12)
    norm = (flat - lo[:, None]) / span[:, None]
    norm[(hi - lo) <= 1e-12] = 1.0
    return (norm >= map_threshold).view_as(maps)


def iou(pred: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Per-clip IoU of bool (B, T, H, W) prediction and mask -> (B,) float64 (1 when both empty)."""
    pred, masks = torch.as_tensor(pred).bool(), torch.as_tensor(masks).bool()
    if pred.shape != masks.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and mask {tuple(masks.shape)} shapes differ")
    inter = (pred & masks).flatten(1).sum(1).double()
    union = (pred | masks).flatten(1).sum(1).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def pointing_game(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Per-clip pointing accuracy (B,) over frames with a non-empty mask (ties: fraction inside)."""
    maps, masks = _check(maps, masks)
    fm, fk = maps.flatten(2), masks.flatten(2)
    top = fm >= fm.max(-1, keepdim=True).values
    frame = (top & fk).sum(-1).double() / top.sum(-1).double()
    has = fk.any(-1)
    n = has.sum(1)
    score = (frame * has).sum(1) / n.clamp_min(1)
    return torch.where(n > 0, score, torch.full_like(score, float("nan")))


def success_curve(ious: torch.Tensor | np.ndarray, num: int = 21) -> tuple[np.ndarray, np.ndarray]:
    """``(tau, fraction of clips with IoU >= tau)`` for ``tau = linspace(0, 1, num)``."""
    v = np.asarray(ious, dtype=float)
    if v.size == 0:
        raise ValueError("no IoU values: the evaluation split is empty")
    tau = np.linspace(0.0, 1.0, num)
    return tau, np.array([(v >= t - 1e-12).mean() for t in tau])


def ciou(ious: torch.Tensor | np.ndarray, iou_threshold: float = 0.5) -> float:
    """cIoU: fraction of clips with IoU >= ``iou_threshold``."""
    v = np.asarray(ious, dtype=float)
    if v.size == 0:
        raise ValueError("no IoU values: the evaluation split is empty")
    return float((v >= iou_threshold - 1e-12).mean())


def iou_auc(ious: torch.Tensor | np.ndarray, num: int = 21) -> float:
    """Area under :func:`success_curve` (trapezoid rule over tau in [0, 1])."""
    tau, rate = success_curve(ious, num)
    return float(np.sum((rate[1:] + rate[:-1]) * np.diff(tau)) / 2.0)


def per_clip_localization(maps: torch.Tensor, masks: torch.Tensor, map_threshold: float | str = 0.5
                          ) -> pd.DataFrame:
    """Rows ``clip, iou, pointing`` for each clip of a batch of maps and masks."""
    maps, masks = _check(maps, masks)
    ious = iou(binarize(maps, map_threshold), masks)
    return pd.DataFrame({"clip": np.arange(maps.shape[0]), "iou": ious.numpy(),
                         "pointing": pointing_game(maps, masks).numpy()})


def localization_summary(per_clip: pd.DataFrame, iou_threshold: float = 0.5) -> pd.DataFrame:
    """One row: ``cIoU`` (fraction), ``AUC``, ``mIoU`` and ``pointing`` (mean over clips with a mask)."""
    if per_clip.empty:
        raise ValueError("no clips: the evaluation split is empty")
    return pd.DataFrame([{"cIoU": ciou(per_clip["iou"], iou_threshold), "AUC": iou_auc(per_clip["iou"]),
                          "mIoU": float(per_clip["iou"].mean()),
                          "pointing": float(per_clip["pointing"].mean()),
                          "clips": len(per_clip)}])


def attention_drift(before: torch.Tensor, after: torch.Tensor, kind: str = "cosine") -> torch.Tensor:
    """Per-clip change between two maps of the same clips, e.g. after task 1 and after task T.

    before, after (B, ...) any map shape -> (B,) float64. ``kind="cosine"``: ``1 - cos``
    (0 = same direction, up to 2). ``kind="js"``: Jensen-Shannon distance (base 2) between the
    maps normalised to sum to one (shifted by their minimum if negative; uniform if all zero).
    """
    a, b = torch.as_tensor(before).double(), torch.as_tensor(after).double()
    if a.shape != b.shape or a.ndim < 2 or a.shape[0] == 0:
        raise ValueError(f"before {tuple(a.shape)} and after {tuple(b.shape)} must be equal non-empty (B, ...) shapes")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise ValueError("maps contain NaN/inf")
    a, b = a.flatten(1), b.flatten(1)
    if kind == "cosine":
        cos = torch.nn.functional.cosine_similarity(a, b, dim=1, eps=1e-12)
        return 1.0 - cos
    if kind == "js":
        p, q = _to_dist(a), _to_dist(b)
        m = 0.5 * (p + q)
        kl = lambda x, y: torch.where(x > 0, x * (torch.log2(x.clamp_min(1e-300)) - torch.log2(y.clamp_min(1e-300))),
                                      torch.zeros_like(x)).sum(1)
        js = 0.5 * kl(p, m) + 0.5 * kl(q, m)
        return js.clamp_min(0).sqrt()
    raise ValueError(f"kind must be 'cosine' or 'js', got {kind!r}")


def _to_dist(x: torch.Tensor) -> torch.Tensor:
    x = x - x.min(1, keepdim=True).values.clamp(max=0)
    s = x.sum(1, keepdim=True)
    return torch.where(s > 0, x / s.clamp_min(1e-300), torch.full_like(x, 1.0 / x.shape[1]))


__all__ = ["binarize", "iou", "pointing_game", "success_curve", "ciou", "iou_auc",
           "per_clip_localization", "localization_summary", "attention_drift"]
