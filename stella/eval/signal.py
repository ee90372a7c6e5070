"""Does the AVM find the sounding object? Selection and localisation against ground truth (Fig. 2, 7, 13).

Measured on clips with ground truth (the synthetic benchmark's ``mask`` (T, H, W) of the sounding
object and ``active`` (t,) fbank frames), typically of classes the model has never seen:

* video: a patch is an OBJECT patch when it holds any pixel of the sounding object (the
  convention of :func:`stella.data.sparsity`). ``kept_object`` = the share of a clip's object
  patches (the object in every frame) that a selection keeps, ``kept_sounding`` the same for the
  sounding object in the frames where it sounds (:func:`sounding_mask`), ``kept_sounding_area`` the
  share of that object's pixels lying in kept patches (a patch counts by its coverage, so a patch
  with one object pixel weighs 1/p^2) and ``kept_sounding_majority`` the share of the patches at
  least half covered by it (the slivers that the "any pixel" rule counts left out); a uniformly
  random half keeps 50 % of each in expectation, a perfect
  one 100 % whenever the object covers at most half of the patches.
* audio: a time token is ACTIVE when at least half of its p fbank frames are; its f/p patches are
  active patches. ``kept_active`` = the share of a clip's active patches the audio selection keeps,
  reported over clips whose active tokens are under half of the clip (where a perfect selection
  keeps 100 % and a random half 50 %).
* selections: STELLA's with an empty memory (C = 0: Eq. 5 multinomial for video, Algorithm 1 for
  audio, at the selection temperature ``selection.beta``), the authors' deterministic top-kappa
  (``selection.empty_memory = "topk"``), and a uniformly random kappa.
* why the audio side is harder: ``audio_attention_active`` = the share of the AVM's video-query
  attention (Softmax(A_a) at beta = 1, mean over heads and ALL video queries, as Eq. 2 averages)
  that lands on active audio patches, against the active patches' share of the clip (its chance
  level, ``active_tokens``); ``..._sounding_queries`` the same for the queries of the sounding
  object's patches only.
* AUC of a map: the AVM importance map I_v (Eq. 2 at the AVM's training temperature beta = 1, as in
  chapter 07), upsampled bilinearly to pixels, binarised per clip at half of its min-max range
  (``localization.binarize``), IoU with the mask over the clip's (T, H, W) volume; AUC is the area
  under the success curve tau -> fraction of clips with IoU >= tau, tau = 0, 0.05, ..., 1
  (trapezoid rule; :func:`stella.eval.localization.iou_auc`). The random map draws one uniform
  value per patch (nearest upsampling), the chance level.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd
import torch
from torch.utils.data import DataLoader

from stella.config import Config
from stella.eval.attention import upsample_to_frames
from stella.eval.localization import binarize, iou, iou_auc
from stella.selection import importance_scores, select
from stella.selection.variants import random_selection


def object_coverage(mask: torch.Tensor, patch: int) -> torch.Tensor:
    """mask bool (B, T, H, W) -> (B, T*H/p*W/p) float, frame-major: the share of each patch's pixels on the object."""
    B, T, H, W = mask.shape
    m = mask[:, :, : H // patch * patch, : W // patch * patch].float()
    return m.reshape(B, T, H // patch, patch, W // patch, patch).mean(dim=(3, 5)).reshape(B, -1)


def object_patches(mask: torch.Tensor, patch: int) -> torch.Tensor:
    """mask bool (B, T, H, W) -> (B, T*H/p*W/p) bool, frame-major: the patch holds an object pixel."""
    return object_coverage(mask, patch) > 0


def active_patches(active: torch.Tensor, audio_grid: tuple[int, int], patch: int) -> torch.Tensor:
    """active bool (B, t) -> (B, nt*nf) bool, time-major: the patch's time token has >= half its frames active."""
    nt, nf = audio_grid
    tok = active[:, : nt * patch].float().reshape(active.shape[0], nt, patch).mean(dim=2) >= 0.5
    return tok[:, :, None].expand(-1, nt, nf).reshape(active.shape[0], -1)


def sounding_mask(mask: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """The sounding object while it sounds: mask bool (B, T, H, W) restricted to the frames whose
    audio segment (fbank frames [k t/T, (k+1) t/T)) is at least half active. active bool (B, t)."""
    B, T = mask.shape[:2]
    t = active.shape[1] // T * T
    on = active[:, :t].float().reshape(B, T, -1).mean(dim=2) >= 0.5                # (B, T)
    return mask & on[:, :, None, None]


def kept_share(idx: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """idx (B, kappa) kept indices, target (B, L) bool or non-negative weights (e.g. pixel coverage) ->
    (B,) share of the target's total that the kept patches hold (NaN where the target is empty)."""
    w = target.double()
    kept = torch.zeros_like(w).scatter_(1, idx, 1.0)
    n = w.sum(1)
    return torch.where(n > 0, (kept * w).sum(1) / n.clamp_min(1e-12), torch.full_like(n, float("nan")))


@torch.no_grad()
def signal_frame(model: torch.nn.Module, avm: torch.nn.Module, dataset: Any, cfg: Config, seed: int = 0,
                 batch_size: int = 32, device: str | torch.device = "cpu", draws: int = 1) -> pd.DataFrame:
    """One row per clip of ``dataset``: ``object_patches`` / ``active_tokens`` (fractions of the clip),
    ``kept_object_{stella,topk,random}``, ``kept_active_{stella,topk,random}`` and ``iou_{avm,random}``
    (min-max binarisation) and ``iou_{avm,random}_median`` (LVS median rule), see the module docstring.
    Selections use ``cfg.selection`` (rho, beta, L_c, audio mode, chunk trim, correlation temperature)
    with strategy "stella"; draws come from a generator seeded by ``seed``. The sampled selections (STELLA's
    and the random one) are drawn ``draws`` times per clip and their kept shares averaged (the expected share,
    with less sampling noise)."""
    if draws < 1:
        raise ValueError(f"signal_frame: draws must be >= 1, got {draws}")
    sel_cfg = replace(cfg, selection=replace(cfg.selection, empty_memory="sample"))
    top_cfg = replace(sel_cfg, selection=replace(sel_cfg.selection, empty_memory="topk"))
    g = torch.Generator().manual_seed(seed)
    p = cfg.model.patch_size
    modes = [(m, m.training) for m in (model, avm)]
    for m, _ in modes:
        m.eval()
    rows: list[pd.DataFrame] = []
    try:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
            audio, video = batch["audio"].to(device), batch["video"].to(device)
            mask, active = batch["mask"].cpu(), batch["active"].cpu()
            o_a, o_v = model.fusion_tokens(audio, video)
            out = avm(o_a, o_v, beta=cfg.selection.beta)
            I_a, I_v = importance_scores(out.A_a, out.A_v)
            sounding = sounding_mask(mask, active)
            obj, act = object_patches(mask, p), active_patches(active, cfg.audio_grid, p)
            snd_cov = object_coverage(sounding, p)
            snd = snd_cov > 0
            B = audio.shape[0]
            sels = [select(sel_cfg, out, I_a, I_v, None, None, g, strategy="stella") for _ in range(draws)]
            top = select(top_cfg, out, I_a, I_v, None, None, g, strategy="stella")
            kappa_a, kappa_v = sels[0].kappa_a, sels[0].kappa_v
            rand_sel = []
            for _ in range(draws):
                ra = random_selection(B, act.shape[1], kappa_a, g)
                rand_sel.append((random_selection(B, obj.shape[1], kappa_v, g), ra))
            map_out = avm(o_a, o_v, beta=1.0)
            amap = importance_scores(map_out.A_a, map_out.A_v)[1]                    # (B, N) Eq. 2, beta = 1
            on_active = (map_out.A_a.softmax(-1) * act[:, None, None, :].to(device)).sum(-1).mean(1).cpu()  # (B, N)
            frame_map = upsample_to_frames(amap.reshape(B, *cfg.video_grid).cpu(), mask.shape[-2:])
            rand = torch.rand(B, *cfg.video_grid, generator=g)
            rand_map = torch.nn.functional.interpolate(rand, size=tuple(mask.shape[-2:]), mode="nearest")
            row = {"label": batch["label"].numpy(), "object_patches": obj.double().mean(1).numpy(),
                   "active_tokens": act.double().mean(1).numpy()}
            targets = {"object": (obj, 0), "sounding": (snd, 0), "sounding_area": (snd_cov, 0),
                       "sounding_majority": (snd_cov >= 0.5, 0), "active": (act, 1)}
            for name, pairs in (("stella", [(x.idx_v, x.idx_a) for x in sels]), ("topk", [(top.idx_v, top.idx_a)]),
                                ("random", rand_sel)):
                for key, (target, side) in targets.items():
                    shares = torch.stack([kept_share(pair[side].cpu(), target) for pair in pairs])
                    row[f"kept_{key}_{name}"] = shares.mean(0).numpy()
            row["audio_attention_active"] = on_active.double().mean(1).numpy()
            row["audio_attention_active_sounding_queries"] = ((on_active * snd).sum(1) / snd.sum(1).clamp_min(1)).numpy()
            for rule, suffix in ((0.5, ""), ("median", "_median")):
                for gt, g_name in ((mask, "object"), (sounding, "sounding")):
                    row[f"iou_avm_{g_name}{suffix}"] = iou(binarize(frame_map, rule), gt).numpy()
                    row[f"iou_random_{g_name}{suffix}"] = iou(binarize(rand_map, rule), gt).numpy()
            rows.append(pd.DataFrame(row))
    finally:
        for m, mode in modes:
            m.train(mode)
    return pd.concat(rows, ignore_index=True)


def signal_summary(frame: pd.DataFrame) -> dict[str, float]:
    """Means of :func:`signal_frame`: kept shares (audio over clips with active tokens < 1/2) and AUCs."""
    out: dict[str, float] = {"clips": float(len(frame)), "object_patches": float(frame["object_patches"].mean()),
                             "active_tokens": float(frame["active_tokens"].mean())}
    sparse = frame[frame["active_tokens"] < 0.5]
    out["sparse_audio_clips"] = float(len(sparse))
    for k in ("audio_attention_active", "audio_attention_active_sounding_queries"):
        out[k] = float(frame[k].mean())
    for name in ("stella", "topk", "random"):
        out[f"kept_object_{name}"] = float(frame[f"kept_object_{name}"].mean())
        out[f"kept_sounding_{name}"] = float(frame[f"kept_sounding_{name}"].mean())
        out[f"kept_sounding_area_{name}"] = float(frame[f"kept_sounding_area_{name}"].mean())
        out[f"kept_sounding_majority_{name}"] = float(frame[f"kept_sounding_majority_{name}"].mean())
        out[f"kept_active_{name}"] = float(sparse[f"kept_active_{name}"].mean()) if len(sparse) else float("nan")
    for suffix in ("", "_median"):
        for gt in ("object", "sounding"):
            for m in ("avm", "random"):
                out[f"auc_{m}_{gt}{suffix}"] = iou_auc(frame[f"iou_{m}_{gt}{suffix}"].to_numpy())
    return out


def pretrain_curve(log: list[dict], window: int = 50) -> pd.DataFrame:
    """The pre-training log (``stella.continual.pretrain.pretrain_log``) as a tidy frame ``step, phase,
    loss name, value, smoothed`` (running mean over ``window`` steps, per loss and phase)."""
    df = pd.DataFrame(log)
    if df.empty:
        raise ValueError("empty pre-training log")
    long = df.melt(id_vars=["step", "phase"], var_name="loss", value_name="value").dropna()
    long["smoothed"] = long.groupby(["loss", "phase"])["value"].transform(
        lambda v: v.rolling(window, min_periods=1).mean())
    return long.sort_values(["loss", "step"]).reset_index(drop=True)


def plot_pretrain_curve(log: list[dict], window: int = 50, axes: Any = None):
    """Chapter 01's pre-training figure: the backbone losses (reconstruction, contrastive) and the AVM's
    matching loss and accuracy against the step, smoothed over ``window`` steps; the AVM-only phase is
    shaded. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    long = pretrain_curve(log, window)
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(9, 3.4))      # 9 in: 9 pt reads 9.4 px (stella.report.figures)
    panels = ((("rec_a", "rec_v"), "reconstruction (Eq. 8)"), (("contrastive",), "contrastive (Eq. 9)"),
              (("avm", "avm_acc"), "AVM matching (Eq. 11): loss, accuracy"))
    labels = {"rec_a": "audio", "rec_v": "video", "contrastive": "contrastive loss", "avm": "matching loss",
              "avm_acc": "matching accuracy"}
    avm_only = long.loc[long["phase"] == "avm", "step"]
    ylabels = ("loss (smoothed)", "loss (smoothed)", "loss / accuracy (smoothed)")
    for ax, (names, title), ylabel in zip(axes, panels, ylabels):
        ax.set_ylabel(ylabel, fontsize=9)
        for name in names:
            part = long[long["loss"] == name]
            ax.plot(part["step"], part["smoothed"], label=labels[name])
        if len(avm_only):
            ax.axvspan(avm_only.min(), avm_only.max(), color="0.9", zorder=0, label="AVM only, backbone frozen")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=9)
    fig = axes[0].figure
    fig.tight_layout()
    return fig


__all__ = ["object_coverage", "object_patches", "active_patches", "sounding_mask", "kept_share", "signal_frame", "signal_summary",
           "pretrain_curve", "plot_pretrain_curve"]
