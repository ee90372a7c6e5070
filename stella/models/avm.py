"""Audio-Video Matching module h(.; Theta) (section 4.1, appendix D, Eq. 1, 10, 11).

Input: the joint fusion outputs (o_a (B, M, D), o_v (B, N, D)), detached so that the matching
loss trains only the AVM (appendix D; the authors compute them under no_grad). Per-modality
LayerNorm, six bias-free D -> D projections W^{Q,K,V}_{a,v} split into H heads of d = D / H.

Eq. 1, read cross-modally (the text's A_a = mu(q_a, k_a) contradicts its own shape B x H x N x M and
Eq. 10; the book's choices table):
    A_a = mu(q_v, k_a) = q_v k_a^T / (beta sqrt(d))   (B, H, N, M)  video queries on audio keys
    A_v = mu(q_a, k_v) = q_a k_v^T / (beta sqrt(d))   (B, H, M, N)  audio queries on video keys
Eq. 10: V_a = Softmax(A_a(beta=1)) v_a (B, H, N, d), V_v = Softmax(A_v(beta=1)) v_v (B, H, M, d).
Eq. 11: heads are merged back to D, V_a and V_v are mean-pooled over patches and concatenated
(B, 2D) -> Linear(2D, 2D) + Tanh pooler -> Linear(2D, 1) -> logit (the authors' FC head; this
is what gives the paper's +3.18% of the backbone at ViT-B). Trained with BCE-with-logits on
positive pairs and negatives made by re-pairing audio within the batch (a derangement).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class AVMOutput:
    q_a: torch.Tensor       # (B, H, M, d)
    k_a: torch.Tensor       # (B, H, M, d)
    v_a: torch.Tensor       # (B, H, M, d)
    q_v: torch.Tensor       # (B, H, N, d)
    k_v: torch.Tensor       # (B, H, N, d)
    v_v: torch.Tensor       # (B, H, N, d)
    A_a: torch.Tensor       # (B, H, N, M) Eq. 1 logits at temperature beta
    A_v: torch.Tensor       # (B, H, M, N)
    logit: torch.Tensor     # (B,) Eq. 11 matching logit (before the sigmoid)


def derangement(n: int, generator: torch.Generator | None) -> torch.Tensor:
    """A random permutation (n,) with no fixed point (n >= 2): a random n-cycle."""
    if n < 2:
        raise ValueError(f"a derangement needs n >= 2, got {n}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    order = torch.randperm(n, generator=generator, device=generator.device).cpu()
    perm = torch.empty(n, dtype=torch.long)
    perm[order] = order.roll(-1)
    return perm


class AVM(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"AVM: dim {dim} is not divisible by heads {heads}")
        self.dim, self.heads, self.head_dim = dim, heads, dim // heads
        self.norm_a = nn.LayerNorm(dim, eps=1e-6)
        self.norm_v = nn.LayerNorm(dim, eps=1e-6)
        self.q_a, self.k_a, self.v_a = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.q_v, self.k_v, self.v_v = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.pooler = nn.Sequential(nn.Linear(2 * dim, 2 * dim), nn.Tanh())
        self.head = nn.Linear(2 * dim, 1)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> (B, H, L, d)."""
        B, L, _ = x.shape
        return x.reshape(B, L, self.heads, self.head_dim).transpose(1, 2)

    def project(self, o_a: torch.Tensor, o_v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Detached (o_a (B, M, D), o_v (B, N, D)) -> q_a, k_a, v_a (B, H, M, d), q_v, k_v, v_v (B, H, N, d)."""
        a, v = self.norm_a(o_a.detach()), self.norm_v(o_v.detach())
        return tuple(self._split(f(x)) for f, x in ((self.q_a, a), (self.k_a, a), (self.v_a, a),
                                                     (self.q_v, v), (self.k_v, v), (self.v_v, v)))

    def _logit(self, q_a, k_a, v_a, q_v, k_v, v_v) -> torch.Tensor:
        """Eq. 10-11 with SDPA (beta = 1): (B,) matching logits."""
        B = q_a.shape[0]
        V_a = F.scaled_dot_product_attention(q_v, k_a, v_a)                 # (B, H, N, d)
        V_v = F.scaled_dot_product_attention(q_a, k_v, v_v)                 # (B, H, M, d)
        pooled_a = V_a.transpose(1, 2).reshape(B, -1, self.dim).mean(dim=1)  # (B, D)
        pooled_v = V_v.transpose(1, 2).reshape(B, -1, self.dim).mean(dim=1)  # (B, D)
        return self.head(self.pooler(torch.cat([pooled_a, pooled_v], dim=-1))).squeeze(-1)

    def forward(self, o_a: torch.Tensor, o_v: torch.Tensor, beta: float = 1.0) -> AVMOutput:
        """Eq. 1 attention logits at temperature ``beta`` and the Eq. 11 logit (always beta = 1)."""
        q_a, k_a, v_a, q_v, k_v, v_v = self.project(o_a, o_v)
        scale = 1.0 / (beta * math.sqrt(self.head_dim))
        A_a = q_v @ k_a.transpose(-1, -2) * scale                            # (B, H, N, M)
        A_v = q_a @ k_v.transpose(-1, -2) * scale                            # (B, H, M, N)
        logit = self._logit(q_a, k_a, v_a, q_v, k_v, v_v)
        return AVMOutput(q_a, k_a, v_a, q_v, k_v, v_v, A_a, A_v, logit)

    def pair_batch(self, o_a: torch.Tensor, generator: torch.Generator | None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """Appendix D negatives: a random half of the batch gets another sample's audio (derangement).

        Returns the re-paired audio tokens (B, M, D) and labels y (B,) float, 1 = matched pair.
        """
        B = o_a.shape[0]
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        perm = derangement(B, generator).to(o_a.device)
        order = torch.randperm(B, generator=generator, device=generator.device).to(o_a.device)
        negative = torch.zeros(B, dtype=torch.bool, device=o_a.device)
        negative[order[: B // 2]] = True
        paired = torch.where(negative[:, None, None], o_a[perm], o_a)
        return paired, (~negative).float()

    def loss(self, o_a: torch.Tensor, o_v: torch.Tensor, generator: torch.Generator | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 11 binary matching loss (BCE with logits) and accuracy, on B//2 negatives + positives."""
        paired_a, y = self.pair_batch(o_a.detach(), generator)
        logit = self._logit(*self.project(paired_a, o_v))
        loss = F.binary_cross_entropy_with_logits(logit, y)
        acc = ((logit > 0).float() == y).float().mean()
        return loss, acc.detach()
