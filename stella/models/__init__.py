"""STELLA's models: the audio-video MAE backbone f(.; theta) and the AVM module h(.; Theta).

``build_model(cfg) -> (AudioVideoMAE, AVM)`` initialises both from ``cfg.run.seed`` without
touching the global RNG; ``describe(cfg)`` counts their parameters (``stella info``).
"""
from __future__ import annotations

from typing import Any

import torch

from stella.config import Config
from stella.models.avm import AVM, AVMOutput, derangement
from stella.models.backbone import AudioVideoMAE, ModelOutput
from stella.models.checkpoint import load_checkpoint
from stella.models.masking import default_num_visible


def build_model(cfg: Config, device: torch.device | str | None = None) -> tuple[AudioVideoMAE, AVM]:
    """Backbone and AVM for ``cfg.model`` at the geometry of ``cfg.data``, seeded by ``cfg.run.seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.run.seed)
        model = AudioVideoMAE(cfg)
        avm = AVM(cfg.model.embed_dim, cfg.model.num_heads)
    if device is not None:
        model, avm = model.to(device), avm.to(device)
    return model, avm


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def describe(cfg: Config) -> dict[str, Any]:
    """Parameter counts of the backbone (by part) and the AVM, and the AVM's share of the backbone
    (the paper: +3.18% of a 707.8 MB backbone). Built on the meta device: no memory, no weights."""
    with torch.device("meta"):
        model = AudioVideoMAE(cfg)
        avm = AVM(cfg.model.embed_dim, cfg.model.num_heads)
    parts = {
        "audio_encoder": [model.patch_embed_a, model.blocks_a],
        "video_encoder": [model.patch_embed_v, model.blocks_v],
        "fusion_encoder": [model.blocks_f, model.norm, model.norm_a, model.norm_v],
        "decoder": [model.decoder_embed, model.decoder_blocks, model.decoder_norm,
                    model.decoder_pred_a, model.decoder_pred_v],
    }
    counts = {k: sum(_count(m) for m in ms) for k, ms in parts.items()}
    backbone, avm_n = _count(model), _count(avm)
    counts["embeddings"] = backbone - sum(counts.values())   # positions, modality and mask tokens
    return {
        "size": cfg.model.size,
        "embed_dim": cfg.model.embed_dim,
        "audio_patches": cfg.num_audio_patches,
        "video_patches": cfg.num_video_patches,
        "backbone_params": backbone,
        "backbone_parts": counts,
        "backbone_mb": backbone * 4 / 2**20,
        "avm_params": avm_n,
        "avm_mb": avm_n * 4 / 2**20,
        "avm_percent_of_backbone": 100.0 * avm_n / backbone,
    }


__all__ = ["AudioVideoMAE", "AVM", "AVMOutput", "ModelOutput", "build_model", "describe", "derangement",
           "default_num_visible", "load_checkpoint"]
