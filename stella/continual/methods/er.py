"""ER (Rolnick et al., 2019): replay reservoir samples together with the current batch."""
from __future__ import annotations

import torch

from stella.continual.methods.base import Method, register


@register("er")
class ER(Method):
    summary = "experience replay: current batch + a reservoir replay batch in one forward"
    uses_memory = True

    def memory_items(self, b: dict[str, torch.Tensor], out) -> dict[str, torch.Tensor]:
        return {"audio": b["audio"], "video": b["video"]}

    def retrieve(self, current: dict[str, torch.Tensor], logs: dict) -> dict[str, torch.Tensor] | None:
        """The memory items to replay beside the ``current`` batch (None while the memory is empty).
        ER: a reservoir draw; MIR and GMED choose or edit them around ``current`` (and may add to ``logs``)."""
        return self.replay()

    def with_replay(self, b: dict[str, torch.Tensor], logs: dict):
        """(audio, video, mem): the current clips followed by the retrieved raw clips (mem None while empty)."""
        mem = self.retrieve(b, logs)
        audio, video = b["audio"], b["video"]
        if mem is not None:
            audio, video = torch.cat([audio, mem["audio"]]), torch.cat([video, mem["video"]])
        return audio, video, mem

    def observe(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        b = self.to_device(batch)
        logs: dict[str, float] = {}
        audio, video, mem = self.with_replay(b, logs)
        out = self.forward(audio, video)
        loss = out.loss
        logs.update(rec_a=out.rec_a.item(), rec_v=out.rec_v.item(), contrastive=out.contrastive.item())
        loss = loss + self.penalty(out, mem, start=b["audio"].shape[0], logs=logs)
        self.step(loss)
        self.memory.add(self.memory_items(b, out), self.ctx.gen_memory)
        logs["loss"] = loss.item()
        return logs

    def penalty(self, out, mem, start: int, logs: dict) -> torch.Tensor:
        return out.loss.new_zeros(())
