"""Small helpers for the book's notebooks 00, 01, 06 and 07 (tables, pure patch bookkeeping, plots).

Everything here is either a pure function of tensors / benchmark objects (tested in
``tests/test_nbtools.py``) or a thin matplotlib drawing routine, so that the notebooks stay
a sequence of short calls. Conventions follow docs/CONTRACTS.md: video patches are frame-major
over ``video_grid = (T, H/p, W/p)``, audio patches time-major over ``audio_grid = (t/p, f/p)``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

AVM_METHODS = ("stella", "stella+", "stella++", "lpis", "rca")


# --------------------------------------------------------------------------- benchmark tables
def tasks_frame(bench) -> pd.DataFrame:
    """One row per task: position, name, class ids and names, train / eval clip counts."""
    return pd.DataFrame([{"task": t.index + 1, "name": t.name, "classes": len(t.classes),
                          "class names": "; ".join(bench.class_names[c] for c in t.classes),
                          "train clips": len(t.train), "eval clips": len(t.eval)} for t in bench.tasks])


def overwriting_frame(bench) -> pd.DataFrame:
    """The "correlation overwriting" pairs (Fig. 3): a later class reusing an earlier class's object."""
    reused = bench.info.get("reused", {}) if bench.info else {}
    task_of = {c: t.index + 1 for t in bench.tasks for c in t.classes}
    classes = bench.info.get("classes") if bench.info else None
    rows = []
    for new, old in sorted(reused.items()):
        row = {"earlier class": old, "earlier task": task_of.get(old), "later class": new,
               "later task": task_of.get(new)}
        if classes is not None:
            row.update({"shared object": classes[new].obj.name, "earlier sound": classes[old].sound.name,
                        "later sound": classes[new].sound.name})
        rows.append(row)
    return pd.DataFrame(rows)


def sparsity_frame(bench, patch_size: int, max_items: int | None = None) -> pd.DataFrame:
    """:func:`stella.data.sparsity` of every task's eval split, one row per task."""
    from stella.data import sparsity

    return pd.DataFrame([{"task": t.index + 1, "name": t.name, **sparsity(t.eval, patch_size, max_items)}
                         for t in bench.tasks])


# --------------------------------------------------------------------------- patch bookkeeping
def video_patch_pixels(idx: torch.Tensor, video_grid: Sequence[int], patch: int) -> torch.Tensor:
    """Selected video patch indices (k,) of one clip -> bool (T, H, W) pixel mask of those patches."""
    T, gh, gw = video_grid
    sel = torch.zeros(T * gh * gw, dtype=torch.bool)
    sel[torch.as_tensor(idx).long()] = True
    g = sel.reshape(T, gh, gw)
    return g.repeat_interleave(patch, 1).repeat_interleave(patch, 2)


def audio_patch_grid(idx: torch.Tensor, audio_grid: Sequence[int]) -> torch.Tensor:
    """Selected audio patch indices (k,) -> bool (t/p, f/p) grid (time-major)."""
    nt, nf = audio_grid
    sel = torch.zeros(nt * nf, dtype=torch.bool)
    sel[torch.as_tensor(idx).long()] = True
    return sel.reshape(nt, nf)


def chunk_status(idx: torch.Tensor, audio_grid: Sequence[int], chunk_size: int,
                 excluded: torch.Tensor | None = None, chunk_order: torch.Tensor | None = None) -> pd.DataFrame:
    """Algorithm 1's outcome per time chunk of one clip: how many of its patches were kept.

    Rows ``chunk, first token, last token, patches, excluded (F), kept, status`` (plus ``draw
    rank`` when ``chunk_order`` (n_chunks,) is given). ``excluded`` is the clip's F (M,) bool.
    Status: "chosen" (every non-excluded patch kept), "pruned tail" (some non-excluded patches
    dropped to meet kappa_a) or "not chosen" (nothing kept).
    """
    g = audio_patch_grid(idx, audio_grid)
    nt, nf = audio_grid
    ex = torch.zeros(nt, nf, dtype=torch.bool) if excluded is None else torch.as_tensor(excluded).bool().reshape(nt, nf)
    rank = None if chunk_order is None else torch.argsort(torch.as_tensor(chunk_order)).tolist()
    rows = []
    for c, s in enumerate(range(0, nt, chunk_size)):
        e = min(s + chunk_size, nt)
        kept, total, n_ex = int(g[s:e].sum()), (e - s) * nf, int((ex[s:e] & ~g[s:e]).sum())
        status = "not chosen" if kept == 0 else ("chosen" if kept + n_ex == total else "pruned tail")
        row = {"chunk": c, "first token": s, "last token": e - 1, "patches": total, "excluded (F)": n_ex,
               "kept": kept, "status": status}
        if rank is not None:
            row["draw rank"] = rank[c]
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- modality gap
def gap_curve(g: np.ndarray) -> np.ndarray:
    """Fig. 6 left from a gap matrix g[t, i]: mean gap over the tasks seen so far (i <= t) per t."""
    g = np.asarray(g, float)
    return np.array([np.nanmean(g[t, :t + 1]) for t in range(g.shape[0])])


def gap_long(g: np.ndarray, **labels) -> pd.DataFrame:
    """Tidy rows ``after task (1-based), gap (mean over seen tasks)`` plus label columns."""
    c = gap_curve(g)
    df = pd.DataFrame({"after task": np.arange(1, len(c) + 1), "gap": c})
    for k, v in labels.items():
        df[k] = v
    return df


# --------------------------------------------------------------------------- attention / localisation
def map_kind(method: str) -> str:
    """"avm" for methods that train the AVM (STELLA and its parts), "similarity" for baselines."""
    return "avm" if method in AVM_METHODS else "similarity"


def dataset_maps(model, avm, dataset, cfg, kind: str, device: str = "cpu") -> dict[str, torch.Tensor]:
    """:func:`stella.eval.attention_maps` at frame resolution: adds ``frame_maps`` (n, T, H, W)."""
    from stella.eval import attention_maps, upsample_to_frames

    out = attention_maps(model, dataset, cfg.video_grid, kind, avm if kind == "avm" else None,
                         beta=1.0, device=device)
    out["frame_maps"] = upsample_to_frames(out["maps"], (cfg.data.image_size,) * 2)
    return out


def localization_rows(frame_maps: torch.Tensor, masks: torch.Tensor, iou_threshold: float = 0.5,
                      map_threshold: float | str = 0.5, **labels) -> pd.DataFrame:
    """One-row :func:`stella.eval.localization_summary` with label columns."""
    from stella.eval import localization_summary, per_clip_localization

    row = localization_summary(per_clip_localization(frame_maps, masks, map_threshold), iou_threshold)
    for k, v in labels.items():
        row.insert(0, k, v)
    return row


def yes_no(flag: bool) -> str:
    return "yes" if bool(flag) else "no"


# --------------------------------------------------------------------------- plots
def _frames(video: torch.Tensor) -> np.ndarray:
    from stella.eval.attention import denormalize_video

    return denormalize_video(video).numpy()


def plot_spectrogram(audio: torch.Tensor, ax, active: torch.Tensor | None = None, title: str | None = None):
    """Normalised fbank (t, f) with time on x; event frames (``active``) shaded."""
    a = torch.as_tensor(audio).float().cpu().numpy()
    ax.imshow(a.T, origin="lower", aspect="auto", cmap="magma")
    if active is not None:
        act = torch.as_tensor(active).bool().cpu().numpy()
        for t in np.flatnonzero(act):
            ax.axvspan(t - 0.5, t + 0.5, color="cyan", alpha=0.18, lw=0)
    ax.set_xlabel("fbank frame (time)")
    ax.set_ylabel("mel bin")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_clip(item: dict, axes: Sequence[Any], title: str | None = None):
    """Frames with the ground-truth mask contour, then the spectrogram with events shaded."""
    frames = _frames(item["video"])
    mask = item.get("mask")
    for t, ax in enumerate(axes[:-1]):
        ax.imshow(frames[t])
        if mask is not None and torch.as_tensor(mask)[t].any():
            ax.contour(torch.as_tensor(mask)[t].float().numpy(), levels=[0.5], colors="white", linewidths=1)
        ax.set_axis_off()
        ax.set_title(f"frame {t}" if title is None or t else f"{title}\nframe {t}", fontsize=8)
    plot_spectrogram(item["audio"], axes[-1], item.get("active"))
    return axes


def plot_audio_scores(scores: torch.Tensor, audio_grid: Sequence[int], ax, title: str | None = None,
                      cmap: str = "viridis"):
    """One value per audio patch (M,) drawn on the (t/p) x (f/p) grid, time on x."""
    nt, nf = audio_grid
    im = ax.imshow(torch.as_tensor(scores).float().reshape(nt, nf).T.cpu().numpy(), origin="lower",
                   aspect="auto", cmap=cmap)
    ax.set_xlabel("time token")
    ax.set_ylabel("frequency token")
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.colorbar(im, ax=ax, fraction=0.05)
    return ax


def plot_selected_video(video: torch.Tensor, idx: torch.Tensor, video_grid: Sequence[int], patch: int,
                        axes: Sequence[Any], dim: float = 0.15):
    """Eq. 6 drawn on the frames: selected patches at full brightness, the others dimmed."""
    frames = _frames(video)
    keep = video_patch_pixels(idx, video_grid, patch).numpy()[..., None]
    shown = frames * np.where(keep, 1.0, dim)
    for t, ax in enumerate(axes[:frames.shape[0]]):
        ax.imshow(shown[t])
        ax.set_axis_off()
        ax.set_title(f"frame {t}: {int(keep[t].sum() // (patch * patch))} kept", fontsize=8)
    return axes


def plot_audio_chunks(audio: torch.Tensor, idx: torch.Tensor, audio_grid: Sequence[int], chunk_size: int,
                      patch: int, ax, title: str | None = None, excluded: torch.Tensor | None = None,
                      chunk_order: torch.Tensor | None = None):
    """Algorithm 1 on the spectrogram: chunk boundaries (dashed), kept patches outlined in green,
    patches excluded by F crossed in red, chunks that were not chosen hatched grey, the chunk whose
    tail was pruned outlined in orange. Returns :func:`chunk_status`."""
    from matplotlib.patches import Rectangle

    plot_spectrogram(audio, ax, title=title)
    g = audio_patch_grid(idx, audio_grid).numpy()
    st = chunk_status(idx, audio_grid, chunk_size, excluded, chunk_order)
    ex = None if excluded is None else torch.as_tensor(excluded).bool().reshape(audio_grid[0], audio_grid[1]).numpy()
    nt, nf = audio_grid
    for r in st.to_dict("records"):
        x0 = r["first token"] * patch - 0.5
        w = (r["last token"] - r["first token"] + 1) * patch
        ax.axvline(x0, color="white", ls="--", lw=0.8)
        if r["status"] == "not chosen":
            ax.add_patch(Rectangle((x0, -0.5), w, nf * patch, facecolor="grey", alpha=0.55, hatch="//"))
        elif r["status"] == "pruned tail":
            ax.add_patch(Rectangle((x0, -0.5), w, nf * patch, fill=False, edgecolor="orange", lw=2.5))
    for ti in range(nt):
        for fi in range(nf):
            if g[ti, fi]:
                ax.add_patch(Rectangle((ti * patch - 0.5, fi * patch - 0.5), patch, patch, fill=False,
                                       edgecolor="lime", lw=1))
            elif ex is not None and ex[ti, fi]:
                ax.plot((ti + 0.5) * patch - 0.5, (fi + 0.5) * patch - 0.5, "x", color="red", ms=6)
    return st


__all__ = ["AVM_METHODS", "tasks_frame", "overwriting_frame", "sparsity_frame", "video_patch_pixels",
           "audio_patch_grid", "chunk_status", "gap_curve", "gap_long", "map_kind", "dataset_maps",
           "localization_rows", "yes_no", "plot_spectrogram", "plot_clip", "plot_audio_scores",
           "plot_selected_video", "plot_audio_chunks"]


class quiet:
    """Context manager silencing stdout/stderr (training progress bars) inside a notebook cell."""

    def __enter__(self):
        import contextlib
        import io

        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
        self._stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        return self

    def __exit__(self, *exc):
        self._stack.close()
        return False


__all__ += ["quiet"]
