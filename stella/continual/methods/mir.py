"""MIR (Aljundi et al., 2019, "Online continual learning with maximally interfered retrieval").

Original: draw C x (replay batch) candidates from the memory, take a virtual update of the model
on the current batch, and replay the candidates whose loss would increase the most under that
update (the "maximally interfered" ones), together with the current batch (ER step).

Self-supervised audio-video adaptation (stated choices):
 * loss of a candidate = its per-sample pre-training loss l_i = rec_a_i + rec_v_i + lambda con_i
   (``ModelOutput.*_per_sample``, lambda = ``model.contrast_weight``); the contrastive term of a
   candidate uses the other candidates as in-batch negatives (all C x R are scored in one batch).
 * the virtual update is one step of the run's optimiser WITHOUT touching its state (the
   authors' code, ``step_wo_state_update_adam``; ``functional.virtual_params``): Adam with the
   optimiser's current moments and ``continual.lr``; ``virtual_optimizer = "sgd"`` gives Aljundi
   et al.'s plain SGD step instead. The gradient is that of the current batch's loss; it is not
   synchronised under torchrun (each rank scores its own candidates).
 * before/after losses use the SAME masks (one noise draw from ``ctx.gen_mask`` shared by both
   passes), so the score is the interference of the update and not masking noise; the authors'
   code re-masks both passes.
 * the R = replay batch candidates with the largest l_after - l_before are replayed (ties: lower
   candidate index first), C = ``continual.mir_candidates`` (Table 5: 5).
 * then an ER step: one optimiser step on L over [current, picked] (``ER.observe``), memory keeps
   raw clips by reservoir sampling.

The per-sample loss, the fixed-mask forward and the virtual step live in
``stella.continual.functional`` (GMED, CLS-ER and ESMER use them too).
"""
from __future__ import annotations

import torch

from stella.continual.functional import interference
from stella.selection.budget import full_clip_visible
from stella.continual.methods.base import register
from stella.continual.methods.er import ER


def mir_pick(before: torch.Tensor, after: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k candidates whose loss increases most (stable: ties keep candidate order)."""
    score = (after - before).detach().cpu()
    return torch.sort(score, descending=True, stable=True).indices[: min(k, score.numel())]


@register("mir")
class MIR(ER):
    summary = "MIR: replay the C x R memory candidates most interfered by a virtual update (Aljundi 2019)"
    virtual_optimizer = "adam"
    last_picked: torch.Tensor | None = None      # memory slots replayed by the last step (for inspection)

    def retrieve(self, current: dict[str, torch.Tensor], logs: dict) -> dict[str, torch.Tensor] | None:
        """The R of C x R reservoir candidates whose loss a virtual step on ``current`` raises most;
        logs their mean increase as "interference"."""
        cand = self.memory.sample(self.cfg.continual.mir_candidates * self.replay_size, self.ctx.gen_memory,
                                  self.ctx.device)
        if cand is None:
            return None
        ctx = self.ctx
        before, after = interference(ctx.model, ctx.opt, ctx.gen_mask, self.cfg.model.contrast_weight,
                                     current["audio"], current["video"], cand["audio"], cand["video"],
                                     self.virtual_optimizer, num_visible=full_clip_visible(self.cfg))
        idx = mir_pick(before, after, self.replay_size).to(cand["audio"].device)
        self.last_picked = cand["slot"][idx]
        logs["interference"] = float((after - before)[idx].mean())
        return {k: v[idx] for k, v in cand.items()}
