"""Loading a backbone + AVM weights file with checks (``weights_only=True``).

Layout of a weights file: ``{"model": state_dict, "avm": state_dict, ...}`` (other keys are
ignored), as the pre-training stage writes ``weights.pt`` and as a converted ViT-B checkpoint must
look for ``pretrain.source: checkpoint`` (the paper's pre-trained start, section 5.1).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn


def _check_state(path: Path, part: str, module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Raise ValueError naming the file, the parameter and both shapes on any mismatch."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing:
        raise ValueError(f"{path}: {part} weights lack {part}.{missing[0]} (expected shape "
                         f"{tuple(own[missing[0]].shape)}); {len(missing)} missing key(s)")
    if unexpected:
        raise ValueError(f"{path}: {part} weights have unexpected key {part}.{unexpected[0]} (shape "
                         f"{tuple(state[unexpected[0]].shape)}); {len(unexpected)} unexpected key(s)")
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise ValueError(f"{path}: {part}.{k} has shape {tuple(state[k].shape)} in the file "
                             f"but {tuple(v.shape)} in the model (was it saved with another model config?)")


def read_weights(path: str | Path) -> dict:
    """The ``{"model": state_dict, "avm": state_dict, ...}`` of ``path`` (CPU map, ``weights_only=True``).

    Raises FileNotFoundError for a missing file and ValueError naming the file for anything that is
    not this layout."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a torch file, pickled objects weights_only refuses
        raise ValueError(f"{path}: not a readable weights file ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    if not isinstance(state, dict) or "model" not in state or "avm" not in state:
        raise ValueError(f"{path}: not a stella weights file (expected keys 'model' and 'avm')")
    return state


def load_checkpoint(path: str | Path, model: nn.Module, avm: nn.Module, state: dict | None = None) -> None:
    """Load ``path``'s weights into ``model`` and ``avm`` in place (:func:`read_weights`; ``state``: its
    contents already read, e.g. kept by ``stella.continual.worker_cache``).

    Raises FileNotFoundError for a missing file and ValueError naming the file for anything that is
    not this layout or does not fit the model's shapes."""
    path = Path(path)
    if state is None:
        state = read_weights(path)
    _check_state(path, "model", model, state["model"])
    _check_state(path, "avm", avm, state["avm"])
    model.load_state_dict(state["model"])
    avm.load_state_dict(state["avm"])
