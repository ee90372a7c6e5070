"""A training step whose loss is not finite stops the run with one line naming the step and what scales it.

Training is deterministic, so a run that reaches NaN or inf once reaches it every time it is resumed:
:func:`checked` raises :class:`stella.store_protocol.CannotComplete`, and the run store removes the
directory being computed instead of leaving an incomplete run behind. The message tells a batch whose
clips are already not finite (the data settings that scale the audio and video: ``data.sample_rate``,
``data.noise_level``, the audio normalisation) from a loss that diverged on finite clips (the
optimiser's step sizes, ``continual.lr`` / ``continual.avm_lr``, or ``pretrain.*`` while pre-training).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from stella.config import Config
from stella.store_protocol import CannotComplete

DATA_SCALES = ("data.sample_rate", "data.noise_level", "data.audio_norm_mean", "data.audio_norm_std")
CONTINUAL_STEPS = ("continual.lr", "continual.avm_lr")
PRETRAIN_STEPS = ("pretrain.lr", "pretrain.avm_lr")


def _settings(cfg: Config, keys: tuple[str, ...]) -> str:
    values = [(k, getattr(getattr(cfg, k.split(".")[0]), k.split(".")[1])) for k in keys]
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values if v is not None)


def problem(logs: dict, batch: dict, cfg: Config, where: str, step_keys: tuple[str, ...]) -> str | None:
    """Why the step ``where`` cannot go on (None: every logged value is finite). ``logs``: the step's
    logged floats; ``batch``: its clips ("audio" (B, t, f), "video" (B, T, 3, H, W))."""
    bad = [(k, v) for k, v in logs.items() if isinstance(v, float) and not math.isfinite(v)]
    if not bad:
        return None
    what = ", ".join(f"{k} = {v}" for k, v in bad)
    broken = [m for m in ("audio", "video") if torch.is_tensor(batch.get(m)) and not torch.isfinite(batch[m]).all()]
    if broken:
        return (f"{where}: {what}: the input {' and '.join(broken)} of the batch already holds NaN or inf; "
                f"the settings that scale it: {_settings(cfg, DATA_SCALES)}")
    return f"{where}: {what} on finite clips (the training diverged); the settings that scale it: " \
           f"{_settings(cfg, step_keys)}"


def checked(observe: Callable[[dict], dict], batch: dict, cfg: Config, where: str,
            step_keys: tuple[str, ...] = CONTINUAL_STEPS, model: torch.nn.Module | None = None) -> dict:
    """``observe(batch)``'s logs, or CannotComplete when a logged loss is not finite (:func:`problem`); an
    error inside ``observe`` (a sampling step on NaN scores, say) on clips or ``model`` weights that are
    not finite is reported the same way."""
    try:
        logs = observe(batch)
    except RuntimeError as e:
        weights = model is not None and not all(torch.isfinite(p).all() for p in model.parameters())
        why = problem({"weights" if weights else "loss": math.nan}, batch, cfg, where, step_keys)
        if "already holds NaN" not in why and not weights:
            raise
        raise CannotComplete(f"{why} ({' '.join(str(e).split())[:80]})") from e
    why = problem(logs, batch, cfg, where, step_keys)
    if why is not None:
        raise CannotComplete(why)
    return logs


__all__ = ["problem", "checked", "DATA_SCALES", "CONTINUAL_STEPS", "PRETRAIN_STEPS"]
