"""STELLA+ (Algorithm 3) and STELLA++ (section 5.2).

STELLA+ stores only the selected patches X^ with their positions and the pooled queries
q^ (line 9) instead of raw clips, so with rho_a = rho_v = 0.5 about twice as many instances
fit in the byte budget of the other methods' memory (section 5.1; the book's choices table):
capacity = floor(memory_size * bytes(raw item) / bytes(STELLA+ item)). Replayed samples
are trained on their stored patches as they are (line 11). STELLA++ is STELLA+ with a
1.66x batch, the memory saving spent on batch size (Table 2).
"""
from __future__ import annotations

import torch

from stella.continual.memory import ReservoirMemory
from stella.continual.methods.base import register
from stella.continual.methods.selecting import SelectingMethod
from stella.selection import kappa


def raw_item_bytes(cfg) -> int:
    """Bytes of one raw clip as the other methods store it (float32 audio + video)."""
    d = cfg.data
    return 4 * (d.audio_frames * d.mel_bins + d.num_frames * 3 * d.image_size * d.image_size)


def plus_item_bytes(cfg) -> int:
    """Bytes of one STELLA+ item: selected patches (float32), positions (int64), q^ (float32), c_a, c_v."""
    p, m = cfg.model.patch_size, cfg.model
    ka, kv = kappa(cfg.num_audio_patches, cfg.selection.rho_a), kappa(cfg.num_video_patches, cfg.selection.rho_v)
    return 4 * (ka * p * p + kv * 3 * p * p) + 8 * (ka + kv) + 4 * (2 * m.embed_dim) + 4 * (2 * m.embed_dim)


@register("stella+")
class StellaPlus(SelectingMethod):
    summary = "STELLA+: memory keeps only selected patches + positions + q^, ~2x instances per byte"

    def __init__(self, ctx):
        super().__init__(ctx)
        budget = self.memory.capacity * raw_item_bytes(self.cfg)
        self.memory = ReservoirMemory(budget // plus_item_bytes(self.cfg))

    def observe(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        b = self.to_device(batch)
        audio, video = b["audio"], b["video"]
        n = audio.shape[0]
        o_a, o_v, sel, mem, xa, xv = self.select_current(audio, video)
        new = {"xa": xa, "xv": xv, "pos_a": sel.idx_a, "pos_v": sel.idx_v, "q_a": sel.q_hat_a, "q_v": sel.q_hat_v}
        pos_a, pos_v = sel.idx_a, sel.idx_v
        if mem is not None:
            xa, xv = torch.cat([xa, mem["xa"]]), torch.cat([xv, mem["xv"]])
            pos_a, pos_v = torch.cat([pos_a, mem["pos_a"]]), torch.cat([pos_v, mem["pos_v"]])
        logs: dict[str, float] = {}
        out = self.train_on(xa, xv, pos_a, pos_v, mem, n, logs)
        self.memory.add({**new, "c_a": out.c_a[:n], "c_v": out.c_v[:n]}, self.ctx.gen_memory)
        logs.update(self.avm_step(o_a, o_v))
        return logs


@register("stella++")
class StellaPlusPlus(StellaPlus):
    summary = "STELLA++: STELLA+ with a 1.66x batch (the memory saving spent on batch size)"
    batch_multiplier = 1.66
