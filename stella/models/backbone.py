"""The audio-video masked autoencoder f(.; theta) of appendix C (CAV-MAE-like, Eq. 7-9).

Patches enter as flat vectors with their grid indices, so a selected subset X^ of Eq. 6 is just a
shorter sequence: positional embeddings are gathered by index, the encoders see only the visible
part of the kept patches and the decoder reconstructs only the kept patches (pruned patches are
neither seen nor reconstructed).

Layout: audio (B, t, f) is an image with time first, patches time-major over ``cfg.audio_grid``,
patch vector (p*p,) row-major over (time, mel). Video (B, T, 3, H, W), patches frame-major over
``cfg.video_grid``, patch vector (3*p*p,) ordered (channel, row, column) so that the Conv2d patch
embedding of Eq. 7 is one matrix product on it.

Encoders: E_a, E_v (``modality_depth`` ViT blocks each), shared fusion E_f (``fusion_depth``).
Joint pass E_f([a; v]) + one LayerNorm feeds the decoder (Eq. 8) and the AVM; the unimodal pass
E_f(a) + LN_a, E_f(v) + LN_v feeds the contrastive loss (Eq. 9). Unlike CAV-MAE we do not swap
modality-specific LayerNorms inside the fusion blocks, nor add the extra pre-fusion position
embeddings of the authors' code. The decoder's blocks are shared and run once per modality with
separate mask tokens, positional and modality embeddings, and prediction heads.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.vision_transformer import Block

from stella.config import Config
from stella.models.losses import infonce_per_sample, reconstruction_loss_per_sample
from stella.models.masking import default_num_visible, gather_tokens, mask_noise, random_masking
from stella.models.pos_embed import audio_pos_embed, video_pos_embed


@dataclass
class ModelOutput:
    loss: torch.Tensor                      # () rec_a + rec_v + lambda * contrastive
    rec_a: torch.Tensor                     # () Eq. 8, audio
    rec_v: torch.Tensor                     # () Eq. 8, video
    contrastive: torch.Tensor               # () Eq. 9
    rec_a_per_sample: torch.Tensor          # (B,)
    rec_v_per_sample: torch.Tensor          # (B,)
    contrastive_per_sample: torch.Tensor    # (B,)
    c_a: torch.Tensor                       # (B, D) pooled unimodal audio embedding, before L2 norm
    c_v: torch.Tensor                       # (B, D)
    pred_a: torch.Tensor                    # (B, ka, p*p) reconstruction of every kept audio patch
    pred_v: torch.Tensor                    # (B, kv, 3*p*p)
    mask_a: torch.Tensor                    # (B, ka) bool, True = masked (reconstruction target)
    mask_v: torch.Tensor                    # (B, kv) bool


def _blocks(dim: int, heads: int, depth: int, mlp_ratio: float) -> nn.ModuleList:
    norm = partial(nn.LayerNorm, eps=1e-6)
    return nn.ModuleList(Block(dim, heads, mlp_ratio, qkv_bias=True, norm_layer=norm) for _ in range(depth))


def _run(blocks: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    for blk in blocks:
        x = blk(x)
    return x


class AudioVideoMAE(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        mc = cfg.model
        self.cfg = cfg
        self.p, D, Dd = mc.patch_size, mc.embed_dim, mc.decoder_dim
        self.audio_grid, self.video_grid = cfg.audio_grid, cfg.video_grid
        self.num_audio_patches, self.num_video_patches = cfg.num_audio_patches, cfg.num_video_patches
        learned, temporal = mc.pos_embed != "sincos", mc.pos_embed != "learned"

        self.patch_embed_a = nn.Conv2d(1, D, self.p, self.p)                   # Eq. 7, w_a
        self.patch_embed_v = nn.Conv2d(3, D, self.p, self.p)                   # Eq. 7, w_v
        self.modality_a = nn.Parameter(torch.zeros(1, 1, D))
        self.modality_v = nn.Parameter(torch.zeros(1, 1, D))
        self._table("pos_embed_a", audio_pos_embed(D, self.audio_grid), learned)             # (M, D)
        self._table("pos_embed_v", video_pos_embed(D, self.video_grid, temporal), learned)   # (N, D)
        self.blocks_a = _blocks(D, mc.num_heads, mc.modality_depth, mc.mlp_ratio)           # E_a
        self.blocks_v = _blocks(D, mc.num_heads, mc.modality_depth, mc.mlp_ratio)           # E_v
        self.blocks_f = _blocks(D, mc.num_heads, mc.fusion_depth, mc.mlp_ratio)             # E_f
        self.norm = nn.LayerNorm(D, eps=1e-6)      # joint pass
        self.norm_a = nn.LayerNorm(D, eps=1e-6)    # LN_a, unimodal pass
        self.norm_v = nn.LayerNorm(D, eps=1e-6)    # LN_v

        self.decoder_embed = nn.Linear(D, Dd)
        self.mask_token_a = nn.Parameter(torch.zeros(1, 1, Dd))
        self.mask_token_v = nn.Parameter(torch.zeros(1, 1, Dd))
        self.decoder_modality_a = nn.Parameter(torch.zeros(1, 1, Dd))
        self.decoder_modality_v = nn.Parameter(torch.zeros(1, 1, Dd))
        self._table("decoder_pos_embed_a", audio_pos_embed(Dd, self.audio_grid), learned)
        self._table("decoder_pos_embed_v", video_pos_embed(Dd, self.video_grid, temporal), learned)
        self.decoder_blocks = _blocks(Dd, mc.decoder_heads, mc.decoder_depth, mc.mlp_ratio)
        self.decoder_norm = nn.LayerNorm(Dd, eps=1e-6)
        self.decoder_pred_a = nn.Linear(Dd, self.p * self.p)
        self.decoder_pred_v = nn.Linear(Dd, 3 * self.p * self.p)
        self._init_weights()

    def _table(self, name: str, table: torch.Tensor, learned: bool) -> None:
        if learned:
            setattr(self, name, nn.Parameter(table))
        else:
            self.register_buffer(name, table, persistent=False)

    def _init_weights(self) -> None:
        """MAE initialisation: xavier-uniform linears and patch embeddings, N(0, 0.02) tokens."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for conv in (self.patch_embed_a, self.patch_embed_v):
            nn.init.xavier_uniform_(conv.weight.view(conv.weight.shape[0], -1))
            nn.init.zeros_(conv.bias)
        for tok in (self.modality_a, self.modality_v, self.mask_token_a, self.mask_token_v,
                    self.decoder_modality_a, self.decoder_modality_v):
            nn.init.normal_(tok, std=0.02)

    # ----------------------------------------------------------------- patches
    def patchify_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, t, f) -> (B, M, p*p), time-major."""
        (gt, gf), p = self.audio_grid, self.p
        if audio.dim() != 3 or tuple(audio.shape[1:]) != (gt * p, gf * p):
            raise ValueError(f"audio must be (B, {gt * p}, {gf * p}), got {tuple(audio.shape)}")
        B = audio.shape[0]
        return audio.reshape(B, gt, p, gf, p).permute(0, 1, 3, 2, 4).reshape(B, gt * gf, p * p)

    def patchify_video(self, video: torch.Tensor) -> torch.Tensor:
        """video (B, T, 3, H, W) -> (B, N, 3*p*p), frame-major, patch vector ordered (c, row, col)."""
        (T, gh, gw), p = self.video_grid, self.p
        if video.dim() != 5 or tuple(video.shape[1:]) != (T, 3, gh * p, gw * p):
            raise ValueError(f"video must be (B, {T}, 3, {gh * p}, {gw * p}), got {tuple(video.shape)}")
        B = video.shape[0]
        x = video.reshape(B, T, 3, gh, p, gw, p).permute(0, 1, 3, 5, 2, 4, 6)
        return x.reshape(B, T * gh * gw, 3 * p * p)

    def _tokens(self, x: torch.Tensor, pos: torch.Tensor, conv: nn.Conv2d, table: torch.Tensor,
                modality: torch.Tensor) -> torch.Tensor:
        """Eq. 7 on flat patches plus gathered positions: x (B, k, C*p*p), pos (B, k) -> (B, k, D)."""
        if pos.shape != x.shape[:2]:
            raise ValueError(f"positions {tuple(pos.shape)} do not match patches {tuple(x.shape[:2])}")
        if pos.numel() and (int(pos.min()) < 0 or int(pos.max()) >= table.shape[0]):
            raise ValueError(f"patch indices must lie in [0, {table.shape[0]}), got [{int(pos.min())}, {int(pos.max())}]")
        w = conv.weight.reshape(conv.weight.shape[0], -1)                       # (D, C*p*p)
        return F.linear(x, w, conv.bias) + F.embedding(pos, table) + modality

    def _full_positions(self, B: int, n: int, device: torch.device) -> torch.Tensor:
        return torch.arange(n, device=device).unsqueeze(0).expand(B, n)

    # ----------------------------------------------------------------- training forward
    def forward(self, audio: torch.Tensor, video: torch.Tensor, idx_a: torch.Tensor | None = None,
                idx_v: torch.Tensor | None = None, generator: torch.Generator | None = None,
                num_visible_a: int | None = None, num_visible_v: int | None = None) -> ModelOutput:
        """audio (B, t, f), video (B, T, 3, H, W); idx_a (B, ka), idx_v (B, kv) long grid indices of
        the selected patches X^ (Eq. 6), None = all patches in order."""
        xa, xv = self.patchify_audio(audio), self.patchify_video(video)
        B = xa.shape[0]
        pos_a = self._full_positions(B, xa.shape[1], xa.device) if idx_a is None else idx_a
        pos_v = self._full_positions(B, xv.shape[1], xv.device) if idx_v is None else idx_v
        if idx_a is not None:
            xa = gather_tokens(xa, idx_a)
        if idx_v is not None:
            xv = gather_tokens(xv, idx_v)
        return self.forward_patches(xa, xv, pos_a, pos_v, generator, num_visible_a, num_visible_v)

    def forward_patches(self, xa: torch.Tensor, xv: torch.Tensor, pos_a: torch.Tensor, pos_v: torch.Tensor,
                        generator: torch.Generator | None = None, num_visible_a: int | None = None,
                        num_visible_v: int | None = None, noise_a: torch.Tensor | None = None,
                        noise_v: torch.Tensor | None = None) -> ModelOutput:
        """Eq. 8-9 on kept patches: xa (B, ka, p*p), xv (B, kv, 3*p*p), pos_a (B, ka), pos_v (B, kv).

        Masks are drawn from ``generator`` (audio first, then video) unless ``noise_a``/``noise_v``
        (B, k) fix them: the ``num_visible`` lowest-noise patches are visible. ``num_visible``
        defaults to :func:`default_num_visible` of the kept length and ``model.mask_ratio``.
        """
        mc = self.cfg.model
        B, ka, kv = xa.shape[0], xa.shape[1], xv.shape[1]
        a = self._tokens(xa, pos_a, self.patch_embed_a, self.pos_embed_a, self.modality_a)    # (B, ka, D)
        v = self._tokens(xv, pos_v, self.patch_embed_v, self.pos_embed_v, self.modality_v)    # (B, kv, D)
        nva = default_num_visible(ka, mc.mask_ratio) if num_visible_a is None else int(num_visible_a)
        nvv = default_num_visible(kv, mc.mask_ratio) if num_visible_v is None else int(num_visible_v)
        noise_a = mask_noise(B, ka, generator, xa.device) if noise_a is None else noise_a
        noise_v = mask_noise(B, kv, generator, xv.device) if noise_v is None else noise_v
        keep_a, restore_a, mask_a = random_masking(noise_a, nva)
        keep_v, restore_v, mask_v = random_masking(noise_v, nvv)

        h_a = _run(self.blocks_a, gather_tokens(a, keep_a))                 # (B, nva, D)
        h_v = _run(self.blocks_v, gather_tokens(v, keep_v))                 # (B, nvv, D)
        joint = self.norm(_run(self.blocks_f, torch.cat([h_a, h_v], dim=1)))
        o_a, o_v = joint[:, :nva], joint[:, nva:]                           # a~, v~ of Eq. 8
        c_a = self.norm_a(_run(self.blocks_f, h_a)).mean(dim=1)             # (B, D) Eq. 9
        c_v = self.norm_v(_run(self.blocks_f, h_v)).mean(dim=1)             # (B, D)

        pred_a = self._decode(o_a, restore_a, pos_a, self.mask_token_a, self.decoder_pos_embed_a,
                              self.decoder_modality_a, self.decoder_pred_a)  # (B, ka, p*p)
        pred_v = self._decode(o_v, restore_v, pos_v, self.mask_token_v, self.decoder_pos_embed_v,
                              self.decoder_modality_v, self.decoder_pred_v)  # (B, kv, 3*p*p)
        rec_a = reconstruction_loss_per_sample(pred_a, xa, mask_a, mc.norm_pix_loss)
        rec_v = reconstruction_loss_per_sample(pred_v, xv, mask_v, mc.norm_pix_loss)
        con = infonce_per_sample(c_a, c_v, mc.tau)                          # (B,), 0 when B = 1
        loss = rec_a.mean() + rec_v.mean() + mc.contrast_weight * con.mean()
        return ModelOutput(loss, rec_a.mean(), rec_v.mean(), con.mean(), rec_a, rec_v, con, c_a, c_v,
                           pred_a, pred_v, mask_a, mask_v)

    def _decode(self, o: torch.Tensor, ids_restore: torch.Tensor, pos: torch.Tensor, mask_token: torch.Tensor,
                table: torch.Tensor, modality: torch.Tensor, head: nn.Linear) -> torch.Tensor:
        """D(.): o (B, nv, D) visible joint tokens -> (B, k, P) predictions for all k kept patches."""
        x = self.decoder_embed(o)                                            # (B, nv, Dd)
        B, nv, Dd = x.shape
        k = ids_restore.shape[1]
        x = torch.cat([x, mask_token.expand(B, k - nv, Dd)], dim=1)          # shuffled order
        x = gather_tokens(x, ids_restore) + F.embedding(pos, table) + modality   # kept order (B, k, Dd)
        return head(self.decoder_norm(_run(self.decoder_blocks, x)))

    # ----------------------------------------------------------------- unmasked passes
    def _encode_full(self, audio: torch.Tensor, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """E_a(a), E_v(v) on all patches, no masking: (B, M, D), (B, N, D)."""
        xa, xv = self.patchify_audio(audio), self.patchify_video(video)
        B = xa.shape[0]
        a = self._tokens(xa, self._full_positions(B, xa.shape[1], xa.device), self.patch_embed_a,
                         self.pos_embed_a, self.modality_a)
        v = self._tokens(xv, self._full_positions(B, xv.shape[1], xv.device), self.patch_embed_v,
                         self.pos_embed_v, self.modality_v)
        return _run(self.blocks_a, a), _run(self.blocks_v, v)

    def fusion_tokens(self, audio: torch.Tensor, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Joint pass (o_a, o_v) = E_f(E_a(a), E_v(v)) without masking, the AVM input (section 4.1):
        (B, M, D), (B, N, D)."""
        h_a, h_v = self._encode_full(audio, video)
        joint = self.norm(_run(self.blocks_f, torch.cat([h_a, h_v], dim=1)))
        return joint[:, :h_a.shape[1]], joint[:, h_a.shape[1]:]

    def unimodal_tokens(self, audio: torch.Tensor, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unimodal pass LN_a(E_f(E_a(a))), LN_v(E_f(E_v(v))) without masking: (B, M, D), (B, N, D)."""
        h_a, h_v = self._encode_full(audio, video)
        return self.norm_a(_run(self.blocks_f, h_a)), self.norm_v(_run(self.blocks_f, h_v))

    def embed(self, audio: torch.Tensor, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Retrieval embeddings: mean-pooled unimodal tokens, L2-normalised, (B, D) each."""
        u_a, u_v = self.unimodal_tokens(audio, video)
        return F.normalize(u_a.mean(dim=1), dim=-1), F.normalize(u_v.mean(dim=1), dim=-1)
