"""Controls of STELLA's selection: DER++ on the patches the ground truth marks (Oracle) or avoids (Anti-oracle).

The ceiling (and floor) of what any patch selection can buy on a benchmark with ground truth (the
synthetic benchmark and tuxpaint carry ``mask`` (T, H, W), the sounding object in every frame, and
``active`` (t,), sound on per fbank frame, in every batch):

 * video score of a patch: the share of its pixels on the sounding object in the frames where it sounds
   (``stella.eval.signal.sounding_mask``, ``object_coverage``);
 * audio score of a patch: the share of its time token's p fbank frames where the sound is on.
The Oracle keeps the highest scores first, the Anti-oracle the lowest, at STELLA's budget (kappa_a,
kappa_v, ``selection.mask_of`` as for STELLA) and with Algorithm 1's audio chunks
(``stella.selection.oracle``). Like Random and MATS they train DER++ on the kept patches with
``continual.stella_alpha``; neither trains or uses the AVM. Each clip's two score vectors are stored in
the memory beside it (as STELLA stores I, C), so replayed clips are selected by the same ground truth:
the augmentation a clip had when it entered the memory is the one its stored clip and scores share.
"""
from __future__ import annotations

import torch

from stella.config import Config
from stella.continual.methods.base import register
from stella.continual.methods.selecting import SelectingMethod
from stella.eval.signal import object_coverage, sounding_mask
from stella.selection import gather, select_from_scores


def truth_scores(mask: torch.Tensor, active: torch.Tensor, cfg: Config) -> tuple[torch.Tensor, torch.Tensor]:
    """Ground-truth patch scores: mask bool (B, T, H, W), active bool (B, t) -> score_a (B, M) time-major, the
    active share of each audio patch's fbank frames, and score_v (B, N) frame-major, each video patch's pixel
    share on the sounding object while it sounds. Both in [0, 1], float32."""
    p = cfg.model.patch_size
    nt, nf = cfg.audio_grid
    B = active.shape[0]
    if active.shape[1] < nt * p:
        raise ValueError(f"truth_scores: active has {active.shape[1]} frames, the audio grid needs {nt * p}")
    tok = active[:, : nt * p].float().reshape(B, nt, p).mean(dim=2)                  # (B, nt)
    score_a = tok[:, :, None].expand(B, nt, nf).reshape(B, nt * nf)
    score_v = object_coverage(sounding_mask(mask.bool(), active.bool()), p).float()
    if score_v.shape[1] != cfg.num_video_patches:
        raise ValueError(f"truth_scores: mask gives {score_v.shape[1]} video patches, the config {cfg.num_video_patches}")
    return score_a.contiguous(), score_v


@register("oracle")
class Oracle(SelectingMethod):
    summary = "control: DER++ on the sounding object's patches and the active audio chunks first (ground truth)"
    strategy = "oracle"
    needs_avm = False

    def truth(self, b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if "mask" not in b or "active" not in b:
            raise ValueError(f"{self.name}: the batch carries no ground truth ('mask', 'active'); the oracle "
                             "needs data.dataset 'synthetic' or 'tuxpaint'")
        return truth_scores(b["mask"], b["active"], self.cfg)

    def pick(self, audio, video, score_a, score_v):
        """(xa, xv, pos_a, pos_v): the kept patches of full clips by their ground-truth scores, and positions."""
        model = self.ctx.model
        sel = select_from_scores(self.cfg, score_a, score_v, torch.zeros_like(score_a), torch.zeros_like(score_v),
                                 self.ctx.gen_select, strategy=self.strategy)
        return (gather(model.patchify_audio(audio), sel.idx_a), gather(model.patchify_video(video), sel.idx_v),
                sel.idx_a, sel.idx_v)

    def observe(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        b = self.to_device(batch)
        audio, video = b["audio"], b["video"]
        n = audio.shape[0]
        score_a, score_v = self.truth(b)
        mem = self.replay()
        xa, xv, pos_a, pos_v = self.pick(audio, video, score_a, score_v)
        if mem is not None:
            ra, rv, rpa, rpv = self.pick(mem["audio"], mem["video"], mem["score_a"], mem["score_v"])
            xa, xv = torch.cat([xa, ra]), torch.cat([xv, rv])
            pos_a, pos_v = torch.cat([pos_a, rpa]), torch.cat([pos_v, rpv])
        logs: dict[str, float] = {}
        out = self.train_on(xa, xv, pos_a, pos_v, mem, n, logs)
        self.memory.add({"audio": audio, "video": video, "score_a": score_a, "score_v": score_v,
                         "c_a": out.c_a[:n], "c_v": out.c_v[:n]}, self.ctx.gen_memory)
        return logs


@register("anti-oracle")
class AntiOracle(Oracle):
    summary = "control: DER++ on the patches farthest from the sounding object and the sound (ground truth, last)"
    strategy = "anti-oracle"
