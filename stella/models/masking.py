"""Random masking of the kept patches (appendix C, Eq. 8).

The masks ``m_a, m_v`` of Eq. 8 are drawn per sample over the patches the model is given, which
after STELLA's selection (Eq. 6) is the kept set X^: the ratio applies to X^ by default, as
Algorithm 2 line 11 trains on X^; for the authors' "0.8 of the FULL length" (``selection.mask_of:
full``) the method passes ``num_visible`` = round((1 - ratio) * full length). The book's choices
table states both readings. At least one patch stays visible, and while kappa >= 2 at least
one is masked, so both the encoder input and the reconstruction target are never empty.
"""
from __future__ import annotations

import torch


def default_num_visible(kappa: int, mask_ratio: float) -> int:
    """max(1, round(kappa * (1 - mask_ratio))), and at most kappa - 1 when kappa >= 2."""
    if kappa < 1:
        raise ValueError(f"need at least one patch, got kappa={kappa}")
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    n = max(1, int(round(kappa * (1.0 - mask_ratio))))
    return min(n, kappa - 1) if kappa >= 2 else 1


def mask_noise(batch: int, kappa: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """(B, kappa) uniform noise from ``generator`` (drawn on the generator's device, then moved).

    ``generator=None`` uses a fresh generator seeded 0: deterministic, never the global RNG, but the
    same masks on every call, so training code must pass its own generator.
    """
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    noise = torch.rand(batch, kappa, generator=generator, device=generator.device)
    return noise.to(device)


def random_masking(noise: torch.Tensor, num_visible: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split each row into the ``num_visible`` patches of lowest noise and the masked rest.

    noise (B, kappa) -> ids_keep (B, nv) long in ascending noise order, ids_restore (B, kappa) long
    (position of each patch in the shuffled order, MAE's convention), mask (B, kappa) bool True =
    masked, i.e. the |m_i| reconstruction targets of Eq. 8.
    """
    B, kappa = noise.shape
    if not 1 <= num_visible <= kappa:
        raise ValueError(f"num_visible must be in [1, {kappa}], got {num_visible}")
    ids_shuffle = torch.argsort(noise, dim=1)                        # (B, kappa)
    ids_restore = torch.argsort(ids_shuffle, dim=1)                  # (B, kappa)
    ids_keep = ids_shuffle[:, :num_visible]                          # (B, nv)
    mask = ids_restore >= num_visible                                # (B, kappa)
    return ids_keep, ids_restore, mask


def gather_tokens(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """x (B, L, C), ids (B, K) long -> (B, K, C)."""
    return torch.gather(x, 1, ids.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
