"""LUMP (Madaan et al., 2022, "Representational continuity for unsupervised continual learning").

Original: instead of replaying memory samples next to the current ones, mix them up,
x~ = lam x + (1 - lam) x_m with lam ~ Beta(alpha, alpha) (one per batch, ``np.random.beta``), and
train the self-supervised objective on the mixed batch only.

Self-supervised audio-video adaptation (stated choices, appendix A "Baselines" and the authors'
code): audio is mixed with audio and video with video, with the SAME lam for both modalities and
every pair, so a mixed pair is still a (mixed) positive for the contrastive term; the model is
trained with L = l^r + lambda l^c on the mixed batch only; while the memory is empty the current
batch is used as it is. alpha = ``continual.lump_lambda`` (Table 5: 0.1 VS, 0.05 AS).
 * the replay batch has the size of the current batch; while the memory holds fewer items the
   drawn items are cycled (row i mixes with memory row i mod m).
 * lam is drawn by a numpy Generator seeded from ``ctx.gen_memory`` (checkpointed), never the
   global RNG; alpha = 0 degenerates to lam ~ Bernoulli(1/2) (the limit of Beta(a, a), a -> 0).
 * the memory keeps the raw (unmixed) current clips by reservoir sampling.
"""
from __future__ import annotations

import numpy as np
import torch

from stella.continual.methods.base import Method, register


def draw_lambda(gen: torch.Generator, alpha: float) -> float:
    """lam ~ Beta(alpha, alpha) from a numpy Generator seeded by one draw of ``gen``."""
    seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    rng = np.random.default_rng(seed)
    if alpha <= 0:
        return float(rng.integers(0, 2))
    return float(rng.beta(alpha, alpha))


def mixup(cur: torch.Tensor, mem: torch.Tensor, lam: float) -> torch.Tensor:
    """lam * cur + (1 - lam) * mem, memory rows cycled to the current batch size."""
    idx = torch.arange(cur.shape[0], device=mem.device) % mem.shape[0]
    return lam * cur + (1.0 - lam) * mem[idx]


@register("lump")
class LUMP(Method):
    summary = "LUMP: train on the mixup of current and memory clips, same lam for audio and video (Madaan 2022)"
    uses_memory = True

    last_mix: tuple[float, torch.Tensor] | None = None

    def observe(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        b = self.to_device(batch)
        audio, video = b["audio"], b["video"]
        mem = self.memory.sample(audio.shape[0], self.ctx.gen_memory, self.ctx.device)
        logs: dict[str, float] = {}
        if mem is not None:
            lam = draw_lambda(self.ctx.gen_memory, self.cfg.continual.lump_lambda)
            audio, video = mixup(audio, mem["audio"], lam), mixup(video, mem["video"], lam)
            self.last_mix = (lam, mem["slot"])
            logs["lump_lambda"] = lam
        out = self.forward(audio, video)
        self.step(out.loss)
        self.memory.add({"audio": b["audio"], "video": b["video"]}, self.ctx.gen_memory)
        logs.update(loss=out.loss.item(), rec_a=out.rec_a.item(), rec_v=out.rec_v.item(),
                    contrastive=out.contrastive.item())
        return logs
