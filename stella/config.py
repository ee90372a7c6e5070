"""Every configurable value of stella-book, in one place.

A run is described by a frozen :class:`Config` made of six sections (model, data,
selection, continual, pretrain, run). Presets live in ``stella/presets/<name>.yaml`` and only
override the defaults written here; ``load_config("cpu", overrides=["continual.lr=3e-4"])``
resolves a preset plus ``key=value`` overrides, and ``Config.with_overrides`` applies overrides
to a resolved config the same way (``model.size`` brings its row of MODEL_SIZES; keys set beside
it win); :mod:`stella.overrides` reads the preset files and the override strings. Unknown keys, values of the wrong type (``true`` for a count, ``abc`` or ``inf`` for a
number, ``0.9`` for a pair) and out-of-range values raise :class:`ConfigError` naming the
offending key.

What a method does beyond these values (its patch selection strategy, whether it trains the AVM,
whether it streams all tasks as one) is read from its class, which ``continual.method`` names, so
the stored config still determines the run.

The run key (:meth:`Config.digest`, the name of a run's directory in the run store) hashes
every value that can change a run's numbers, and the package version. It leaves out
``run.progress`` (a progress bar), ``run.checkpoint_every`` (where a run can resume; a resumed run
ends byte-identical to an uninterrupted one) and ``run.results_dir`` (where the store lives).
``run.num_threads`` stays in it: the smoke preset's losses differ from step 3 on between 1 and 2
threads (reductions split differently), so 0 (torch's default, the machine's core count) is only
reproducible on one machine. ``run.device`` stays too: cpu and cuda kernels round differently
("auto" is hashed as written, whichever device it picks).
Keys added after the book's run store was first built carry ``metadata={OMIT_AT_DEFAULT: True}``:
:meth:`Config.to_dict` (so ``config.json`` and the run key) leaves them out while they hold their
default, so every run keyed before they existed keeps its key and its directory.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from stella import __version__
from stella.overrides import ConfigError, merge, parse_overrides, read_preset

PRESET_DIR = Path(__file__).parent / "presets"
TORCH_SEED_MAX = 2**64 - 1           # torch.Generator.manual_seed takes a uint64
RUN_KEYS_NOT_HASHED = ("progress", "checkpoint_every", "results_dir")   # see the module docstring
OMIT_AT_DEFAULT = "omit_at_default"     # field metadata: left out of to_dict (and the run key) at its default


def _check(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"{key}: {msg}")


def _check_seed(seed: int, key: str, offset: int) -> None:
    """A seed of torch generators seeded with ``seed + offset`` at most: in [0, TORCH_SEED_MAX - offset]."""
    _check(seed >= 0, key, f"a seed must be an integer >= 0, got {seed}")
    _check(seed <= TORCH_SEED_MAX - offset, key, f"a seed must be at most 2**64 - {1 + offset} = {TORCH_SEED_MAX - offset} "
           f"(torch seeds generators with it plus up to {offset}, and takes at most 2**64 - 1), got {seed}")


# Architectures (appendix C / CAV-MAE). ``size`` picks one row; explicit keys override it.
MODEL_SIZES: dict[str, dict[str, Any]] = {
    "micro": dict(patch_size=8, embed_dim=32, num_heads=2, modality_depth=1, fusion_depth=1,
                  decoder_dim=32, decoder_depth=1, decoder_heads=2),
    "tiny": dict(patch_size=8, embed_dim=96, num_heads=4, modality_depth=2, fusion_depth=1,
                 decoder_dim=64, decoder_depth=1, decoder_heads=4),
    # ViT-B as in the authors' code: 10 modality-specific + 2 shared layers, decoder 512x8x16.
    "base": dict(patch_size=16, embed_dim=768, num_heads=12, modality_depth=10, fusion_depth=2,
                 decoder_dim=512, decoder_depth=8, decoder_heads=16),
}


@dataclass(frozen=True)
class ModelConfig:
    """Backbone f(.; theta) (appendix C) and AVM module h(.; Theta) (appendix D)."""

    size: str = "tiny"
    patch_size: int = 8
    embed_dim: int = 96
    num_heads: int = 4
    modality_depth: int = 2
    fusion_depth: int = 1
    mlp_ratio: float = 4.0
    decoder_dim: int = 64
    decoder_depth: int = 1
    decoder_heads: int = 4
    pos_embed: str = "learned"        # "learned" (initialised 2-D sin-cos per frame, the authors'), "learned_time"
                                      # (the same plus a sin-cos of the frame index) or "sincos" (fixed, with it)
    mask_ratio: float = 0.8           # Eq. 8, ratio of masked patches
    norm_pix_loss: bool = True        # per-patch normalised reconstruction targets
    tau: float = 0.05                 # Eq. 9 temperature
    contrast_weight: float = 0.1      # lambda in L = l^r + lambda l^c

    def __post_init__(self) -> None:
        _check(self.size in MODEL_SIZES, "model.size", f"must be one of {sorted(MODEL_SIZES)}, got {self.size!r}")
        for k in ("patch_size", "embed_dim", "num_heads", "modality_depth", "fusion_depth",
                  "decoder_dim", "decoder_depth", "decoder_heads"):
            _check(getattr(self, k) >= 1, f"model.{k}", f"must be >= 1, got {getattr(self, k)}")
        _check(self.embed_dim % self.num_heads == 0, "model.embed_dim",
               f"{self.embed_dim} is not divisible by model.num_heads={self.num_heads}")
        _check(self.decoder_dim % self.decoder_heads == 0, "model.decoder_dim",
               f"{self.decoder_dim} is not divisible by model.decoder_heads={self.decoder_heads}")
        _check(self.pos_embed in ("learned", "learned_time", "sincos"), "model.pos_embed",
               f"must be 'learned', 'learned_time' or 'sincos', got {self.pos_embed!r}")
        _check(0.0 <= self.mask_ratio < 1.0, "model.mask_ratio", f"must be in [0, 1), got {self.mask_ratio}")
        _check(self.tau > 0, "model.tau", f"must be > 0, got {self.tau}")
        _check(self.contrast_weight >= 0, "model.contrast_weight", f"must be >= 0, got {self.contrast_weight}")
        _check(self.mlp_ratio > 0, "model.mlp_ratio", f"must be > 0, got {self.mlp_ratio}")


@dataclass(frozen=True)
class DataConfig:
    """Input geometry, the benchmark and its task sequence (section 3.1, appendix B)."""

    dataset: str = "synthetic"        # "synthetic" | "tuxpaint" | "manifest"
    benchmark: str = "continual-vs"   # task split for real data: "continual-vs" | "continual-as"
    task_order: str = "default"       # "default" | "shuffled" (Table 7) | comma-separated task names
    manifest: str = ""                # CAV-MAE-style JSON manifest (dataset == "manifest")
    category_csv: str = ""            # optional label,category CSV (VGGSound stat.csv), overrides the curated split
    num_tasks: int = 4
    classes_per_task: int = 4
    train_per_class: int = 24
    eval_per_class: int = 8
    sample_rate: int = 16000
    num_frames: int = 4               # T
    image_size: int = 32              # h = w
    audio_frames: int = 64            # t, fbank frames (10 ms shift), pad/crop target length
    mel_bins: int = 32                # f
    audio_norm_mean: float | None = None   # None: the dataset's own stored statistics
    audio_norm_std: float | None = None    # (real data, paper: -5.081 / 4.485)
    num_distractors: int = 2
    noise_level: float = 0.1
    augment: bool = True              # Table 6: audio time shift + noise, video multi-scale crop
    audio_roll: str = "free"          # Table 6 time shift: "free" (CAV-MAE: whole clip, breaks A-V timing),
                                      # "aligned" (whole video-frame segments, frames roll alike) or "none"
    seed: int = 0                     # the benchmark's own seed; fixed across training seeds
    # Sparsity of the synthetic benchmark's audio-visual correlation (Fig. 2b), beside num_distractors (at most
    # 8, the neutral pool): the sounding object's radius times object_scale, and a clip sounds in 1 .. max(1,
    # floor(T * active_fraction)) of its T segments. Defaults: the benchmark as the book runs it.
    object_scale: float = field(default=1.0, metadata={OMIT_AT_DEFAULT: True})
    active_fraction: float = field(default=0.5, metadata={OMIT_AT_DEFAULT: True})
    # What the synthetic and tuxpaint clips show besides the sound's synchrony (the book's choices table; defaults:
    # the benchmark as the book first ran it). silent_object: the sounding object outside its sounding frames,
    # "dim" (a dim copy of it) or "placeholder" (a grey disk, the same for every class); distractors: "neutral"
    # (silent objects of a pool no class uses, drifting, never lit), "lit" (the same objects, each lit on its own
    # random segments exactly as the sounding object is, but silent) or "classes" (other classes' objects, drawn as
    # "lit" ones); sound_cue: what marks the sounding
    # frames, "shared" (brighter, 1.5x larger, white rim: every class alike), "class" (a rim colour and a size of its
    # own per class) or "none" (nothing but the jump at each onset); overwrite_pairs: classes of every task after
    # the first that reuse an earlier task's visual object with a new sound (None: max(1, classes_per_task // 4) on
    # the synthetic benchmark, 0 on tuxpaint).
    silent_object: str = field(default="dim", metadata={OMIT_AT_DEFAULT: True})
    distractors: str = field(default="neutral", metadata={OMIT_AT_DEFAULT: True})
    sound_cue: str = field(default="shared", metadata={OMIT_AT_DEFAULT: True})
    overwrite_pairs: int | None = field(default=None, metadata={OMIT_AT_DEFAULT: True})

    def __post_init__(self) -> None:
        _check(self.dataset in ("synthetic", "tuxpaint", "manifest"), "data.dataset",
               f"must be 'synthetic', 'tuxpaint' or 'manifest', got {self.dataset!r}")
        _check(self.benchmark in ("continual-vs", "continual-as"), "data.benchmark",
               f"must be 'continual-vs' or 'continual-as', got {self.benchmark!r}")
        for k in ("num_tasks", "classes_per_task", "train_per_class", "eval_per_class",
                  "sample_rate", "num_frames", "image_size", "audio_frames", "mel_bins"):
            _check(getattr(self, k) >= 1, f"data.{k}", f"must be >= 1, got {getattr(self, k)}")
        _check(self.seed >= 0, "data.seed", f"a seed must be an integer >= 0, got {self.seed}")
        _check(self.num_distractors >= 0, "data.num_distractors", f"must be >= 0, got {self.num_distractors}")
        _check(self.noise_level >= 0, "data.noise_level", f"must be >= 0, got {self.noise_level}")
        _check(0.0 < self.object_scale <= 2.0, "data.object_scale", f"must be in (0, 2], got {self.object_scale}")
        _check(0.0 < self.active_fraction <= 1.0, "data.active_fraction",
               f"must be in (0, 1], got {self.active_fraction}")
        _check(self.silent_object in ("dim", "placeholder"), "data.silent_object",
               f"must be 'dim' or 'placeholder', got {self.silent_object!r}")
        _check(self.distractors in ("neutral", "lit", "classes"), "data.distractors",
               f"must be 'neutral', 'lit' or 'classes', got {self.distractors!r}")
        _check(self.sound_cue in ("shared", "class", "none"), "data.sound_cue",
               f"must be 'shared', 'class' or 'none', got {self.sound_cue!r}")
        _check(self.overwrite_pairs is None or 0 <= self.overwrite_pairs <= self.classes_per_task,
               "data.overwrite_pairs", f"must be in [0, data.classes_per_task={self.classes_per_task}] (or null), "
               f"got {self.overwrite_pairs}")
        _check((self.audio_norm_mean is None) == (self.audio_norm_std is None), "data.audio_norm_mean",
               f"set data.audio_norm_mean and data.audio_norm_std together or neither, got mean="
               f"{self.audio_norm_mean} and std={self.audio_norm_std}")
        _check(self.audio_norm_std is None or self.audio_norm_std > 0, "data.audio_norm_std",
               f"must be > 0, got {self.audio_norm_std}")
        _check(self.audio_roll in ("free", "aligned", "none"), "data.audio_roll",
               f"must be 'free', 'aligned' or 'none', got {self.audio_roll!r}")
        _check(self.audio_roll != "aligned" or self.audio_frames % self.num_frames == 0, "data.audio_roll",
               f"'aligned' needs data.audio_frames ({self.audio_frames}) divisible by data.num_frames ({self.num_frames})")
        _check(self.dataset != "manifest" or bool(self.manifest), "data.manifest",
               "must name a manifest file when data.dataset is 'manifest'")
        _check(not self.category_csv or self.category_csv.endswith(".csv"), "data.category_csv",
               f"must be a .csv file (label,category), got {self.category_csv!r}")


@dataclass(frozen=True)
class SelectionConfig:
    """STELLA's patch selection (sections 4.1-4.3, Algorithm 1) and its ablation variants.

    Which selection a run uses (STELLA's, a Table 3 ablation's, or none) is not a key here: it is
    the ``strategy`` of the method's class, so ``continual.method`` determines it and the stored
    config cannot contradict what the run did."""

    rho_a: float = 0.5                # audio sampling ratio, kappa_a = M * rho_a
    rho_v: float = 0.5                # video sampling ratio, kappa_v = N * rho_v
    beta: float = 0.4                 # Eq. 1 temperature used for selection (training uses 1)
    chunk_size: int = 2               # L_c, audio time chunk size in time tokens (Algorithm 1)
    audio_mode: str = "time"          # Fig. 9: "time" | "frequency" | "none" (no constraint)
    descending: bool = True           # Eq. 3: keep the kappa MOST important keys (the book's choices table)
    past_queries: str = "paired"      # Eq. 4: "paired" (one memory sample per current) | "mean"
    mask_of: str = "selected"         # Eq. 8 after selection: mask ratio of the "selected" X^ or the "full" length
    corr_temperature: str = "beta"    # Eq. 4 logits: "beta" 1/(beta sqrt d) (the paper's mu) | "sqrt_d" 1/sqrt d (authors)
    chunk_trim: str = "tail"          # Algorithm 1 overflowing chunk: "tail" (paper) | "neighbour" (authors: head
                                      # when the next chunk is chosen, tail when only the previous is, else random)
    empty_memory: str = "sample"      # while the memory is empty: "sample" (Eq. 5 / Algorithm 1 with C = 0)
                                      # | "topk" (authors: deterministic top-kappa of I, both modalities)

    def __post_init__(self) -> None:
        _check(0.0 < self.rho_a <= 1.0, "selection.rho_a", f"sampling ratio must be in (0, 1], got {self.rho_a}")
        _check(0.0 < self.rho_v <= 1.0, "selection.rho_v", f"sampling ratio must be in (0, 1], got {self.rho_v}")
        _check(self.beta > 0, "selection.beta", f"must be > 0, got {self.beta}")
        _check(self.chunk_size >= 1, "selection.chunk_size", f"must be >= 1, got {self.chunk_size}")
        _check(self.audio_mode in ("time", "frequency", "none"), "selection.audio_mode",
               f"must be 'time', 'frequency' or 'none', got {self.audio_mode!r}")
        _check(self.past_queries in ("paired", "mean"), "selection.past_queries",
               f"must be 'paired' or 'mean', got {self.past_queries!r}")
        _check(self.mask_of in ("selected", "full"), "selection.mask_of",
               f"must be 'selected' or 'full', got {self.mask_of!r}")
        _check(self.corr_temperature in ("beta", "sqrt_d"), "selection.corr_temperature",
               f"must be 'beta' or 'sqrt_d', got {self.corr_temperature!r}")
        _check(self.chunk_trim in ("tail", "neighbour"), "selection.chunk_trim",
               f"must be 'tail' or 'neighbour', got {self.chunk_trim!r}")
        _check(self.empty_memory in ("sample", "topk"), "selection.empty_memory",
               f"must be 'sample' or 'topk', got {self.empty_memory!r}")


@dataclass(frozen=True)
class ContinualConfig:
    """Task-free continual pre-training (section 5.1) and the methods' hyperparameters (Table 5, 6)."""

    method: str = "stella"
    memory_size: int = 64             # rehearsal memory instances (paper: 2K VS, 5K AS)
    batch_size: int = 16
    replay_batch_size: int = 0        # 0: same as batch_size
    batch_multiplier: float = 1.0     # STELLA++ spends the memory saving on a 1.66x batch
    epochs_per_task: int = 1
    lr: float = 1e-4
    betas: tuple[float, float] = (0.95, 0.999)
    weight_decay: float = 5e-7
    avm_lr: float = 1e-4
    der_alpha: float = 0.5            # DER++ penalty weight alpha (Table 5: 0.5 VS, 1.0 AS)
    stella_alpha: float = 0.5         # STELLA(+/++) and Table 3 selection ablations' alpha (0.5 VS and AS)
    mir_candidates: int = 5           # MIR: C x replay batch candidates
    gmed_alpha: float = 0.1
    gmed_beta: float = 0.05
    gmed_gamma: float = 1.0
    clser_lambda: float = 0.1
    clser_alpha_s: float = 0.999
    clser_alpha_p: float = 0.999
    clser_r_s: float = 0.6
    clser_r_p: float = 0.8
    lump_lambda: float = 0.1
    esmer_alpha_l: float = 0.99
    esmer_beta: float = 1.0
    esmer_gamma: float = 0.15
    esmer_alpha: float = 0.999
    esmer_r: float = 0.2
    ema_eval: str = "working"         # CLS-ER / ESMER: evaluate the "working" model (authors' code) or the "ema"
    # Visible tokens of the baselines that train on full clips: "own" (mask model.mask_ratio of every patch) or
    # "stella" (masked down to the count STELLA sees at this config, stella.selection.budget: the reverse control)
    visible_budget: str = field(default="own", metadata={OMIT_AT_DEFAULT: True})
    # torch's fused Adam kernel: ~2.5x faster optimiser step on a CPU, rounds differently (off: the stored runs' numbers)
    fused_adam: bool = field(default=False, metadata={OMIT_AT_DEFAULT: True})

    def __post_init__(self) -> None:
        _check(self.memory_size >= 0, "continual.memory_size", f"must be >= 0, got {self.memory_size}")
        _check(self.batch_size >= 2, "continual.batch_size", f"must be >= 2 (contrastive loss), got {self.batch_size}")
        _check(self.replay_batch_size >= 0, "continual.replay_batch_size", f"must be >= 0, got {self.replay_batch_size}")
        _check(self.batch_multiplier >= 1.0, "continual.batch_multiplier", f"must be >= 1, got {self.batch_multiplier}")
        _check(self.epochs_per_task >= 1, "continual.epochs_per_task", f"must be >= 1, got {self.epochs_per_task}")
        for k in ("lr", "avm_lr"):
            _check(getattr(self, k) > 0, f"continual.{k}", f"a learning rate must be > 0, got {getattr(self, k)}")
        for f in fields(self):   # every weight, rate and ratio of the methods is non-negative
            v = getattr(self, f.name)
            _check(not isinstance(v, float) or v >= 0, f"continual.{f.name}", f"must be >= 0, got {v}")
        _check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "continual.betas",
               f"must be two numbers in [0, 1), got {self.betas}")
        _check(self.weight_decay >= 0, "continual.weight_decay", f"must be >= 0, got {self.weight_decay}")
        for k in ("clser_alpha_s", "clser_alpha_p", "clser_r_s", "clser_r_p", "esmer_alpha_l", "esmer_alpha", "esmer_r"):
            _check(0.0 <= getattr(self, k) <= 1.0, f"continual.{k}", f"must be in [0, 1], got {getattr(self, k)}")
        for k in ("der_alpha", "stella_alpha"):
            _check(getattr(self, k) >= 0.0, f"continual.{k}", f"must be >= 0, got {getattr(self, k)}")
        _check(self.visible_budget in ("own", "stella"), "continual.visible_budget",
               f"must be 'own' or 'stella', got {self.visible_budget!r}")
        _check(self.ema_eval in ("working", "ema"), "continual.ema_eval",
               f"must be 'working' or 'ema', got {self.ema_eval!r}")
        _check(self.mir_candidates >= 1, "continual.mir_candidates", f"must be >= 1, got {self.mir_candidates}")
        _check(0.0 <= self.lump_lambda, "continual.lump_lambda", f"must be >= 0, got {self.lump_lambda}")


@dataclass(frozen=True)
class PretrainConfig:
    """The pre-training stage every continual run starts from (section 5.1, appendix B and D).

    source "none": from the random initialisation; "synthetic": ``classes`` x ``clips_per_class``
    synthetic clips of classes reserved for it (disjoint from the continual and unseen classes of the
    synthetic benchmark; with tuxpaint or manifest data they are simply another domain),
    ``steps`` joint steps (backbone objective + AVM matching on detached tokens), then ``avm_steps``
    AVM-only steps with the backbone frozen; computed once per preset with its own ``seed`` and cached
    in the run store; "checkpoint": load ``checkpoint`` (a stella checkpoint file, e.g. weights you
    pre-trained on AudioSet-20K + unused VGGSound as the paper does); "manifest": pre-train as
    "synthetic" does on the clips of ``manifest`` whose labels are outside the continual benchmark;
    "tuxpaint" (with ``data.dataset: tuxpaint``): as "synthetic" does on ``classes`` stamps that no continual
    task uses (:func:`stella.data.tuxpaint.reserved_stamps`).
    """

    source: str = "none"              # "none" | "synthetic" | "checkpoint" | "manifest" | "tuxpaint"
    checkpoint: str = ""              # source "checkpoint": {"model": ..., "avm": ...} file (see models.load_checkpoint)
    manifest: str = ""                # source "manifest": CAV-MAE-style manifest of the pre-training clips
    classes: int = 32                 # source "synthetic": reserved classes
    clips_per_class: int = 24
    steps: int = 2000                 # backbone steps (with the AVM alongside when joint_avm)
    joint_avm: bool = True            # train the AVM along with the backbone (appendix D) during ``steps``
    avm_steps: int = 0                # then AVM-only steps, backbone frozen (appendix D allows it)
    batch_size: int = 16
    lr: float = 1e-3
    avm_lr: float = 1e-3
    seed: int = 0                     # fixed: all training seeds share one pre-trained start (a released checkpoint)
    num_threads: int = 0              # torch threads while computing the stage (in its key); 0: run.num_threads

    def __post_init__(self) -> None:
        _check(self.source in ("none", "synthetic", "checkpoint", "manifest", "tuxpaint"), "pretrain.source",
               f"must be 'none', 'synthetic', 'checkpoint', 'manifest' or 'tuxpaint', got {self.source!r}")
        _check(self.source != "checkpoint" or bool(self.checkpoint), "pretrain.checkpoint",
               "must name a checkpoint file when pretrain.source is 'checkpoint'")
        _check(self.source != "manifest" or bool(self.manifest), "pretrain.manifest",
               "must name a manifest file when pretrain.source is 'manifest'")
        for k in ("classes", "clips_per_class"):
            _check(getattr(self, k) >= 1, f"pretrain.{k}", f"must be >= 1, got {getattr(self, k)}")
        _check(self.steps >= 0 and self.avm_steps >= 0, "pretrain.steps",
               f"steps and avm_steps must be >= 0, got {self.steps}, {self.avm_steps}")
        _check(self.batch_size >= 2, "pretrain.batch_size", f"must be >= 2 (contrastive loss), got {self.batch_size}")
        _check(self.lr > 0 and self.avm_lr > 0, "pretrain.lr", f"learning rates must be > 0, got {self.lr}, {self.avm_lr}")
        _check(self.num_threads >= 0, "pretrain.num_threads", f"must be >= 0, got {self.num_threads}")
        _check_seed(self.seed, "pretrain.seed", 2)         # stella.continual.pretrain: seed + 1, seed + 2


@dataclass(frozen=True)
class RunConfig:
    """Seed, device, checkpointing and where results go."""

    seed: int = 2021
    device: str = "auto"              # "auto" | "cpu" | "cuda"
    checkpoint_every: int = 50        # steps between mid-task checkpoints (plus one after every task)
    results_dir: str = "results"
    num_threads: int = 0              # torch intra-op threads; 0 leaves torch's default
    progress: bool = True             # tqdm bars per task

    def __post_init__(self) -> None:
        _check_seed(self.seed, "run.seed", 3)              # stella.continual.trainer: seed + 1 .. seed + 3
        _check(self.device in ("auto", "cpu", "cuda"), "run.device", f"must be auto/cpu/cuda, got {self.device!r}")
        _check(self.checkpoint_every >= 1, "run.checkpoint_every", f"must be >= 1, got {self.checkpoint_every}")
        _check(self.num_threads >= 0, "run.num_threads", f"must be >= 0, got {self.num_threads}")
        _check(bool(self.results_dir.strip()), "run.results_dir", "an empty path; name the run store's directory")


SECTIONS = {"model": ModelConfig, "data": DataConfig, "selection": SelectionConfig,
            "continual": ContinualConfig, "pretrain": PretrainConfig, "run": RunConfig}


@dataclass(frozen=True)
class Config:
    preset: str = "cpu"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    continual: ContinualConfig = field(default_factory=ContinualConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        p = self.model.patch_size
        _check(self.data.image_size % p == 0, "data.image_size",
               f"{self.data.image_size} is not divisible by model.patch_size={p}")
        _check(self.data.audio_frames % p == 0, "data.audio_frames",
               f"{self.data.audio_frames} is not divisible by model.patch_size={p}")
        _check(self.data.mel_bins % p == 0, "data.mel_bins", f"{self.data.mel_bins} is not divisible by model.patch_size={p}")
        _check(self.pretrain.source != "tuxpaint" or self.data.dataset == "tuxpaint", "pretrain.source",
               f"'tuxpaint' pre-trains on the stamps the tuxpaint tasks leave free: it needs data.dataset 'tuxpaint', "
               f"got {self.data.dataset!r}")

    # Patch-grid geometry (section 3.1): M = floor(t/p) floor(f/p), N = T floor(h/p) floor(w/p).
    @property
    def audio_grid(self) -> tuple[int, int]:
        """(time tokens, frequency tokens) of the audio patch grid; audio patches are time-major."""
        return self.data.audio_frames // self.model.patch_size, self.data.mel_bins // self.model.patch_size

    @property
    def video_grid(self) -> tuple[int, int, int]:
        """(T, h/p, w/p) of the video patch grid; video patches are frame-major."""
        g = self.data.image_size // self.model.patch_size
        return self.data.num_frames, g, g

    @property
    def num_audio_patches(self) -> int:
        t, f = self.audio_grid
        return t * f

    @property
    def num_video_patches(self) -> int:
        T, h, w = self.video_grid
        return T * h * w

    def to_dict(self) -> dict[str, Any]:
        """Every value, less the ``OMIT_AT_DEFAULT`` keys that hold their default (module docstring)."""
        d = dataclasses.asdict(self)
        d["continual"]["betas"] = list(d["continual"]["betas"])
        for name, cls in SECTIONS.items():
            for f in fields(cls):
                if f.metadata.get(OMIT_AT_DEFAULT) and d[name][f.name] == f.default:
                    del d[name][f.name]
        return d

    def with_overrides(self, overrides: Mapping[str, Any] | list[str]) -> "Config":
        """This config plus ``section.key=value`` overrides, resolved as :func:`load_config` resolves them."""
        return _apply_overrides(self.to_dict(), overrides)

    def key_dict(self) -> dict[str, Any]:
        """What the run key hashes: :meth:`to_dict` without ``RUN_KEYS_NOT_HASHED`` (module docstring)."""
        return hashed_part(self.to_dict())

    def digest(self, version: str | None = None) -> str:
        """Run key: a hash of the resolved config (less the run.* keys that cannot change results) and the
        package version."""
        payload = json.dumps({"config": self.key_dict(), "version": version or __version__}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def hashed_part(d: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a config dict (:meth:`Config.to_dict`, or a stored ``config.json``'s) that the run key
    hashes: without ``RUN_KEYS_NOT_HASHED`` (an ``OMIT_AT_DEFAULT`` key at its default is already absent)."""
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in d.items()}
    if isinstance(out.get("run"), dict):
        for k in RUN_KEYS_NOT_HASHED:
            out["run"].pop(k, None)
    return out


def _apply_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any] | list[str] | None) -> Config:
    """``base`` (a preset's YAML or a resolved config's dict) plus overrides -> Config.

    An override of ``model.size`` replaces the base's architecture keys by that size's row of
    MODEL_SIZES; keys that the overrides name themselves win over the row. So a preset plus
    ``model.size=base`` resolves the same whether it goes through ``load_config`` or through
    ``Config.with_overrides`` on the loaded preset."""
    upd = parse_overrides(overrides, SECTIONS)
    size = upd.get("model", {}).get("size")
    if size in MODEL_SIZES:
        model = {k: v for k, v in (base.get("model") or {}).items() if k not in MODEL_SIZES[size]}
        base = {**base, "model": model}
    cfg = from_dict(merge(base, upd))
    _check_read(cfg, upd)
    return cfg


def _check_read(cfg: Config, upd: Mapping[str, Mapping[str, Any]]) -> None:
    """An override naming a file that ``cfg`` then never reads is an error, not ignored silently."""
    d, p = cfg.data, cfg.pretrain
    rules = {("data", "manifest"): (d.dataset == "manifest", f"data.dataset is {d.dataset!r}", "data.dataset=manifest"),
             ("data", "category_csv"): (d.dataset == "manifest" or p.source == "manifest",
                                        f"data.dataset is {d.dataset!r} and pretrain.source {p.source!r}",
                                        "data.dataset=manifest or pretrain.source=manifest"),
             ("pretrain", "manifest"): (p.source == "manifest", f"pretrain.source is {p.source!r}", "pretrain.source=manifest"),
             ("pretrain", "checkpoint"): (p.source == "checkpoint", f"pretrain.source is {p.source!r}",
                                          "pretrain.source=checkpoint")}
    for (sec, key), (read, why, fix) in rules.items():
        value = (upd.get(sec) or {}).get(key) if isinstance(upd.get(sec), Mapping) else None
        if value and not read:
            raise ConfigError(f"{sec}.{key}: set to {value!r}, but {why}, so it would never be read; "
                              f"set {fix} to use it")


def _number(key: str, v: Any) -> float:
    """A finite float from an int or float (never a bool, a string or a list)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{key}: expected a number, got {str(v).lower() if isinstance(v, bool) else repr(v)}")
    _check(math.isfinite(v), key, f"must be a finite number, got {v!r}")
    return float(v)


def _typed(key: str, hint: Any, v: Any) -> Any:
    """``v`` as the field's annotated type: bool, int, float, str, ``float | None`` or ``tuple[float, float]``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if v is None else _typed(key, args[0], v)
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if not isinstance(v, (list, tuple)) or len(v) != len(args):
            raise ConfigError(f"{key}: expected a list of {len(args)} numbers, got {v!r}")
        return tuple(_number(key, x) for x in v)
    if hint is bool:
        if not isinstance(v, bool):
            raise ConfigError(f"{key}: must be true or false, got {v!r}")
        return v
    if hint is int:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{key}: expected an integer, got {str(v).lower() if isinstance(v, bool) else repr(v)}")
        return v
    if hint is float:
        return _number(key, v)
    if not isinstance(v, hint):
        raise ConfigError(f"{key}: expected {hint.__name__}, got {v!r}")
    return v


def _build_section(name: str, cls: type, values: Mapping[str, Any]) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{name}: must be a mapping of keys to values, got {type(values).__name__}")
    known = {f.name: f for f in fields(cls)}
    for k in values:
        if k not in known:
            raise ConfigError(f"{name}.{k}: unknown key (known: {', '.join(known)})")
    values = dict(values)
    if cls is ModelConfig and "size" in values:
        _check(isinstance(values["size"], str) and values["size"] in MODEL_SIZES, "model.size",
               f"must be one of {sorted(MODEL_SIZES)}, got {values['size']!r}")
        values = {**MODEL_SIZES[values["size"]], **values}
    hints = typing.get_type_hints(cls)
    return cls(**{k: _typed(f"{name}.{k}", hints[k], v) for k, v in values.items()})


def from_dict(d: Mapping[str, Any]) -> Config:
    for k in d:
        if k not in SECTIONS and k != "preset":
            raise ConfigError(f"{k}: unknown section (known: preset, {', '.join(SECTIONS)})")
    preset = d.get("preset", "custom")
    _check(isinstance(preset, str) and bool(preset.strip()), "preset", f"must be a preset's name, got {preset!r}")
    secs = {name: _build_section(name, cls, d.get(name, {}) or {}) for name, cls in SECTIONS.items()}
    return Config(preset=preset, **secs)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(preset: str | Path) -> Path:
    """The YAML file of a preset name (``stella/presets/<name>.yaml``) or of a path, with or without ``.yaml``."""
    path = Path(preset)
    if not path.suffix and str(preset) in preset_names():
        return PRESET_DIR / f"{preset}.yaml"
    if not path.suffix and not path.exists():
        raise ConfigError(f"preset: unknown preset {str(preset)!r} (known: {', '.join(preset_names())}; or the path "
                          "of a preset file)")
    return path


def load_config(preset: str | Path = "cpu", overrides: Mapping[str, Any] | list[str] | None = None) -> Config:
    """Resolve a preset name (or the path of a YAML file, with or without ``.yaml``) plus ``section.key=value``
    overrides into a Config. A preset's ``book`` section says how the book runs at it
    (:mod:`stella.report.chapter`); it is not part of a run's config."""
    raw = read_preset(preset_path(preset))
    raw.pop("book", None)
    return _apply_overrides(raw, overrides)


__all__ = ["Config", "ConfigError", "ModelConfig", "DataConfig", "SelectionConfig", "ContinualConfig",
           "PretrainConfig", "RunConfig", "MODEL_SIZES", "load_config", "from_dict", "preset_names", "preset_path", "replace"]
