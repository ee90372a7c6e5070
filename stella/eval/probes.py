"""Downstream probes on frozen or briefly fine-tuned backbones (Table 4, Table 8, appendix B).

* :func:`classification_probe` (Table 4 b): a linear or one-hidden-layer MLP classifier on the
  frozen clip features ``concat(z_a, z_v)`` of :meth:`embed`, trained on all tasks' training
  clips and tested on all tasks' evaluation clips.
* :func:`event_localization_probe` (Table 8 b, the AVE role): per time step, classify the event
  class or background from frozen per-time features. Audio: unimodal audio tokens
  ``(B, t/p, f/p, D)`` (time-major) averaged over frequency -> one feature per audio time token.
  Video: unimodal video tokens averaged over each frame's patches; time token ``j`` is aligned
  with frame ``floor(j T / (t/p))``. Feature = ``concat(audio_j, video_frame(j))``. Target: the
  synthetic ``active`` (t,) fbank-frame flags pooled to time tokens (a token is "event" when at
  least half of its ``p`` frames are active) -> ``1 + class`` for events, ``0`` background.
* :func:`retrieval_finetune` (Table 4 a, Table 8 a, the MSR-VTT role): fine-tune a deep copy of
  the backbone with its own pre-training loss ``model(audio, video).loss`` (Adam, a few steps)
  on a training split of held-out classes, then retrieve within the test split (queries and
  gallery = the test clips, both directions).

Every function takes an explicit ``torch.Generator`` (batch order, probe initialisation,
masking); nothing reads the global RNG. Accuracies and recalls are in percent.
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

import pandas as pd
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, default_collate

from stella.eval.retrieval import extract_embeddings, recall_at_k, median_rank


def _seed_from(generator: torch.Generator) -> int:
    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator).item())


def _label_map(train_labels: torch.Tensor, test_labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    classes = torch.unique(train_labels)
    unseen = set(torch.unique(test_labels).tolist()) - set(classes.tolist())
    if unseen:
        raise ValueError(f"test labels {sorted(unseen)} never occur in the training split")
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    to_ids = lambda y: torch.tensor([lookup[c] for c in y.tolist()], dtype=torch.long)
    return to_ids(train_labels), to_ids(test_labels), len(classes)


def train_probe(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                num_classes: int, generator: torch.Generator, hidden: int = 0, epochs: int = 100,
                lr: float = 1e-2, batch_size: int = 256) -> dict[str, float]:
    """Fit a classifier on fixed features. x (n, F) float, y (n,) long in ``0..num_classes-1``.

    ``hidden = 0`` gives a linear probe, ``hidden > 0`` a Linear-ReLU-Linear MLP. Adam, cross
    entropy, mini-batches in a generator-drawn order. Returns train/test accuracy in percent.
    """
    if x_train.shape[0] == 0 or x_test.shape[0] == 0:
        raise ValueError(f"empty probe split: {x_train.shape[0]} train and {x_test.shape[0]} test examples")
    for name, x in (("x_train", x_train), ("x_test", x_test)):
        if not torch.isfinite(x).all():
            raise ValueError(f"{name}: features contain NaN/inf")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed_from(generator))
        d = x_train.shape[1]
        head = nn.Linear(d, num_classes) if hidden <= 0 else nn.Sequential(
            nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))
    head = head.to(x_train.device)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    n = x_train.shape[0]
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(x_train.device)
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            loss = nn.functional.cross_entropy(head(x_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = lambda x, y: 100.0 * (head(x).argmax(-1) == y).double().mean().item()
        return {"train_accuracy": acc(x_train, y_train), "test_accuracy": acc(x_test, y_test)}


def _chance(y_test: torch.Tensor, y_train: torch.Tensor, k: int) -> float:
    """Accuracy of always predicting the most frequent training class, in percent."""
    return 100.0 * (y_test == torch.bincount(y_train, minlength=k).argmax()).double().mean().item()


def classification_probe(model: nn.Module, train_set: Any, test_set: Any, generator: torch.Generator,
                         device: str | torch.device = "cpu", hidden: int = 256, epochs: int = 100,
                         lr: float = 1e-2, batch_size: int = 64) -> pd.DataFrame:
    """Table 4 (b): probe on frozen ``concat(z_a, z_v)``; one row with accuracies and chance."""
    tr = extract_embeddings(model, train_set, batch_size, device)
    te = extract_embeddings(model, test_set, batch_size, device)
    x_tr, x_te = torch.cat([tr["z_a"], tr["z_v"]], 1), torch.cat([te["z_a"], te["z_v"]], 1)
    y_tr, y_te, k = _label_map(tr["label"], te["label"])
    res = train_probe(x_tr, y_tr, x_te, y_te, k, generator, hidden, epochs, lr)
    return pd.DataFrame([{"probe": "mlp" if hidden > 0 else "linear", **res, "chance": _chance(y_te, y_tr, k),
                          "classes": k, "n_train": len(y_tr), "n_test": len(y_te)}])


def time_features(u_a: torch.Tensor, u_v: torch.Tensor, audio_grid: Sequence[int],
                  video_grid: Sequence[int]) -> torch.Tensor:
    """Aligned per-time features. u_a (B, M, D), u_v (B, N, D) -> (B, t/p, 2D) (see module doc)."""
    nt, nf = audio_grid
    T, gh, gw = video_grid
    B, M, D = u_a.shape
    if M != nt * nf or u_v.shape[1] != T * gh * gw:
        raise ValueError(f"tokens {tuple(u_a.shape)}, {tuple(u_v.shape)} do not match audio_grid "
                         f"{tuple(audio_grid)} and video_grid {tuple(video_grid)}")
    a = u_a.reshape(B, nt, nf, D).mean(2)
    v = u_v.reshape(B, T, gh * gw, D).mean(2)
    frame = torch.div(torch.arange(nt) * T, nt, rounding_mode="floor").to(u_v.device)
    return torch.cat([a, v[:, frame]], dim=-1)


def event_targets(active: torch.Tensor, label_ids: torch.Tensor, num_time_tokens: int) -> torch.Tensor:
    """active bool (B, t) per fbank frame, label_ids (B,) -> (B, t/p) long: 0 background, 1 + class."""
    B, t = active.shape
    if t % num_time_tokens:
        raise ValueError(f"{t} fbank frames do not split into {num_time_tokens} time tokens")
    event = active.float().reshape(B, num_time_tokens, t // num_time_tokens).mean(-1) >= 0.5
    return torch.where(event, label_ids[:, None] + 1, torch.zeros_like(event, dtype=torch.long))


@torch.no_grad()
def _event_data(model: nn.Module, dataset: Any, audio_grid, video_grid, batch_size, device):
    if len(dataset) == 0:
        raise ValueError("empty evaluation split: the dataset has no clips")
    xs, act, lab = [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
        if "active" not in batch:
            raise ValueError("event localisation needs per-frame 'active' ground truth in the items")
        u_a, u_v = model.unimodal_tokens(batch["audio"].to(device), batch["video"].to(device))
        xs.append(time_features(u_a, u_v, audio_grid, video_grid).float().cpu())
        act.append(torch.as_tensor(batch["active"]).bool())
        lab.append(torch.as_tensor(batch["label"]).long())
    return torch.cat(xs), torch.cat(act), torch.cat(lab)


def event_localization_probe(model: nn.Module, train_set: Any, test_set: Any, generator: torch.Generator,
                             device: str | torch.device = "cpu", audio_grid: Sequence[int] | None = None,
                             video_grid: Sequence[int] | None = None, epochs: int = 100, lr: float = 1e-2,
                             batch_size: int = 32) -> pd.DataFrame:
    """Table 8 (b): linear per-time-step classifier on frozen aligned features (appendix B: backbone
    frozen, linear classifier). Grids default to ``model.cfg``. One row: per-step accuracies, the
    majority-class chance, the background share of test steps."""
    audio_grid = audio_grid or model.cfg.audio_grid
    video_grid = video_grid or model.cfg.video_grid
    was = model.training
    model.eval()
    try:
        x_tr, a_tr, l_tr = _event_data(model, train_set, audio_grid, video_grid, batch_size, device)
        x_te, a_te, l_te = _event_data(model, test_set, audio_grid, video_grid, batch_size, device)
    finally:
        model.train(was)
    id_tr, id_te, k = _label_map(l_tr, l_te)
    nt = audio_grid[0]
    y_tr, y_te = event_targets(a_tr, id_tr, nt).flatten(), event_targets(a_te, id_te, nt).flatten()
    D = x_tr.shape[-1]
    res = train_probe(x_tr.reshape(-1, D), y_tr, x_te.reshape(-1, D), y_te, k + 1, generator, 0, epochs, lr)
    return pd.DataFrame([{"probe": "linear", **res, "chance": _chance(y_te, y_tr, k + 1),
                          "background_share": 100.0 * (y_te == 0).double().mean().item(),
                          "classes": k + 1, "steps_train": len(y_tr), "steps_test": len(y_te)}])


def _retrieval_rows(model: nn.Module, test_set: Any, batch_size: int, device, stage: str) -> list[dict]:
    e = extract_embeddings(model, test_set, batch_size, device)
    gt = torch.arange(e["z_a"].shape[0])
    rows = []
    for direction, sim in (("A→V", e["z_a"] @ e["z_v"].T), ("V→A", e["z_v"] @ e["z_a"].T)):
        rec = {**recall_at_k(sim, gt), "MdR": median_rank(sim, gt)}
        rows += [{"stage": stage, "direction": direction, "metric": m, "value": v} for m, v in rec.items()]
    return rows


def retrieval_finetune(model: nn.Module, train_set: Any, test_set: Any, generator: torch.Generator,
                       device: str | torch.device = "cpu", steps: int = 20, lr: float = 1e-4,
                       batch_size: int = 8, betas: tuple[float, float] = (0.95, 0.999)) -> pd.DataFrame:
    """Table 4 (a): fine-tune a copy with ``model(audio, video, generator=...).loss``, then retrieve.

    The input model is not modified. Returns tidy rows ``stage ("zero-shot" | "fine-tuned"),
    direction, metric (R@1, R@5, R@10, MdR), value`` on the test split (gallery = test clips).
    """
    if len(train_set) < 2:
        raise ValueError(f"retrieval fine-tuning needs at least 2 training clips (contrastive loss), got {len(train_set)}")
    if len(test_set) == 0:
        raise ValueError("empty evaluation split: the test set has no clips")
    rows = _retrieval_rows(model, test_set, batch_size, device, "zero-shot")
    tuned = copy.deepcopy(model).to(device).train()
    opt = torch.optim.Adam(tuned.parameters(), lr=lr, betas=betas)
    n, bs = len(train_set), min(batch_size, len(train_set))
    order, pos = torch.randperm(n, generator=generator), 0
    for _ in range(steps):
        if pos + bs > n:
            order, pos = torch.randperm(n, generator=generator), 0
        batch = default_collate([train_set[int(i)] for i in order[pos:pos + bs]])
        pos += bs
        out = tuned(batch["audio"].to(device), batch["video"].to(device), generator=generator)
        if not torch.isfinite(out.loss):
            raise ValueError(f"fine-tuning loss became {out.loss.item()}")
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
    rows += _retrieval_rows(tuned, test_set, batch_size, device, "fine-tuned")
    return pd.DataFrame(rows, columns=["stage", "direction", "metric", "value"])


__all__ = ["train_probe", "classification_probe", "time_features", "event_targets",
           "event_localization_probe", "retrieval_finetune"]
