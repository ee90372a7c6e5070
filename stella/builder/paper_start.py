"""The paper presets' pre-trained start from a released CAV-MAE checkpoint, kept in the run store.

:func:`ensure_start` converts the checkpoint (:mod:`stella.models.convert_cavmae`) and initialises the
AVM as appendix D does: the AVM is "pre-trained along with the backbone" while its matching loss
(Eq. 11, BCE on positive pairs and derangement negatives) never reaches the backbone. The released
backbone is already pre-trained, so the AVM is trained on its frozen fusion tokens (the authors' code
allows it: "the AVM can be pre-trained with the backbone frozen, 8-15 epochs") for ``avm_epochs``
epochs of the pre-training clips: the entries of ``pretrain_manifest`` whose labels lie outside the
continual benchmark (:func:`stella.data.manifest.build_pretrain_manifest`, the paper's exclusion of
Continual-VS labels), with Table 6's optimiser (``continual.avm_lr``, betas, weight decay) and batch.

The result is a pre-training stage of the store, ``<results>/pretrain/<key>/`` (``stella runs``
lists it): ``spec.json`` (what the weights depend on: the checkpoint's SHA-256, the model and data
geometry, the clips, the epochs; :func:`start_spec`), ``weights.pt`` (``{"model", "avm"}``, the layout
``pretrain.checkpoint`` reads), ``log.json`` (one row per AVM step), ``summary.json``. It is computed under
the store's lock (:func:`stella.store.compute_once`), once for every shard that asks, and resumes from
``state.pt`` (written every ``run.checkpoint_every`` steps) after a kill.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import torch

from stella import __version__
from stella.config import Config
from stella.continual.stream import batches, num_batches
from stella.continual.trainer import pick_device
from stella.data.manifest import build_pretrain_manifest
from stella.models import build_model
from stella.models.convert_cavmae import convert_checkpoint, read_cavmae
from stella.store import STAGE_FILES, atomic_torch_save, atomic_write_json, compute_once

STREAM_TASK = 0       # the pre-training clips are one stream: task 0 of stella.continual.stream.batches


def file_digest(path: str | Path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def start_spec(cfg: Config, checkpoint: str | Path, pretrain_manifest: str | Path, avm_epochs: int) -> dict[str, Any]:
    """What the converted start depends on, and nothing else (the continual method, seed and task order
    are not in it): the checkpoint's and the clip list's SHA-256, the model section, the data geometry and
    normalisation, the benchmark whose labels are excluded, the AVM's optimiser, batch, epochs and seed."""
    d, c = cfg.data, cfg.continual
    data = {k: getattr(d, k) for k in ("benchmark", "category_csv", "sample_rate", "num_frames", "image_size",
                                       "audio_frames", "mel_bins", "augment", "audio_roll", "audio_norm_mean",
                                       "audio_norm_std", "seed")}
    return {"kind": "cavmae-start", "checkpoint_sha256": file_digest(checkpoint),
            "clips": str(pretrain_manifest), "clips_sha256": file_digest(pretrain_manifest),
            "model": dataclasses.asdict(cfg.model), "data": data,
            "avm": {"epochs": avm_epochs, "batch_size": c.batch_size, "lr": c.avm_lr, "betas": list(c.betas),
                    "weight_decay": c.weight_decay, "seed": cfg.pretrain.seed},
            "version": __version__}


def start_dir(spec: dict[str, Any], root: str | Path) -> Path:
    """``<root>/pretrain/<16 hex digits of the spec>``: a directory the store lists as a pre-training stage."""
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return Path(root) / "pretrain" / key


def avm_steps(n_clips: int, batch_size: int, epochs: int) -> int:
    """AVM steps of ``epochs`` epochs (full batches only, as the continual stream)."""
    return epochs * num_batches(n_clips, batch_size)


def train_avm(cfg: Config, weights: dict, data, epochs: int, path: Path, device: torch.device) -> list[dict]:
    """Appendix D on a frozen backbone: ``epochs`` epochs of Eq. 11's matching loss on ``data``'s fusion
    tokens (computed without gradient), Adam on the AVM alone; resumes from ``path/state.pt``. Updates
    ``weights["avm"]`` in place and returns the log (step, epoch, avm loss, avm accuracy)."""
    c, seed = cfg.continual, cfg.pretrain.seed
    per_epoch = num_batches(len(data), c.batch_size)
    if per_epoch == 0:
        raise ValueError(f"pre-training clips: {len(data)} usable clip(s) cannot fill one batch of "
                         f"continual.batch_size={c.batch_size} to train the AVM")
    model, avm = build_model(cfg, device)
    model.load_state_dict(weights["model"])
    avm.load_state_dict(weights["avm"])
    model.eval().requires_grad_(False)
    opt = torch.optim.Adam(avm.parameters(), lr=c.avm_lr, betas=tuple(c.betas), weight_decay=c.weight_decay)
    gen = torch.Generator(device if device.type == "cuda" else "cpu").manual_seed(seed + 2)
    step, log = 0, []
    if (path / "state.pt").exists():
        s = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
        avm.load_state_dict(s["avm"])
        opt.load_state_dict(s["opt"])
        gen.set_state(s["gen"])
        step, log = int(s["step"]), list(s["log"])
    total = epochs * per_epoch
    while step < total:
        epoch, start = divmod(step, per_epoch)
        for _, batch in batches(data, c.batch_size, seed, STREAM_TASK, epoch, start):
            with torch.no_grad():
                o_a, o_v = model.fusion_tokens(batch["audio"].to(device), batch["video"].to(device))
            loss, acc = avm.loss(o_a, o_v, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            log.append({"step": step, "epoch": epoch, "avm": float(loss.item()), "avm_acc": float(acc)})
            if step % cfg.run.checkpoint_every == 0 or step == total:
                atomic_torch_save(path / "state.pt", {"avm": avm.state_dict(), "opt": opt.state_dict(),
                                                      "gen": gen.get_state(), "step": step, "log": log})
    weights["avm"] = {k: v.detach().cpu() for k, v in avm.state_dict().items()}
    return log


def ensure_start(cfg: Config, checkpoint: str | Path, pretrain_manifest: str | Path, avm_epochs: int,
                 root: str | Path, write=print) -> Path:
    """The ``weights.pt`` of the converted start of ``cfg`` in the store under ``root``, computed once
    (module docstring). ``cfg`` must already carry the checkpoint's ``model.*`` values
    (:func:`stella.models.convert_cavmae.model_overrides`)."""
    if avm_epochs < 0:
        raise ValueError(f"--avm-epochs: must be >= 0, got {avm_epochs}")
    spec = start_spec(cfg, checkpoint, pretrain_manifest, avm_epochs)
    d = start_dir(spec, root)

    def compute(path: Path) -> None:
        t0 = time.perf_counter()
        atomic_write_json(path / "spec.json", {"key": path.name, "spec": spec})
        weights = convert_checkpoint(read_cavmae(checkpoint), cfg)
        data = build_pretrain_manifest(cfg, pretrain_manifest)
        write(f"AVM of the converted start: {avm_epochs} epoch(s) of {len(data)} pre-training clips on the frozen "
              f"backbone ({avm_steps(len(data), cfg.continual.batch_size, avm_epochs)} steps)")
        log = train_avm(cfg, weights, data, avm_epochs, path, pick_device(cfg)) if avm_epochs else []
        atomic_torch_save(path / "weights.pt", {**weights, "extra": {"start_key": path.name}})
        atomic_write_json(path / "log.json", log)
        last = log[-min(len(log), 50):]
        atomic_write_json(path / "summary.json", {
            "steps": len(log), "clips": len(data), "skipped": dict(data.skipped), "seconds": time.perf_counter() - t0,
            "avm_loss": sum(r["avm"] for r in last) / len(last) if last else None,
            "avm_acc": sum(r["avm_acc"] for r in last) / len(last) if last else None})

    computed = compute_once(d, compute, f"pretrain/{d.name}", required=STAGE_FILES)
    write(f"converted start {'computed' if computed else 'found'}: {d / 'weights.pt'}")
    return d / "weights.pt"
