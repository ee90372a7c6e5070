"""The token-budget table: what each continual method trains on per clip at a config.

``python -m stella.continual.budget --preset cpu --set selection.rho_v=0.75 ...`` prints, per method, the
audio / video patches kept, visible to the encoder and masked (:func:`stella.selection.budget.visible_tokens`
with the method's selection strategy); ``continual.visible_budget`` applies to the full-clip methods only.
It lives beside the method registry it reads (the selection layer never imports the methods).
"""
from __future__ import annotations

import argparse

from stella.config import Config, load_config
from stella.continual.methods import METHODS
from stella.selection.budget import visible_tokens


def budget_rows(cfg: Config, methods: list[str]) -> list[dict]:
    """One row per method: its name, strategy and :func:`visible_tokens` at ``cfg`` (the method's class gives
    the strategy; ``continual.visible_budget`` is applied to the full-clip methods only)."""

    rows = []
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"budget_rows: unknown method {m!r} (known: {', '.join(METHODS)})")
        strategy = METHODS[m].strategy
        c = cfg if METHODS[m].masks_full_clips or strategy != "none" else cfg.with_overrides(["continual.visible_budget=own"])
        rows.append({"method": m, "strategy": strategy, **visible_tokens(c, strategy)})
    return rows


def format_budget(rows: list[dict]) -> str:
    """The rows of :func:`budget_rows` as a plain-text table: method, kept / visible / masked audio and video."""
    head = f"{'method':<12} {'strategy':<11} {'kept a/v':>9} {'visible a/v':>12} {'masked a/v':>11}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['method']:<12} {r['strategy']:<11} {r['kept_a']:>4}/{r['kept_v']:<4} "
                     f"{r['visible_a']:>7}/{r['visible_v']:<4} {r['masked_a']:>6}/{r['masked_v']:<4}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m stella.continual.budget --preset cpu --set selection.rho_v=0.75 ...``: prints the table."""

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--methods", default="derpp,er,random,stella,rca,oracle")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    cfg = load_config(args.preset, args.set)
    print(f"preset {args.preset}: M = {cfg.num_audio_patches} audio, N = {cfg.num_video_patches} video patches per clip"
          + (f"; {' '.join(args.set)}" if args.set else ""))
    print(format_budget(budget_rows(cfg, [m.strip() for m in args.methods.split(",") if m.strip()])))


if __name__ == "__main__":
    main()


__all__ = ["visible_tokens", "budget_rows", "format_budget"]
