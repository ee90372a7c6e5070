"""DER++ (Buzzega et al., 2020) for audio-video pre-training.

The replayed samples are trained with the pre-training objective (the "++" term) and their
pooled audio and video embeddings c_a, c_v (Eq. 9, before L2 normalisation) are pulled to
the values stored at insertion: l^p = MSE(c_a, c_a^p) + MSE(c_v, c_v^p), applied to
each modality independently (appendix A; the authors' code; the book's choices table).
Objective: L = l^r + lambda l^c + alpha l^p, alpha = ``continual.der_alpha`` (Table 5).
"""
from __future__ import annotations

import torch

from stella.continual.functional import der_penalty
from stella.continual.methods.base import register
from stella.continual.methods.er import ER


@register("derpp")
class DERpp(ER):
    summary = "DER++: replay + penalty keeping stored pooled audio/video embeddings (alpha l^p)"

    def memory_items(self, b: dict[str, torch.Tensor], out) -> dict[str, torch.Tensor]:
        n = b["audio"].shape[0]
        return {"audio": b["audio"], "video": b["video"], "c_a": out.c_a[:n], "c_v": out.c_v[:n]}

    def penalty(self, out, mem, start: int, logs: dict) -> torch.Tensor:
        if mem is None:
            return out.loss.new_zeros(())
        lp = der_penalty(out, mem["c_a"], mem["c_v"], start)
        logs["penalty"] = lp.item()
        return self.cfg.continual.der_alpha * lp
