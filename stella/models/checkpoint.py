"""Atomic checkpoints of the backbone and the AVM, loaded with ``weights_only=True``.

File layout: ``{"model": state_dict, "avm": state_dict, "extra": dict}``. ``extra`` must hold only
tensors and plain Python values (``weights_only`` refuses anything else on load).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn


def save_checkpoint(path: str | Path, model: nn.Module, avm: nn.Module, extra: dict[str, Any] | None = None) -> Path:
    """Write to a temporary file in the same folder, then ``os.replace`` it onto ``path``."""
    from stella.store import atomic_torch_save

    path = Path(path)
    atomic_torch_save(path, {"model": model.state_dict(), "avm": avm.state_dict(), "extra": dict(extra or {})})
    return path


def _check_state(path: Path, part: str, module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Raise ValueError naming the file, the parameter and both shapes on any mismatch."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing:
        raise ValueError(f"{path}: {part} checkpoint lacks {part}.{missing[0]} (expected shape "
                         f"{tuple(own[missing[0]].shape)}); {len(missing)} missing key(s)")
    if unexpected:
        raise ValueError(f"{path}: {part} checkpoint has unexpected key {part}.{unexpected[0]} (shape "
                         f"{tuple(state[unexpected[0]].shape)}); {len(unexpected)} unexpected key(s)")
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise ValueError(f"{path}: {part}.{k} has shape {tuple(state[k].shape)} in the checkpoint "
                             f"but {tuple(v.shape)} in the model (was it saved with another model config?)")


def load_checkpoint(path: str | Path, model: nn.Module, avm: nn.Module) -> dict[str, Any]:
    """Load weights in place (CPU map, ``weights_only=True``) and return the ``extra`` dict."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "model" not in state or "avm" not in state:
        raise ValueError(f"{path}: not a stella checkpoint (expected keys 'model' and 'avm')")
    _check_state(path, "model", model, state["model"])
    _check_state(path, "avm", avm, state["avm"])
    model.load_state_dict(state["model"])
    avm.load_state_dict(state["avm"])
    return state.get("extra", {})
