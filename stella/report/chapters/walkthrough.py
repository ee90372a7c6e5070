"""Chapter 00, the method walkthrough: the set-up, tables and drawings around the step-by-step calls of
:mod:`stella.selection`.

The chapter itself calls the selection functions equation by equation (that is its content);
this module loads the model and the two batches, and draws each step's result.
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
import torch
from torch.utils.data import DataLoader

from stella import selection as S
from stella.data import build_benchmark
from stella.eval import plot_attention
from stella.models import build_model
from stella.report.chapter import ParameterError, Traits, chapter
from stella.report.figure_text import MAX_WIDTH
from stella.report.patches import audio_patch_grid
from stella.report.plots import plot_audio_chunks, plot_audio_scores, plot_selected_video, plot_spectrogram
from stella.report.runs import get_run, load_trained, quiet, run_config

CHAPTER = "00_method_walkthrough"


def defaults(preset: str, p: dict, book: Traits) -> tuple[list[int], list[str]]:
    return [], ["stella"]


RECORD = chapter(CHAPTER, defaults, runs=lambda nb: [("stella", None, ())])      # the model the steps run on


@dataclass
class Walkthrough:
    """The model, the current batch (last task's first eval clips), the memory stand-in (first task's)
    and the geometry: patch size p, chunk size L_c, beta, M audio / N video patches, budgets kappa."""

    cfg: object
    model: torch.nn.Module
    avm: torch.nn.Module
    batch: dict
    memory: dict
    trained: bool
    device: str

    @property
    def M(self) -> int:
        return self.cfg.num_audio_patches

    @property
    def N(self) -> int:
        return self.cfg.num_video_patches

    @property
    def kappa(self) -> tuple[int, int]:
        return S.budgets(self.cfg, self.M, self.N)

    @property
    def B(self) -> int:
        return self.batch["audio"].shape[0]

    def forward(self, batch: dict):
        """The AVM's output (Eq. 1) on ``batch``: queries, keys and attention of both modalities."""
        with torch.no_grad():
            return self.avm(*self.model.fusion_tokens(batch["audio"].to(self.device), batch["video"].to(self.device)),
                            self.cfg.selection.beta)


def setup(nb) -> Walkthrough:
    """STELLA's model after the last task (``nb.options["trained"]``; trained if missing) or fresh weights, and
    batches of 4 clips from the last and the first task's evaluation splits; ParameterError when
    ``nb.options["clip"]`` is not a clip of the batch."""
    cfg = run_config(nb.preset, "stella")
    bench = build_benchmark(cfg)
    if nb.options["trained"]:
        with quiet():
            rd = get_run(nb.preset, "stella", overrides=nb.train_overrides, results_dir=nb.results_dir)
        model, avm = load_trained(rd, device=nb.device)
    else:
        model, avm = (m.to(nb.device).eval() for m in build_model(cfg))
    batch = next(iter(DataLoader(bench.tasks[-1].eval, batch_size=4, shuffle=False)))
    memory = next(iter(DataLoader(bench.tasks[0].eval, batch_size=4, shuffle=False)))
    size, clip = len(batch["audio"]), nb.options.get("clip", 0)
    if not 0 <= clip < size:
        raise ParameterError(f"notebook parameter clip: the batch holds {size} clips, so clip is 0 to {size - 1}, "
                             f"got {clip!r}")
    return Walkthrough(cfg, model, avm, batch, memory, nb.options["trained"], nb.device)


def geometry_table(wt: Walkthrough) -> pd.DataFrame:
    cfg = wt.cfg
    return pd.DataFrame([{"model": "trained STELLA (last task)" if wt.trained else "fresh",
                          "audio grid (t/p, f/p)": str(cfg.audio_grid), "video grid (T, H/p, W/p)": str(cfg.video_grid),
                          "M": wt.M, "N": wt.N, "kappa_a": wt.kappa[0], "kappa_v": wt.kappa[1],
                          "beta": cfg.selection.beta, "chunk size L_c": cfg.selection.chunk_size, "batch": wt.B}])


def shapes_table(out, I_a: torch.Tensor, I_v: torch.Tensor) -> pd.DataFrame:
    """Shapes of Eq. 1's queries/keys/attention and Eq. 2's importance (rows of I sum to 1)."""
    shape = lambda t: str(tuple(t.shape))  # noqa: E731
    return pd.DataFrame({"tensor": ["q_a / k_a", "q_v / k_v", "A_a", "A_v", "I_a", "I_v"],
                         "shape": [shape(out.q_a), shape(out.q_v), shape(out.A_a), shape(out.A_v), shape(I_a),
                                   shape(I_v)],
                         "row sums (clip 0)": ["", "", "", "", f"{I_a[0].sum():.4f}", f"{I_v[0].sum():.4f}"]})


def plot_scores(wt: Walkthrough, clip: int, video_scores: torch.Tensor, audio_scores: torch.Tensor, video_title: str,
                audio_title: str, spectrogram: bool = False) -> None:
    """A per-video-patch score over the frames (white: ground truth) and a per-audio-patch score on
    the (t/p) x (f/p) grid, optionally beside the input spectrogram."""
    b = wt.batch
    truth = b["mask"][clip] if "mask" in b else None        # real clips (a manifest) carry no ground truth
    plot_attention(b["video"][clip], video_scores[clip].reshape(wt.cfg.video_grid).cpu(), truth, title=video_title)
    fig, ax = plt.subplots(1, 2 if spectrogram else 1, figsize=(MAX_WIDTH if spectrogram else 5, 3), squeeze=False)
    if spectrogram:
        plot_spectrogram(b["audio"][clip], ax[0, 0], b["active"][clip] if "active" in b else None,
                         "input fbank (cyan: event frames)" if "active" in b else "input fbank")
    plot_audio_scores(audio_scores[clip].cpu(), wt.cfg.audio_grid, ax[0, -1], audio_title)
    fig.tight_layout()
    plt.show()


def plot_kept_keys(wt: Walkthrough, clip: int, keep_a: torch.Tensor, keep_v: torch.Tensor) -> None:
    """Eq. 3: the kept video keys (bright) per frame and the kept audio keys on the grid."""
    T = wt.cfg.video_grid[0]
    fig, ax = plt.subplots(1, T + 1, figsize=(min(2.4 * T + 4, MAX_WIDTH), 2.6), gridspec_kw={"width_ratios": [1] * T + [2]})
    plot_selected_video(wt.batch["video"][clip], keep_v[clip], wt.cfg.video_grid, wt.cfg.model.patch_size, ax[:-1])
    plot_audio_scores(audio_patch_grid(keep_a[clip], wt.cfg.audio_grid).float().flatten(), wt.cfg.audio_grid, ax[-1],
                      "Eq. 3 kept audio keys (1 = kept)", cmap="Greys")
    fig.suptitle(f"Eq. 3: the {wt.kappa[1]} kept video keys (bright) and {wt.kappa[0]} kept audio keys", fontsize=9)
    fig.tight_layout()
    plt.show()


def memory_queries(wt: Walkthrough) -> tuple[torch.Tensor, torch.Tensor]:
    """The memory batch's own pooled queries (Eq. 3 on it), standing in for the stored q̂ᵖ: (audio, video)."""
    mem = wt.forward(wt.memory)
    mI_a, mI_v = S.importance_scores(mem.A_a, mem.A_v)
    desc = wt.cfg.selection.descending
    return (S.pooled_queries(mem.q_a, mem.k_a, mI_a, wt.kappa[0], desc)[0],
            S.pooled_queries(mem.q_v, mem.k_v, mI_v, wt.kappa[1], desc)[0])


def correlation_table(C_a: torch.Tensor, C_v: torch.Tensor, keep_a: torch.Tensor, keep_v: torch.Tensor) -> pd.DataFrame:
    return pd.DataFrame({"modality": ["audio", "video"], "kept keys": [keep_a.shape[1], keep_v.shape[1]],
                         "mean C on kept keys": [float(C_a.gather(1, keep_a).mean()),
                                                 float(C_v.gather(1, keep_v).mean())],
                         "max C": [float(C_a.max()), float(C_v.max())]})


def selection_table(F_a, F_v, chunk_order, idx_a, idx_v) -> pd.DataFrame:
    """Per clip: patches excluded by F, the audio chunk order and the selected patch indices."""
    return pd.DataFrame({"clip": range(F_a.shape[0]), "excluded audio (F_a)": F_a.sum(1).tolist(),
                         "excluded video (F_v)": F_v.sum(1).tolist(),
                         "audio chunk order": [str(o) for o in chunk_order.tolist()],
                         "selected audio patches": [str(r) for r in idx_a.tolist()],
                         "selected video patches": [str(r) for r in idx_v.tolist()]})


def plot_selection(wt: Walkthrough, clip: int, idx_a, idx_v, F_a, chunk_order) -> pd.DataFrame:
    """Eq. 6 on the frames (selected video patches bright) and Algorithm 1 on the spectrogram; returns
    each time chunk's fate (:func:`stella.report.patches.chunk_status`)."""
    cfg, p, L_c = wt.cfg, wt.cfg.model.patch_size, wt.cfg.selection.chunk_size
    fig, ax = plt.subplots(1, cfg.video_grid[0], figsize=(min(2.4 * cfg.video_grid[0], MAX_WIDTH), 2.6), squeeze=False)
    plot_selected_video(wt.batch["video"][clip], idx_v[clip], cfg.video_grid, p, ax[0])
    fig.suptitle(f"Eq. 6: the {wt.kappa[1]} selected video patches (bright) of clip {clip}", fontsize=9)
    fig.tight_layout()
    fig, ax = plt.subplots(figsize=(9, 3))
    chunks = plot_audio_chunks(wt.batch["audio"][clip], idx_a[clip], cfg.audio_grid, L_c, p, ax,
                               f"Algorithm 1: chunks of {L_c} time tokens (dashed); kept patches green, excluded by F "
                               "red x, unchosen chunks hatched, pruned chunk orange", F_a[clip], chunk_order[clip])
    fig.tight_layout()
    plt.show()
    return chunks
