"""Training-step time and activation memory of the backbone: full input vs a random subset of patches.

    python -m benchmarks.bench_model --preset cpu [--device cuda] [--rho 0.5] [--repeats 5]

Each column is one way of choosing the patches the backbone trains on; ``full`` uses all M + N
patches, ``random`` keeps kappa = rho * M audio and rho * N video patches drawn uniformly per sample
(the cost side of STELLA's selection, without the AVM). Masking follows ``cfg.selection.mask_of``
("selected": mask_ratio of the kept set; "full": visible = (1 - mask_ratio) * full length).
To add a column, append a ``Variant`` to the list passed to :func:`bench_backbone`; ``overhead``
lets it add work (e.g. the AVM forward and the selection) to the timed step.
"""
from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from stella.config import Config, load_config
from stella.eval.efficiency import measure_step
from stella.models import build_model
from stella.selection.importance import kappa

Indices = Optional[torch.Tensor]


@dataclass
class Variant:
    name: str
    indices: Callable[[torch.Tensor, torch.Tensor, torch.Generator, torch.nn.Module], tuple[Indices, Indices]]
    overhead: Optional[Callable[[torch.Tensor, torch.Tensor], None]] = None


def random_subset(B: int, n: int, k: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """(B, k) sorted random patch indices out of n, per sample."""
    noise = torch.rand(B, n, generator=generator, device=generator.device).to(device)
    return noise.argsort(dim=1)[:, :k].sort(dim=1).values


def full_variant() -> Variant:
    return Variant("full", lambda a, v, g, m: (None, None))


def random_variant(cfg: Config, rho_a: float, rho_v: float) -> Variant:
    M, N = cfg.num_audio_patches, cfg.num_video_patches

    def indices(audio, video, g, model):
        B = audio.shape[0]
        return (random_subset(B, M, kappa(M, rho_a), g, audio.device),
                random_subset(B, N, kappa(N, rho_v), g, audio.device))
    return Variant(f"random rho={rho_a:g}/{rho_v:g}", indices)


def stella_variant(cfg: Config, device: str = "cpu", bf16: bool = False) -> Variant:
    """STELLA's real selection inside the timed step: AVM pass on the unmasked clip (no_grad;
    optionally bf16 autocast on CUDA), Eq. 2-5 / Algorithm 1 with an empty memory, then X^."""
    from stella.models import AVM
    from stella.selection import select

    avm = AVM(cfg.model.embed_dim, cfg.model.num_heads).to(device)

    def indices(audio, video, g, model):
        with torch.no_grad(), torch.autocast(device_type=audio.device.type, dtype=torch.bfloat16, enabled=bf16):
            o_a, o_v = model.fusion_tokens(audio, video)
            out = avm(o_a, o_v, beta=cfg.selection.beta)
        sel = select(cfg, out, None, None, None, None, g)
        return sel.idx_a, sel.idx_v
    return Variant("stella (AVM + selection)" + (" bf16" if bf16 else ""), indices)


def bench_backbone(cfg: Config, variants: list[Variant], device: str = "cpu", repeats: int = 3,
                   batch_size: int | None = None) -> dict[str, dict[str, float]]:
    """Per variant: median step time over ``repeats`` (after one warm-up) and the saved-for-backward
    bytes of the last step; every variant starts from the same weights and data."""
    dev = torch.device(device)
    B = batch_size or cfg.continual.batch_size
    g = torch.Generator().manual_seed(cfg.run.seed)
    T, gh, gw = cfg.video_grid
    p = cfg.model.patch_size
    audio = torch.randn(B, cfg.data.audio_frames, cfg.data.mel_bins, generator=g).to(dev)
    video = torch.randn(B, T, 3, gh * p, gw * p, generator=g).to(dev)
    full_visible = lambda n: max(1, round(n * (1 - cfg.model.mask_ratio)))  # noqa: E731
    results = {}
    for var in variants:
        model, _ = build_model(cfg, dev)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.continual.lr, betas=cfg.continual.betas)
        gen = torch.Generator().manual_seed(cfg.run.seed)

        def step():
            idx_a, idx_v = var.indices(audio, video, gen, model)
            if var.overhead is not None:
                var.overhead(audio, video)
            nva = nvv = None
            if cfg.selection.mask_of == "full" and idx_a is not None:
                nva = min(full_visible(cfg.num_audio_patches), idx_a.shape[1])
                nvv = min(full_visible(cfg.num_video_patches), idx_v.shape[1])
            out = model(audio, video, idx_a, idx_v, generator=gen, num_visible_a=nva, num_visible_v=nvv)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()

        stats = [measure_step(step, model.parameters(), opt, device=dev) for _ in range(repeats + 1)][1:]
        last = stats[-1]
        results[var.name] = {"time_s": statistics.median(s["time_s"] for s in stats),
                             "saved_mb": last["saved_bytes"] / 2**20, "param_mb": last["param_bytes"] / 2**20,
                             "optimizer_mb": last["optimizer_bytes"] / 2**20}
        if "cuda_peak_bytes" in last:
            results[var.name]["cuda_peak_mb"] = last["cuda_peak_bytes"] / 2**20
    return results


def format_table(results: dict[str, dict[str, float]], baseline: str = "full") -> str:
    """Rows = metrics, columns = variants, then each variant's ratio to ``baseline``."""
    names = list(results)
    metrics = list(results[baseline])
    others = [n for n in names if n != baseline]
    header = ["metric"] + names + [f"{n} / {baseline}" for n in others]
    rows = [header]
    for m in metrics:
        rows.append([m] + [f"{results[n][m]:.4g}" for n in names]
                    + [f"{results[n][m] / results[baseline][m]:.3f}" if results[baseline][m] else "-" for n in others])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--rho", type=float, default=0.5, help="rho_a = rho_v of the random column")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("overrides", nargs="*", help="section.key=value")
    args = ap.parse_args(argv)
    cfg = load_config(args.preset, args.overrides)
    if cfg.run.num_threads:
        torch.set_num_threads(cfg.run.num_threads)
    variants = [full_variant(), random_variant(cfg, args.rho, args.rho), stella_variant(cfg, args.device)]
    if args.device == "cuda":
        variants.append(stella_variant(cfg, args.device, bf16=True))
    res = bench_backbone(cfg, variants, args.device, args.repeats, args.batch_size)
    B = args.batch_size or cfg.continual.batch_size
    print(f"backbone {cfg.model.size}, batch {B}, M={cfg.num_audio_patches}, N={cfg.num_video_patches}, "
          f"mask_of={cfg.selection.mask_of}, device={args.device}")
    print(format_table(res))


if __name__ == "__main__":
    main()
