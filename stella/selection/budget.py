"""Token budgets: how many audio / video patches of one clip a method keeps, shows the encoder, and
reconstructs (sections 4.3 and 5.1, appendix C, Eq. 8; the book's token-budget table).

A method that trains on full clips (strategy "none") keeps all M audio and N video patches and masks
``model.mask_ratio`` of them: visible = ``default_num_visible(M, r)``. A selecting method keeps
kappa_a = kappa(M, rho_a), kappa_v = kappa(N, rho_v) and masks, after the selection,
  * ``selection.mask_of = "selected"``: r of the kept set, visible = default_num_visible(kappa, r);
  * ``selection.mask_of = "full"``: down to the full-length count (the authors' code),
    visible = min(max(1, round((1 - r) L)), kappa - 1).
The reverse control ``continual.visible_budget = "stella"`` masks a full-clip method down to the count
STELLA sees at the same config (its reconstruction targets stay every other patch). Replayed clips get
the same counts as current ones under every method here.
"""
from __future__ import annotations

from stella.config import Config
from stella.models.masking import default_num_visible

from .importance import kappa
from .variants import STRATEGIES


def _check(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"visible_tokens: unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")


def visible_of_kept(cfg: Config, kept_a: int, kept_v: int) -> tuple[int, int]:
    """(visible_a, visible_v) of a clip whose selection kept ``kept_a`` audio and ``kept_v`` video patches,
    under ``selection.mask_of``: the one formula training (``SelectingMethod.train_on``) and the budget table use."""
    r = cfg.model.mask_ratio
    if cfg.selection.mask_of == "full":
        keep = 1.0 - r
        full = lambda L, k: max(1, min(max(1, round(keep * L)), k - 1))
        return full(cfg.num_audio_patches, kept_a), full(cfg.num_video_patches, kept_v)
    return default_num_visible(kept_a, r), default_num_visible(kept_v, r)


def selected_visible(cfg: Config) -> tuple[int, int]:
    """(visible_a, visible_v) per clip of a selecting method (STELLA, its ablations, the oracle) at ``cfg``."""
    return visible_of_kept(cfg, kappa(cfg.num_audio_patches, cfg.selection.rho_a),
                           kappa(cfg.num_video_patches, cfg.selection.rho_v))


def full_clip_visible(cfg: Config) -> tuple[int | None, int | None]:
    """The ``num_visible`` a full-clip method passes to the model: None (the model's default, mask r of every
    patch) unless ``continual.visible_budget`` is "stella", then STELLA's count at ``cfg``."""
    if cfg.continual.visible_budget == "stella":
        return selected_visible(cfg)
    return None, None


def visible_tokens(cfg: Config, strategy: str) -> dict[str, int]:
    """Per clip (current and replayed alike): ``kept_{a,v}`` patches the method trains on, ``visible_{a,v}`` the
    encoder sees, ``masked_{a,v}`` reconstruction targets (kept - visible), for a method of ``strategy``
    (its class trait) at ``cfg``."""
    _check(strategy)
    M, N = cfg.num_audio_patches, cfg.num_video_patches
    r = cfg.model.mask_ratio
    if strategy == "none":
        ka, kv = M, N
        na, nv = full_clip_visible(cfg)
        va = default_num_visible(M, r) if na is None else na
        vv = default_num_visible(N, r) if nv is None else nv
    else:
        ka, kv = kappa(M, cfg.selection.rho_a), kappa(N, cfg.selection.rho_v)
        va, vv = selected_visible(cfg)
    return {"kept_a": ka, "kept_v": kv, "visible_a": va, "visible_v": vv, "masked_a": ka - va, "masked_v": kv - vv}
