"""A released CAV-MAE audio-visual checkpoint as this package's backbone (section 5.1's pre-trained start).

The paper starts the continual sequence from MAE weights adapted to audio-video and pre-trained on
AudioSet-20K (appendix B): what CAV-MAE (Gong et al., 2023) released as its pre-trained ``CAVMAE``
checkpoints (``audio_model.<epoch>.pth``, a state dict saved through ``torch.nn.DataParallel``: every
key starts with ``module.``). :func:`convert_state` maps such a state dict onto
:class:`stella.models.backbone.AudioVideoMAE`'s keys (the same table is in the book's paper-scale page):

| CAV-MAE key (``module.`` dropped), shape | this package's key, shape | what is done to it |
|---|---|---|
| ``patch_embed_a.proj.weight`` (D, 1, p, p) | ``patch_embed_a.weight`` (D, 1, p, p) | its two patch axes swapped (CAV-MAE's audio image is mel x time, ours time x mel) |
| ``patch_embed_a.proj.bias``, ``patch_embed_v.proj.*`` | ``patch_embed_a.bias``, ``patch_embed_v.*`` | copied |
| ``modality_a``, ``modality_v`` (1, 1, D) | the same | copied |
| ``pos_embed_a`` (1, F*T, D), mel-major | ``pos_embed_a`` (T*F, D), time-major | reordered to time-major |
| ``pos_embed_v`` (1, h*w, D), one frame | ``pos_embed_v`` (frames*h*w, D) | repeated for every frame (no temporal term) |
| ``blocks_a.i.*``, ``blocks_v.i.*`` (i < 11) | ``blocks_a.i.*``, ``blocks_v.i.*`` | ``norm1``, ``attn``, ``norm2``, ``mlp`` copied; ``norm1_a/_v``, ``norm2_a/_v`` (unused there) dropped |
| ``blocks_u.i.*`` (i < 1) | ``blocks_f.i.*`` | the joint pass's norms and the rest copied; ``norm1_a/_v``, ``norm2_a/_v`` (CAV-MAE's unimodal passes) dropped |
| ``norm``, ``norm_a``, ``norm_v``, ``decoder_embed``, ``decoder_norm`` | the same | copied |
| ``mask_token`` (1, 1, Dd) | ``mask_token_a``, ``mask_token_v`` | copied to both |
| ``decoder_modality_a``, ``decoder_modality_v`` | the same | copied |
| ``decoder_pos_embed_a`` (1, F*T, Dd), ``decoder_pos_embed_v`` (1, h*w, Dd) | the same names | as ``pos_embed_a``, ``pos_embed_v`` |
| ``decoder_blocks.i.*`` | ``decoder_blocks.i.*`` | as the modality blocks (CAV-MAE decodes one joint sequence, we each modality) |
| ``decoder_pred_a.*`` (p*p, Dd) | ``decoder_pred_a.*`` | output rows reordered from (mel, time) within a patch to (time, mel) |
| ``decoder_pred_v.*`` (3*p*p, Dd) | ``decoder_pred_v.*`` | output rows reordered from (row, column, channel) to (channel, row, column) |
| (none) | the AVM h(.; Theta), every key | initialised as ``AVM`` does, then trained on the frozen backbone (appendix D) |

D = 768, Dd = 512, p = 16, F x T = 8 x 64 audio patches (128 mel bins x 1024 frames), h x w = 14 x 14
video patches per 224 x 224 frame in every released checkpoint; the conversion reads the sizes from the
tensors and checks each against the model of the config (:func:`check_fits`), naming the key and both
shapes. CAV-MAE has 11 modality-specific layers and 1 shared one, the authors of STELLA 10 + 2: a converted
checkpoint needs ``model.modality_depth=11``, ``model.fusion_depth=1`` (:func:`model_overrides` reads
them off the file). CAV-MAE's LayerNorms use epsilon 1e-5, ours 1e-6 (weights copied, epsilon kept).
A fine-tuned ``CAVMAEFT`` checkpoint (``mlp_head``, no decoder) is refused: continual pre-training needs
the decoder. The AVM starts from :func:`stella.models.build_model`'s initialisation; training it is the
caller's (``stella.builder.paper_start``), since the paper pre-trains it with the backbone (appendix D).
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from stella.config import Config
from stella.models import build_model
from stella.models.backbone import AudioVideoMAE

PREFIX = "module."
BLOCK_PARTS = ("norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight",
               "attn.proj.bias", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias",
               "mlp.fc2.weight", "mlp.fc2.bias")
DROPPED_NORMS = ("norm1_a", "norm1_v", "norm2_a", "norm2_v")     # CAV-MAE's modality-specific norms per block
COPIED = ("modality_a", "modality_v", "norm.weight", "norm.bias", "norm_a.weight", "norm_a.bias",
          "norm_v.weight", "norm_v.bias", "decoder_embed.weight", "decoder_embed.bias", "decoder_norm.weight",
          "decoder_norm.bias", "decoder_modality_a", "decoder_modality_v")
BLOCK_GROUPS = {"blocks_a": "blocks_a", "blocks_v": "blocks_v", "blocks_u": "blocks_f", "decoder_blocks": "decoder_blocks"}


def strip_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict without DataParallel's ``module.`` prefix (keys without it are kept as they are)."""
    return {k[len(PREFIX):] if k.startswith(PREFIX) else k: v for k, v in state.items()}


def read_cavmae(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a released CAV-MAE ``.pth`` (CPU, ``weights_only=True``), ``module.`` dropped.
    A missing or unreadable file, or one that is not a CAV-MAE pre-trained checkpoint, raises one line
    naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--checkpoint {path}: " + ("is not a file" if path.exists() else "does not exist"))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a torch file, pickled objects weights_only refuses
        raise ValueError(f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    if isinstance(state, dict) and "model" in state and "avm" in state:
        raise ValueError(f"{path}: already a stella weights file ({{'model', 'avm'}}); set pretrain.checkpoint to it")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state dict of tensors (a CAV-MAE audio_model.*.pth)")
    state = strip_prefix(state)
    check_cavmae(state, path)
    return state


def _depth(state: dict, group: str) -> int:
    found = {int(m.group(1)) for k in state if (m := re.fullmatch(rf"{group}\.(\d+)\..+", k))}
    return max(found) + 1 if found else 0


def check_cavmae(state: dict[str, torch.Tensor], where: str | Path = "checkpoint") -> None:
    """Raise ValueError naming ``where`` unless ``state`` has every key a CAV-MAE pre-trained model has."""
    if any(k.startswith("mlp_head") for k in state) and "decoder_embed.weight" not in state:
        raise ValueError(f"{where}: a fine-tuned CAV-MAE checkpoint (mlp_head, no decoder); continual pre-training "
                         "needs a pre-trained one with its decoder (CAVMAE, e.g. CAV-MAE-Scale++)")
    need = ["patch_embed_a.proj.weight", "patch_embed_a.proj.bias", "patch_embed_v.proj.weight",
            "patch_embed_v.proj.bias", "pos_embed_a", "pos_embed_v", "mask_token", "decoder_pos_embed_a",
            "decoder_pos_embed_v", "decoder_pred_a.weight", "decoder_pred_a.bias", "decoder_pred_v.weight",
            "decoder_pred_v.bias", *COPIED]
    for group in BLOCK_GROUPS:
        n = _depth(state, group)
        if n == 0:
            raise ValueError(f"{where}: no {group}.* keys; not a CAV-MAE pre-trained checkpoint")
        need += [f"{group}.{i}.{part}" for i in range(n) for part in BLOCK_PARTS]
    missing = [k for k in need if k not in state]
    if missing:
        raise ValueError(f"{where}: lacks {missing[0]} ({len(missing)} CAV-MAE key(s) missing); not a CAV-MAE "
                         "pre-trained checkpoint")


def model_overrides(state: dict[str, torch.Tensor]) -> dict[str, int | float]:
    """The ``model.*`` values the checkpoint fixes, read from its shapes: embed_dim, patch_size, the
    depths (CAV-MAE: 11 modality-specific layers + 1 shared), decoder_dim, decoder_depth, mlp_ratio."""
    w = state["patch_embed_a.proj.weight"]                                   # (D, 1, p, p)
    return {"embed_dim": int(w.shape[0]), "patch_size": int(w.shape[-1]),
            "modality_depth": _depth(state, "blocks_a"), "fusion_depth": _depth(state, "blocks_u"),
            "decoder_dim": int(state["decoder_embed.weight"].shape[0]), "decoder_depth": _depth(state, "decoder_blocks"),
            "mlp_ratio": state["blocks_a.0.mlp.fc1.weight"].shape[0] / w.shape[0]}


def _time_major(table: torch.Tensor, time_tokens: int, freq_tokens: int, key: str) -> torch.Tensor:
    """(1, F*T, C) frequency-major (CAV-MAE's conv output over a frequency x time image) -> (T*F, C)."""
    if table.dim() != 3 or table.shape[1] != time_tokens * freq_tokens:
        raise ValueError(f"{key}: shape {tuple(table.shape)} in the checkpoint, the model's audio grid needs "
                         f"(1, {freq_tokens * time_tokens}, C) ({freq_tokens} mel x {time_tokens} time patches)")
    C = table.shape[-1]
    return table.reshape(freq_tokens, time_tokens, C).transpose(0, 1).reshape(time_tokens * freq_tokens, C)


def _per_frame(table: torch.Tensor, grid: tuple[int, int, int], key: str) -> torch.Tensor:
    """(1, h*w, C) of one frame -> (frames*h*w, C), frame-major: the same table for every frame."""
    T, h, w = grid
    if table.dim() != 3 or table.shape[1] != h * w:
        raise ValueError(f"{key}: shape {tuple(table.shape)} in the checkpoint, the model's frames need "
                         f"(1, {h * w}, C) ({h} x {w} patches per frame)")
    return table[0].repeat(T, 1)


def _rows_audio(t: torch.Tensor, p: int) -> torch.Tensor:
    """Prediction rows (p*p, ...) ordered (frequency, time) within a patch -> (time, frequency)."""
    return t.reshape(p, p, *t.shape[1:]).transpose(0, 1).reshape(p * p, *t.shape[1:])


def _rows_video(t: torch.Tensor, p: int) -> torch.Tensor:
    """Prediction rows (3*p*p, ...) ordered (row, column, channel) -> (channel, row, column)."""
    return t.reshape(p, p, 3, *t.shape[1:]).permute(2, 0, 1, *range(3, t.dim() + 2)).reshape(3 * p * p, *t.shape[1:])


def convert_state(state: dict[str, torch.Tensor], cfg: Config) -> dict[str, torch.Tensor]:
    """CAV-MAE's state dict (``module.`` dropped) -> :class:`AudioVideoMAE`'s, at ``cfg``'s geometry (the
    module table). Tensors keep their device and dtype (meta tensors give the keys and shapes only)."""
    check_cavmae(state)
    if cfg.model.pos_embed == "sincos":
        raise ValueError("model.pos_embed: 'sincos' keeps fixed tables and loads none; a CAV-MAE checkpoint needs "
                         "'learned' (its tables are copied)")
    p = int(state["patch_embed_a.proj.weight"].shape[-1])
    (t, f), grid = cfg.audio_grid, cfg.video_grid
    out = {k: state[k] for k in COPIED}
    out["patch_embed_a.weight"] = state["patch_embed_a.proj.weight"].transpose(-1, -2)
    out["patch_embed_a.bias"] = state["patch_embed_a.proj.bias"]
    out["patch_embed_v.weight"] = state["patch_embed_v.proj.weight"]
    out["patch_embed_v.bias"] = state["patch_embed_v.proj.bias"]
    for prefix in ("", "decoder_"):
        out[f"{prefix}pos_embed_a"] = _time_major(state[f"{prefix}pos_embed_a"], t, f, f"{prefix}pos_embed_a")
        out[f"{prefix}pos_embed_v"] = _per_frame(state[f"{prefix}pos_embed_v"], grid, f"{prefix}pos_embed_v")
    out["mask_token_a"] = state["mask_token"]
    out["mask_token_v"] = state["mask_token"].clone()
    out["decoder_pred_a.weight"] = _rows_audio(state["decoder_pred_a.weight"], p)
    out["decoder_pred_a.bias"] = _rows_audio(state["decoder_pred_a.bias"], p)
    out["decoder_pred_v.weight"] = _rows_video(state["decoder_pred_v.weight"], p)
    out["decoder_pred_v.bias"] = _rows_video(state["decoder_pred_v.bias"], p)
    for src, dst in BLOCK_GROUPS.items():
        for i in range(_depth(state, src)):
            out.update({f"{dst}.{i}.{part}": state[f"{src}.{i}.{part}"] for part in BLOCK_PARTS})
    return {k: v.contiguous() for k, v in out.items()}


def check_fits(converted: dict[str, torch.Tensor], cfg: Config, where: str | Path = "checkpoint") -> None:
    """Raise ValueError naming ``where``, the key and both shapes unless ``converted`` is exactly the state
    dict of ``cfg``'s backbone (built on the meta device: no memory)."""
    with torch.device("meta"):
        own = AudioVideoMAE(cfg).state_dict()
    missing, extra = sorted(set(own) - set(converted)), sorted(set(converted) - set(own))
    if missing or extra:
        key = (missing or extra)[0]
        raise ValueError(f"{where}: the converted checkpoint {'lacks' if missing else 'has an extra'} {key}; the model "
                         f"of this config has {cfg.model.modality_depth} + {cfg.model.fusion_depth} encoder layers and "
                         f"{cfg.model.decoder_depth} decoder layers (set the model.* values model_overrides reads off the file)")
    for k, v in own.items():
        if tuple(converted[k].shape) != tuple(v.shape):
            raise ValueError(f"{where}: {k} is {tuple(converted[k].shape)} after conversion, the model of this config "
                             f"needs {tuple(v.shape)} (model.* or data geometry differs from the checkpoint's)")


def convert_checkpoint(state: dict[str, torch.Tensor], cfg: Config) -> dict[str, dict[str, torch.Tensor]]:
    """``{"model": converted backbone, "avm": the AVM as build_model initialises it}`` for ``cfg``: the
    layout of ``stella.models.load_checkpoint``. The AVM still has to be trained (appendix D)."""
    converted = convert_state(state, cfg)
    check_fits(converted, cfg)
    _, avm = build_model(cfg)
    return {"model": {k: v.detach().clone() for k, v in converted.items()}, "avm": avm.state_dict()}


__all__ = ["read_cavmae", "strip_prefix", "check_cavmae", "model_overrides", "convert_state", "check_fits",
           "convert_checkpoint"]
