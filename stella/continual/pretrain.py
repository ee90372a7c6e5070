"""The pre-training stage every continual run starts from (section 5.1, appendix B and D).

The paper pre-trains the backbone on 104k clips whose labels are disjoint from the continual
sequence (unused VGGSound + AudioSet-20K) "so that the model does not underperform at the initial
continual pre-training stages while the model does not acquire any task-specific knowledge", and
trains the AVM with it (the AVM may also be trained with the backbone frozen). Here
``cfg.pretrain`` says where that start comes from:

* ``"synthetic"``: ``steps`` steps on the reserved synthetic classes
  (:func:`stella.data.synthetic.build_pretrain_synthetic`): one Adam step of the backbone
  objective L = l^r + lambda l^c on masked full clips, then (``joint_avm``, the paper's "along with
  the backbone") one step of the AVM's matching loss (Eq. 11) on the unmasked fusion tokens,
  detached; then ``avm_steps`` AVM-only steps with the backbone frozen. The initial weights and
  the stream are drawn from ``pretrain.seed`` alone, so every training seed of every method starts
  from the same weights, like a released checkpoint.
* ``"manifest"``: the same loop on the clips of ``pretrain.manifest`` whose labels lie outside the
  continual benchmark (the paper's exclusion of Continual-VS labels).
* ``"checkpoint"``: a weights file (the ``{"model": state_dict, "avm": state_dict}`` layout of ``stella.models.load_checkpoint``), e.g. ViT-B weights
  pre-trained elsewhere; nothing is computed.

Computed stages are cached in the run store under ``<results>/pretrain/<key>/``, ``key`` a digest
of exactly what the weights depend on (:func:`pretrain_spec`): ``spec.json``, ``state.pt`` (the
resumable state, written atomically every ``run.checkpoint_every`` steps: a killed stage resumes
where it stopped), ``weights.pt``, ``log.json`` (one row per step: the loss curve), ``summary.json``
(what it reached) and ``COMPLETE``: computed under the run store's lock (:func:`stella.store_protocol.compute_once`),
so two processes never compute one stage twice and stale temporary files are removed first. A
complete stage whose files do not verify (a truncated ``weights.pt``, say) is moved aside, named in
one line and computed again by the next run that needs it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm import tqdm

from stella import __version__
from stella.config import Config
from stella.continual import nonfinite, worker_cache
from stella.continual.stream import batches, num_batches
from stella.data.manifest import build_pretrain_manifest
from stella.data.synthetic import build_pretrain_synthetic
from stella.data.tuxpaint import build_pretrain_tuxpaint
from stella.models import build_model, load_checkpoint
from stella.progress import announce
from stella.store import STAGE_FILES, atomic_torch_save, atomic_write_json, compute_once

_KILL_AFTER_STEP = int(os.environ.get("STELLA_KILL_AFTER_PRETRAIN_STEP", "0"))   # resumption tests only

_DATA_KEYS = ("dataset", "seed", "sample_rate", "num_frames", "image_size", "audio_frames", "mel_bins",
              "num_distractors", "noise_level", "augment", "audio_roll", "audio_norm_mean", "audio_norm_std")
_LATE_DATA_KEYS = ("object_scale", "active_fraction", "silent_object", "distractors", "sound_cue")   # in the key
                                                          # only when set (config.OMIT_AT_DEFAULT); not overwrite_pairs:
                                                          # pre-training classes reuse no object


def pretrain_spec(cfg: Config) -> dict[str, Any] | None:
    """What a computed pre-training stage depends on, and nothing else (None: nothing to compute).

    The model section, the data geometry and generator settings, the pre-training section (minus the
    fields its source does not read), the optimiser's betas and weight decay, the thread count it is
    computed with (:func:`stage_threads`: it changes float sums) and the package version.
    Not the continual method, the training seed, the selection or the task order."""
    p = cfg.pretrain
    if p.source in ("none", "checkpoint"):
        return None
    skip = {"checkpoint"} | ({"manifest"} if p.source in ("synthetic", "tuxpaint") else {"classes", "clips_per_class"})
    data = {k: getattr(cfg.data, k) for k in _DATA_KEYS}
    data.update({k: v for k, v in cfg.to_dict()["data"].items() if k in _LATE_DATA_KEYS})
    if p.source == "manifest":
        data.update(benchmark=cfg.data.benchmark, category_csv=cfg.data.category_csv)
    return {"model": dataclasses.asdict(cfg.model), "data": data,
            "pretrain": {k: v for k, v in dataclasses.asdict(p).items() if k not in skip},
            "optimiser": {"betas": list(cfg.continual.betas), "weight_decay": cfg.continual.weight_decay},
            "threads": stage_threads(cfg), "version": __version__}


def stage_threads(cfg: Config) -> int:
    """Torch threads the stage is computed with: ``pretrain.num_threads``, else ``run.num_threads``
    (0: torch's default, the machine's core count)."""
    return cfg.pretrain.num_threads or cfg.run.num_threads


def pretrain_key(cfg: Config) -> str | None:
    spec = pretrain_spec(cfg)
    return None if spec is None else hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def pretrain_dir(cfg: Config, root: str | Path) -> Path | None:
    """``<root>/pretrain/<key>`` of a computed stage, None for sources "none" and "checkpoint"."""
    key = pretrain_key(cfg)
    return None if key is None else Path(root) / "pretrain" / key


def pretrain_dataset(cfg: Config):
    """The pre-training clips of ``cfg.pretrain.source`` ("synthetic", "manifest" or "tuxpaint") as one dataset."""
    p = cfg.pretrain
    if p.source == "synthetic":
        return build_pretrain_synthetic(cfg, p.classes, p.clips_per_class)
    if p.source == "manifest":
        return build_pretrain_manifest(cfg, p.manifest)
    if p.source == "tuxpaint":
        return build_pretrain_tuxpaint(cfg, p.classes, p.clips_per_class)
    raise ValueError(f"pretrain.source: {p.source!r} has no pre-training clips")


def _models(cfg: Config, device: torch.device):
    seeded = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, seed=cfg.pretrain.seed))
    return build_model(seeded, device)


def _backbone_logs(out) -> dict[str, float]:
    return {"loss": float(out.loss.item()), "rec_a": float(out.rec_a.item()), "rec_v": float(out.rec_v.item()),
            "contrastive": float(out.contrastive.item())}


def run_pretraining(cfg: Config, path: Path, device: torch.device | str = "cpu", progress: bool = False) -> None:
    """Compute the stage of ``cfg`` into ``path`` (resuming from ``path/state.pt``), then mark it complete."""
    p, c = cfg.pretrain, cfg.continual
    device = torch.device(device)
    model, avm = _models(cfg, device)
    data = pretrain_dataset(cfg)
    per_epoch = num_batches(len(data), p.batch_size)
    if per_epoch == 0:
        raise ValueError(f"pretrain.batch_size: {len(data)} pre-training clips cannot fill one batch of {p.batch_size}")
    opt = torch.optim.Adam(model.parameters(), lr=p.lr, betas=tuple(c.betas), weight_decay=c.weight_decay)
    avm_opt = torch.optim.Adam(avm.parameters(), lr=p.avm_lr, betas=tuple(c.betas), weight_decay=c.weight_decay)
    gdev = device if device.type == "cuda" else "cpu"
    gen_mask = torch.Generator(gdev).manual_seed(p.seed + 1)
    gen_avm = torch.Generator(gdev).manual_seed(p.seed + 2)
    step, log, seconds = 0, [], 0.0
    if (path / "state.pt").exists():
        s = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(s["model"])
        avm.load_state_dict(s["avm"])
        opt.load_state_dict(s["opt"])
        avm_opt.load_state_dict(s["avm_opt"])
        gen_mask.set_state(s["gen_mask"])
        gen_avm.set_state(s["gen_avm"])
        step, log, seconds = int(s["step"]), list(s["log"]), float(s["seconds"])

    def one_step(batch: dict) -> dict:
        """One joint step (``step < p.steps``) and/or one AVM step; the logged values."""
        audio, video = batch["audio"].to(device), batch["video"].to(device)
        out = None
        if step < p.steps:
            out = model(audio, video, generator=gen_mask)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
        logs = {} if out is None else _backbone_logs(out)
        if out is None or p.joint_avm:
            with torch.no_grad():
                o_a, o_v = model.fusion_tokens(audio, video)
            avm_loss, avm_acc = avm.loss(o_a, o_v, gen_avm)
            avm_opt.zero_grad(set_to_none=True)
            avm_loss.backward()
            avm_opt.step()
            logs.update(avm=float(avm_loss.item()), avm_acc=float(avm_acc))
        return logs

    total = p.steps + p.avm_steps
    bar = tqdm(total=total, initial=step, desc="pre-training", disable=not progress, leave=False)
    t0 = time.perf_counter()
    while step < total:
        epoch, start = divmod(step, per_epoch)
        for _, batch in batches(data, p.batch_size, p.seed, 0, epoch, start):
            logs = nonfinite.checked(one_step, batch, cfg, f"pre-training stage {path.name}, step {step + 1}",
                                     nonfinite.PRETRAIN_STEPS, model)
            step += 1
            log.append({"step": step, "phase": "joint" if step <= p.steps else "avm", **logs})
            bar.update(1)
            if step % cfg.run.checkpoint_every == 0 or step == total:
                atomic_torch_save(path / "state.pt", {
                    "model": model.state_dict(), "avm": avm.state_dict(), "opt": opt.state_dict(),
                    "avm_opt": avm_opt.state_dict(), "gen_mask": gen_mask.get_state(), "gen_avm": gen_avm.get_state(),
                    "step": step, "log": log, "seconds": seconds + time.perf_counter() - t0})
            if step == _KILL_AFTER_STEP:
                os.kill(os.getpid(), signal.SIGKILL)
            if step == total:
                break
    bar.close()
    seconds += time.perf_counter() - t0
    atomic_torch_save(path / "weights.pt", {"model": model.state_dict(), "avm": avm.state_dict(),
                                            "extra": {"pretrain_key": path.name}})
    atomic_write_json(path / "log.json", log)
    atomic_write_json(path / "summary.json", summarize_log(log, seconds, len(data), (path / "weights.pt").stat().st_size))


def summarize_log(log: list[dict], seconds: float, clips: int, weights_bytes: int, last: int = 50) -> dict:
    """What the stage reached: the mean of each logged value over the last ``last`` steps of each phase."""
    out: dict[str, Any] = {"steps": len(log), "seconds": seconds, "clips": clips, "weights_bytes": weights_bytes}
    for phase in ("joint", "avm"):
        rows = [r for r in log if r["phase"] == phase][-last:]
        for k in (rows[0] if rows else {}):
            if k not in ("step", "phase"):
                out[f"{phase}_{k}"] = sum(r[k] for r in rows) / len(rows)
    return out


def ensure_pretrained(cfg: Config, root: str | Path, device: torch.device | str = "cpu",
                      progress: bool = False) -> Path | None:
    """The weights file ``cfg`` starts from: computed once into the run store under ``root`` (source
    "synthetic" / "manifest" / "tuxpaint"), the configured file (source "checkpoint"), or None (source "none")."""
    p = cfg.pretrain
    if p.source == "none":
        return None
    if p.source == "checkpoint":
        path = Path(p.checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"pretrain.checkpoint: {path} does not exist; put pre-trained weights there "
                                    "(layout {'model': state_dict, 'avm': state_dict}, see stella.models.load_checkpoint), or set "
                                    "pretrain.source=synthetic / none")
        return path

    def compute(d: Path) -> None:
        atomic_write_json(d / "spec.json", {"key": d.name, "spec": pretrain_spec(cfg)})
        announce("pretrain-start", key=d.name, steps=p.steps + p.avm_steps)
        t0, threads = time.perf_counter(), torch.get_num_threads()
        if stage_threads(cfg):                    # in the key: computed with it whoever asks (a notebook too)
            torch.set_num_threads(stage_threads(cfg))
        try:
            run_pretraining(cfg, d, device, progress)
        finally:
            torch.set_num_threads(threads)
        announce("pretrain-end", key=d.name, seconds=round(time.perf_counter() - t0, 2))

    d = pretrain_dir(cfg, root)
    compute_once(d, compute, f"pretrain/{d.name}", required=STAGE_FILES)
    return d / "weights.pt"


def load_pretrained(cfg: Config, model: torch.nn.Module, avm: torch.nn.Module, root: str | Path,
                    device: torch.device | str = "cpu", dist_info=None) -> Path | None:
    """Load the configured pre-trained start into ``model`` and ``avm`` in place (the trainer calls
    this before a method copies the model for its EMA or teacher). Under torchrun rank 0 computes a
    missing stage while the other ranks wait. Returns the weights file, or None for source "none"."""
    if cfg.pretrain.source == "none":
        return None
    if dist_info is not None and dist_info.enabled:

        if dist_info.rank == 0:
            ensure_pretrained(cfg, root, device, cfg.run.progress)
        dist.barrier()
    path = ensure_pretrained(cfg, root, device, cfg.run.progress and (dist_info is None or dist_info.rank == 0))
    load_checkpoint(path, model, avm, worker_cache.weights(path))
    return path


def pretrained_models(cfg: Config, root: str | Path, device: torch.device | str = "cpu"):
    """(model, avm) in eval mode holding the pre-trained start of ``cfg`` (computed if missing): what every
    continual run begins with, e.g. to measure the AVM on unseen classes before any task."""
    model, avm = build_model(cfg)
    load_pretrained(cfg, model, avm, root, device)
    return model.to(device).eval(), avm.to(device).eval()


def pretrain_log(cfg: Config, root: str | Path) -> tuple[list[dict], dict]:
    """(loss curve rows, summary) of the computed stage of ``cfg`` in the store under ``root``
    (for the benchmark chapter's pre-training curve); FileNotFoundError when it is not computed."""
    d = pretrain_dir(cfg, root)
    if d is None:
        raise ValueError(f"pretrain.source={cfg.pretrain.source!r}: no pre-training stage is computed")
    if not (d / "COMPLETE").exists():
        raise FileNotFoundError(f"{d}: the pre-training stage is not computed yet (stella.continual.pretrain."
                                "ensure_pretrained computes it)")
    return json.loads((d / "log.json").read_text()), json.loads((d / "summary.json").read_text())


__all__ = ["pretrain_spec", "pretrain_key", "pretrain_dir", "pretrain_dataset",
           "run_pretraining", "summarize_log", "ensure_pretrained", "load_pretrained", "pretrained_models", "pretrain_log"]
