"""Table 3 ablations: the sampling method under DER++ at the default ratios rho_a = rho_v = 0.5.

 * "random": DER++ trained on patches drawn at random (no AVM): video uniformly, audio as Algorithm 1's
             chunks in a uniformly random order, as STELLA and the oracle take audio.
 * "random-patches": the same with the kappa_a audio patches drawn uniformly over all M, every chunk
             broken up (the paper does not say which its Random does: the book's choices table).
 * "mats":   DER++ trained on MATS-style patches (Hwang et al., 2022): sampled in proportion to a
             content score -- frame-difference motion for video, spectral energy for audio --
             with no audio chunk constraint (``stella.selection.variants``; no AVM).
   Both store raw clips + the DER++ targets c_a, c_v; replayed clips are re-selected by the same
   strategy on their own patches (for MATS the score is a function of the clip, so this equals
   reusing stored scores); neither trains or uses the AVM.
 * "lpis":   STELLA with C = 0 (Localized Patch Importance Scoring only, Eq. 2 + Eq. 5).
 * "rca":    STELLA with uniform I (Replay-guided Correlation Assessment only, Eq. 3-5).
   Both are :class:`Stella` with another ``strategy``.
Every class passes its ``strategy`` to ``select`` / ``select_from_scores``; the method's name is what
the run's config records.
"""
from __future__ import annotations

import torch

from stella.continual.methods.base import register
from stella.continual.methods.selecting import SelectingMethod
from stella.continual.methods.stella import Stella
from stella.selection import gather, select


class PatchDERpp(SelectingMethod):
    """DER++ on patches chosen without the AVM (strategy "random", "random-patches" or "mats")."""

    needs_avm = False

    def pick(self, audio: torch.Tensor, video: torch.Tensor):
        """(xa, xv, pos_a, pos_v): the selected patches of full clips and their grid positions."""
        model = self.ctx.model
        pa, pv = model.patchify_audio(audio), model.patchify_video(video)
        sel = select(self.cfg, None, None, None, None, None, self.ctx.gen_select, patches_a=pa, patches_v=pv,
                     strategy=self.strategy)
        return gather(pa, sel.idx_a), gather(pv, sel.idx_v), sel.idx_a, sel.idx_v

    def observe(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        b = self.to_device(batch)
        audio, video = b["audio"], b["video"]
        n = audio.shape[0]
        mem = self.replay()
        xa, xv, pos_a, pos_v = self.pick(audio, video)
        if mem is not None:
            ra, rv, rpa, rpv = self.pick(mem["audio"], mem["video"])
            xa, xv = torch.cat([xa, ra]), torch.cat([xv, rv])
            pos_a, pos_v = torch.cat([pos_a, rpa]), torch.cat([pos_v, rpv])
        logs: dict[str, float] = {}
        out = self.train_on(xa, xv, pos_a, pos_v, mem, n, logs)
        self.memory.add({"audio": audio, "video": video, "c_a": out.c_a[:n], "c_v": out.c_v[:n]},
                        self.ctx.gen_memory)
        return logs


@register("random")
class RandomDERpp(PatchDERpp):
    summary = "Table 3 Random: DER++ on random patches (audio in Algorithm 1's time chunks, in a random order)"
    strategy = "random"


@register("random-patches")
class RandomPatchesDERpp(PatchDERpp):
    summary = "Random with its audio patches drawn over the whole clip, not in Algorithm 1's time chunks"
    strategy = "random-patches"


@register("mats")
class MatsDERpp(PatchDERpp):
    summary = "Table 3 MATS: DER++ on patches sampled by motion (video) / energy (audio) scores"
    strategy = "mats"


@register("lpis")
class LPIS(Stella):
    summary = "Table 3 LPIS: STELLA with the correlation scores off (C = 0)"
    strategy = "lpis"


@register("rca")
class RCA(Stella):
    summary = "Table 3 RCA: STELLA with uniform importance (correlation scores only)"
    strategy = "rca"
