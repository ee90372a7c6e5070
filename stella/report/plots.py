"""Drawings of clips, patches and selections (chapters 00 and 01): thin matplotlib routines.

Titles and legends are 9 pt or more: in the book's 676 px column that reads 9 px or more for a figure up to
9.4 inches wide (``pt * 676 / (72 * width)``; :func:`stella.builder.checks.figure_text` measures it).

Video patches are frame-major over ``video_grid = (T, H/p, W/p)``, audio patches time-major over
``audio_grid = (t/p, f/p)`` (docs/CONTRACTS.md). Figures of results live in
:mod:`stella.report.figures`.
"""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display
from matplotlib.patches import Rectangle

from stella.eval.attention import denormalize_video
from stella.eval.signal import sounding_mask
from stella.report.display import caption
from stella.report.patches import audio_patch_grid, chunk_status, video_patch_pixels


def _frames(video: torch.Tensor) -> np.ndarray:
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
        ax.set_title(title, fontsize=10)
    return ax


def plot_clip(item: dict, axes: Sequence[Any], title: str | None = None):
    """Frames with the ground-truth mask contour (titled "sounds" where the frame's audio segment
    sounds), then the spectrogram with events shaded."""
    frames = _frames(item["video"])
    mask = item.get("mask")
    sounds = None
    if mask is not None and item.get("active") is not None:
        sounds = sounding_mask(torch.as_tensor(mask)[None], torch.as_tensor(item["active"])[None])[0].flatten(1).any(1)
    for t, ax in enumerate(axes[:-1]):
        ax.imshow(frames[t])
        if mask is not None and torch.as_tensor(mask)[t].any():
            ax.contour(torch.as_tensor(mask)[t].float().numpy(), levels=[0.5], colors="white", linewidths=1)
        ax.set_axis_off()
        name = f"frame {t}" + (": sounds" if sounds is not None and sounds[t] else "")
        ax.set_title(name if title is None or t else f"{title}\n{name}", fontsize=9)
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
        ax.set_title(title, fontsize=10)
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
        ax.set_title(f"frame {t}: {int(keep[t].sum() // (patch * patch))} kept", fontsize=9)
    return axes


def plot_audio_chunks(audio: torch.Tensor, idx: torch.Tensor, audio_grid: Sequence[int], chunk_size: int,
                      patch: int, ax, title: str | None = None, excluded: torch.Tensor | None = None,
                      chunk_order: torch.Tensor | None = None):
    """Algorithm 1 on the spectrogram: chunk boundaries (dashed), kept patches outlined in green,
    patches excluded by F crossed in red, chunks that were not chosen hatched grey, the chunk whose
    tail was pruned outlined in orange. Returns :func:`chunk_status`."""
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


def plot_task_clips(bench, clips_per_task: int = 1, prefix: str = ""):
    """``clips_per_task`` evaluation clips of every task, one figure each (:func:`plot_clip`)."""
    T = bench.tasks[0].eval[0]["video"].shape[0]
    for task in bench.tasks:
        for j in range(min(clips_per_task, len(task.eval))):
            item = task.eval[j]
            fig, ax = plt.subplots(1, T + 1, figsize=(min(2.2 * T + 5, 9.0), 2.4),      # 9 in: 9 pt reads 9.4 px
                                   gridspec_kw={"width_ratios": [1] * T + [2.5]})
            plot_clip(item, ax)
            fig.suptitle(f"{prefix}task {task.index + 1} ({task.name}), class {item['label']}: "
                         f"{bench.class_names[item['label']]}", fontsize=10)
            fig.tight_layout()


def first_clip_of_each_class(bench) -> dict[int, tuple]:
    """class label -> (task, index in its eval split) of the class's first evaluation clip."""
    out: dict[int, tuple] = {}
    for task in bench.tasks:
        for i, lab in enumerate(task.eval.labels):
            out.setdefault(lab, (task, i))
    return out


def plot_overwriting_pairs(bench, pairs):
    """For each overwriting pair (:func:`stella.report.chapters.benchmark.overwriting_frame`), the first
    frame and spectrogram of the earlier and of the later class (Fig. 3); then the figures' caption."""
    where = first_clip_of_each_class(bench)
    for r in pairs.to_dict("records"):
        fig, ax = plt.subplots(2, 2, figsize=(7, 4.4), gridspec_kw={"width_ratios": [1, 2.5]})
        for row, key in enumerate(("earlier class", "later class")):
            task, i = where[r[key]]
            item = task.eval[i]
            plot_clip({**item, "video": item["video"][:1], "mask": item["mask"][:1]}, ax[row])
            ax[row, 0].set_title(f"{key} {r[key]} (task {task.index + 1})", fontsize=9)
        fig.suptitle("same visual object, different sound", fontsize=10)
        fig.tight_layout()
        plt.show()
    _caption("Each overwriting pair: the first frame and the spectrogram of the earlier class (top) and of the later "
             "class that reuses its visual object with a new sound (bottom); one evaluation clip each.")


def plot_sparsity(sp) -> None:
    """Bars per task: the share of video patches on the object and of audio time tokens with the event
    (:func:`stella.report.chapters.benchmark.sparsity_frame`, in %), legend beside the axes; shown once, with
    its caption."""
    fig, ax = plt.subplots(figsize=(7, 2.8))
    x = np.arange(len(sp))
    for k, (col, name) in enumerate((("video_patches", "video patches on the sounding object"),
                                     ("audio_chunks", "audio time tokens with its sound"))):
        ax.bar(x + (k - 0.5) * 0.38, 100 * sp[col].to_numpy(), 0.38, label=name)
    ax.set_xticks(x, [f"task {t}" for t in sp["task"]])
    ax.set_ylabel("share of the clip (%)")
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    plt.show()
    _caption("The share of the video patches that touch the sounding object and of the audio time tokens that carry "
             "its sound, per task, over its evaluation clips: a measurement of the generated data (no seed, no interval).")


def _caption(text: str) -> None:
    """Show a figure's caption right under it (:func:`stella.report.display.caption`)."""
    display(caption(text))
