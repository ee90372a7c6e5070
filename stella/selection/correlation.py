"""Replay-guided Correlation Assessment (section 4.2, Eq. 3-4).

Eq. 3 keeps the kappa most important keys of each modality and pools the matching queries into one
importance-weighted query per head:

    S_n = argsort(I_n) (descending by default; the book's choices table),  I^s_n[i, j] = I_n[i, S_n[i, j]],
    q^_n = sum_j w_j q_n[:, :, S_n[j]],  w = I^s_n / sum_j I^s_n,   k^_n = k_n[:, :, S_n[:kappa_n]].

Eq. 4 compares, on each kept key, the current pooled query of the OTHER modality with P past pooled
queries read from the rehearsal memory:

    A^_a = mu(q^_v, k^_a)  (B, H, kappa_a),   A^p_a = mu(q^p_v, k^_a)  (B, P, H, kappa_a)
    C_a[i, j] = mean_h  sum_p  softmax_{over {current, past_1..past_P}}([A^_a, A^p_a])[p]

i.e. a softmax per kept patch and head over the stacked {current, past} entries (the book's choices table); C is
the past entries' total share, in [0, 1], and moves to one when the patch correlates more with the
past queries than with its current pair. Patches outside the kept kappa are not judged: C = 0.
An empty memory (no past queries) gives C = 0 everywhere. Audio and video are symmetric.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def pooled_queries(q: Tensor, k: Tensor, I: Tensor, kappa: int,
                   descending: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Eq. 3: locally aligned pooled query and kept keys of one modality.

    q, k (B, H, L, d); I (B, L) importance (Eq. 2); kappa in [1, L].
    descending=True keeps the kappa MOST important patches, False the literal "ascending" reading
    (the kappa least important). Ties are broken by patch index (stable sort).
    Returns q_hat (B, H, d) = sum_j w_j q[:, :, S_j] with w = I^s / sum I^s over the kept patches
    (uniform weights when they sum to zero), k_hat (B, H, kappa, d) in sort order, and keep_idx
    (B, kappa) the kept patch indices in sort order (most important first when descending).
    """
    B, H, L, d = q.shape
    if k.shape != q.shape:
        raise ValueError(f"pooled_queries: q {tuple(q.shape)} and k {tuple(k.shape)} must have the same shape")
    if I.shape != (B, L):
        raise ValueError(f"pooled_queries: I must be {(B, L)}, got {tuple(I.shape)}")
    if not 1 <= kappa <= L:
        raise ValueError(f"pooled_queries: kappa must be in [1, {L}], got {kappa}")
    keep_idx = torch.argsort(I, dim=-1, descending=descending, stable=True)[:, :kappa]
    w = I.gather(1, keep_idx).to(q.dtype)
    total = w.sum(dim=-1, keepdim=True)
    w = torch.where(total > 0, w / total.clamp_min(torch.finfo(w.dtype).tiny), torch.full_like(w, 1.0 / kappa))
    gidx = keep_idx[:, None, :, None].expand(B, H, kappa, d)
    q_hat = (q.gather(2, gidx) * w[:, None, :, None]).sum(dim=2)
    k_hat = k.gather(2, gidx)
    return q_hat, k_hat, keep_idx


def past_query_set(q_hat_replay: Tensor | None, batch: int, mode: str = "paired") -> Tensor | None:
    """Past pooled queries per current sample for Eq. 4 (the book's choices table).

    q_hat_replay (R, H, d): the stored q^p of the R replayed samples (Algorithm 2 line 5), or None.
    mode "paired": current sample i uses replay sample i mod R (P = 1; the authors' code pairs one
    buffer sample with each current sample); mode "mean": one past query, the mean over all R.
    Returns (B, 1, H, d), or None when there is no past query (R = 0 or None: empty memory).
    """
    if q_hat_replay is None or q_hat_replay.shape[0] == 0:
        return None
    if q_hat_replay.dim() != 3:
        raise ValueError(f"past_query_set: q_hat_replay must be (R, H, d), got {tuple(q_hat_replay.shape)}")
    R = q_hat_replay.shape[0]
    if mode == "paired":
        rows = torch.arange(batch, device=q_hat_replay.device) % R
        return q_hat_replay[rows][:, None]
    if mode == "mean":
        return q_hat_replay.mean(dim=0)[None, None].expand(batch, 1, *q_hat_replay.shape[1:])
    raise ValueError(f"past_query_set: mode must be 'paired' or 'mean', got {mode!r}")


def correlation_scores(q_hat_other: Tensor, k_hat: Tensor, keep_idx: Tensor, q_hat_past: Tensor | None,
                       num_patches: int, beta: float) -> Tensor:
    """Eq. 4: correlation score of each patch with the past, C (B, L) in [0, 1].

    q_hat_other (B, H, d): current pooled query of the OTHER modality (q^_v when scoring audio);
    k_hat (B, H, kappa, d), keep_idx (B, kappa): this modality's kept keys and their indices (Eq. 3);
    q_hat_past (B, P, H, d) or (B, H, d) (P = 1): past pooled queries of the other modality, or None;
    num_patches L; beta the Eq. 1 temperature. With logits mu(q, k) = q k^T / (beta sqrt(d)),
    C[keep_idx] = mean_h of the past entries' share of softmax([A^, A^p_1..A^p_P]) per patch and
    head; C = 0 outside keep_idx, and everywhere when q_hat_past is None (empty memory).
    """
    B, H, K, d = k_hat.shape
    if q_hat_other.shape != (B, H, d):
        raise ValueError(f"correlation_scores: q_hat_other must be {(B, H, d)}, got {tuple(q_hat_other.shape)}")
    if keep_idx.shape != (B, K):
        raise ValueError(f"correlation_scores: keep_idx must be {(B, K)}, got {tuple(keep_idx.shape)}")
    C = torch.zeros(B, num_patches, device=k_hat.device, dtype=torch.float32)
    if q_hat_past is None:
        return C
    if q_hat_past.dim() == 3:
        q_hat_past = q_hat_past[:, None]
    if q_hat_past.shape[0] != B or q_hat_past.shape[2:] != (H, d):
        raise ValueError(f"correlation_scores: q_hat_past must be (B={B}, P, H={H}, d={d}), got {tuple(q_hat_past.shape)}")
    scale = 1.0 / (beta * math.sqrt(d))
    k32 = k_hat.float()
    A_cur = torch.einsum("bhd,bhkd->bhk", q_hat_other.float(), k32) * scale
    A_past = torch.einsum("bphd,bhkd->bphk", q_hat_past.float(), k32) * scale
    stacked = torch.cat([A_cur[:, None], A_past], dim=1)              # (B, 1+P, H, kappa)
    share_past = stacked.softmax(dim=1)[:, 1:].sum(dim=1)             # (B, H, kappa)
    return C.scatter(1, keep_idx, share_past.mean(dim=1).clamp(0.0, 1.0))


__all__ = ["pooled_queries", "past_query_set", "correlation_scores"]
