"""Why does RCA alone select worse than at random? RCA against the ground truth (section 4.2, Eq. 3-5).

Replay-guided Correlation Assessment scores each patch by how much more it correlates with PAST pooled
queries than with its current pair (Eq. 4, C in [0, 1]) and Eq. 5 excludes it with probability C. On
clips with ground truth (``mask`` (T, H, W) the sounding object, ``active`` (t,) sound on per fbank frame)
this module measures, for a model and its AVM:

* ``C`` on the sounding object's video patches (while it sounds, :func:`stella.eval.signal.sounding_mask`;
  a patch counts when it holds any pixel of it) against the other video patches, and on the active audio
  patches (time token at least half active) against the silent ones: the mean, and per patch in
  :func:`c_values` for the distribution. RCA judges only the kappa most important patches of Eq. 3
  (``judged``); the others get C = 0. The mean of C over a group is the share of it that Eq. 5's
  Bernoulli(C) excludes in expectation (``excluded_*``).
* kept shares under the selections "rca" (uniform I with the exclusions), "stella", "lpis" and
  "random" at ``cfg.selection``'s budget (mean over ``draws`` draws per clip).
* each with the paper's Eq. 4 temperature (``selection.corr_temperature = "beta"``, logits / (beta sqrt d))
  and the authors' ("sqrt_d"), and with no past query (empty memory: C = 0, RCA is Random) or with past
  pooled queries: those a STELLA run's memory holds (:func:`memory_queries`) or those of other clips
  (:func:`pooled_query_bank`), paired with the current clips as training pairs them (one past query per
  clip, ``selection.past_queries``), drawn at random per batch.
* the same means over the JUDGED patches only (``*_judged``: inside Eq. 3's kappa, where C is computed at all):
  averaged over every patch of a group, C mixes the judged patches' C with the zeros of the unjudged ones,
  so a group that Eq. 3 judges more often (the sounding object) shows a higher mean C for that reason alone.
* how alike the pooled queries of different classes are (:func:`query_similarity`): Eq. 4 can tell a past
  class's patches from the current one's only where their pooled queries differ; the cosine between queries of
  two different classes near 1 means the past queries look for what the current ones look for. The memory keeps
  no labels, so for a run's memory it is the mean over every pair of its items (mostly of different classes);
  :func:`pooled_query_bank` with ``labels=True`` gives labelled queries to split pairs by class.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.data import DataLoader

from stella.config import Config
from stella.eval.signal import active_patches, kept_share, object_patches, sounding_mask
from stella.selection import importance_scores, kappa, pooled_queries, select

STRATEGIES = ("rca", "stella", "lpis", "random")
TEMPERATURES = ("beta", "sqrt_d")


def memory_queries(run_dir: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(q_a, q_v) (R, H, d): the pooled queries stored in the memory of a STELLA-family run (its final
    ``checkpoint.pt``, Algorithm 2 line 9), R = the items it holds."""
    path = Path(run_dir) / "checkpoint.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no checkpoint, so no memory to read past queries from")
    mem = torch.load(path, map_location="cpu", weights_only=True)["method"]["memory"]
    data, size = mem["data"], int(mem["size"])
    if "q_a" not in data or size == 0:
        raise ValueError(f"{path}: the memory holds no pooled queries (not a STELLA run, or empty)")
    return data["q_a"][:size].float(), data["q_v"][:size].float()


@torch.no_grad()
def pooled_query_bank(model: torch.nn.Module, avm: torch.nn.Module, dataset: Any, cfg: Config,
                      batch_size: int = 32, device: str | torch.device = "cpu", labels: bool = False):
    """(q_a, q_v) (R, H, d): Eq. 3 pooled queries of every clip of ``dataset`` under the current weights, at
    the selection temperature and budget -- what a memory of those clips would hold; with ``labels`` also the
    clips' class labels (R,)."""
    qa, qv, ys = [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
        out, I_a, I_v = _avm_pass(model, avm, batch, cfg, device)
        M, N = I_a.shape[1], I_v.shape[1]
        sc = cfg.selection
        qa.append(pooled_queries(out.q_a, out.k_a, I_a, kappa(M, sc.rho_a), sc.descending)[0].cpu())
        qv.append(pooled_queries(out.q_v, out.k_v, I_v, kappa(N, sc.rho_v), sc.descending)[0].cpu())
        ys.append(torch.as_tensor(batch["label"]))
    return (torch.cat(qa), torch.cat(qv), torch.cat(ys)) if labels else (torch.cat(qa), torch.cat(qv))


def query_similarity(q: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, float]:
    """How alike pooled queries are: q (R, H, d) -> the cosine of two items' queries per head, averaged over heads,
    then over pairs of items: ``different`` (pairs of two labels; every pair of distinct items when ``labels`` is
    None), ``same`` (pairs of one label; NaN without labels or such pairs), and the pair counts. labels (R,)."""
    if q.dim() != 3 or q.shape[0] < 2:
        raise ValueError(f"query_similarity: q must be (R >= 2, H, d), got {tuple(q.shape)}")
    u = torch.nn.functional.normalize(q.double(), dim=-1)
    cos = torch.einsum("ihd,jhd->ij", u, u) / q.shape[1]                           # (R, R) mean over heads
    off = ~torch.eye(q.shape[0], dtype=torch.bool)
    if labels is None:
        same, diff = torch.zeros_like(off), off
    else:
        labels = torch.as_tensor(labels).reshape(-1)
        if labels.shape[0] != q.shape[0]:
            raise ValueError(f"query_similarity: {labels.shape[0]} labels for {q.shape[0]} queries")
        eq = labels[:, None] == labels[None, :]
        same, diff = eq & off, ~eq
    mean = lambda m: float(cos[m].mean()) if m.any() else float("nan")            # noqa: E731
    return {"different": mean(diff), "same": mean(same), "pairs_different": int(diff.sum()) // 2,
            "pairs_same": int(same.sum()) // 2}


def similarity_frame(queries: dict[str, tuple[torch.Tensor, ...]]) -> pd.DataFrame:
    """One row per query set and modality: :func:`query_similarity` of ``queries`` name -> (q_a, q_v) or
    (q_a, q_v, labels) (R, H, d), e.g. a run's :func:`memory_queries` and a labelled :func:`pooled_query_bank`.
    Columns ``queries, modality, different, same, pairs_different, pairs_same``."""
    rows = []
    for name, q in queries.items():
        labels = q[2] if len(q) > 2 else None
        for modality, x in (("audio", q[0]), ("video", q[1])):
            rows.append({"queries": name, "modality": modality, **query_similarity(x, labels)})
    return pd.DataFrame(rows)


def _avm_pass(model, avm, batch, cfg: Config, device):
    audio, video = batch["audio"].to(device), batch["video"].to(device)
    o_a, o_v = model.fusion_tokens(audio, video)
    out = avm(o_a, o_v, beta=cfg.selection.beta)
    I_a, I_v = importance_scores(out.A_a, out.A_v)
    return out, I_a, I_v


def _mean_over(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """(B,) mean of x (B, L) over the True entries of m (B, L); NaN where m is empty."""
    n = m.sum(1).double()
    s = (x.double() * m).sum(1)
    return torch.where(n > 0, s / n.clamp_min(1), torch.full_like(s, float("nan")))


@torch.no_grad()
def _passes(model, avm, dataset, cfg: Config, past: dict[str, tuple[torch.Tensor, torch.Tensor] | None],
            temperatures, seed: int, batch_size: int, device):
    """Yield (batch, truth, out, I, (past name, temperature), cfg', queries, generator) for every combination.
    The past queries are paired with the clips by their own generator (seed), the selections draw from the one
    yielded (seed + 1), so every function pairs the same past queries with the same clips."""
    g = torch.Generator().manual_seed(seed + 1)
    g_pair = torch.Generator().manual_seed(seed)
    p = cfg.model.patch_size
    modes = [(m, m.training) for m in (model, avm)]
    for m, _ in modes:
        m.eval()
    try:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
            if "mask" not in batch or "active" not in batch:
                raise ValueError("rca diagnosis: the dataset's items carry no ground truth ('mask', 'active')")
            out, I_a, I_v = _avm_pass(model, avm, batch, cfg, device)
            B = I_a.shape[0]
            mask, active = batch["mask"].cpu(), batch["active"].cpu()
            truth = {"snd": object_patches(sounding_mask(mask, active), p), "act": active_patches(active, cfg.audio_grid, p)}
            for name, q in past.items():
                if q is None:
                    qa = qv = None
                else:
                    rows = torch.randint(0, q[0].shape[0], (B,), generator=g_pair)
                    qa, qv = q[0][rows].to(device), q[1][rows].to(device)
                for temp in temperatures:
                    c = replace(cfg, selection=replace(cfg.selection, corr_temperature=temp, empty_memory="sample"))
                    yield batch, truth, out, (I_a, I_v), (name, temp), c, (qa, qv), g
    finally:
        for m, mode in modes:
            m.train(mode)


def rca_frame(model: torch.nn.Module, avm: torch.nn.Module, dataset: Any, cfg: Config,
              past: dict[str, tuple[torch.Tensor, torch.Tensor] | None] | None = None,
              temperatures: tuple[str, ...] = TEMPERATURES, seed: int = 0, draws: int = 4, batch_size: int = 32,
              device: str | torch.device = "cpu") -> pd.DataFrame:
    """One row per clip x past x temperature (module docstring). ``past`` maps a name to past pooled queries
    (q_a, q_v) (R, H, d) or None (empty memory); default {"none": None}. Columns: ``label``, ``past``,
    ``temperature``, ``sounding_patches`` / ``active_patches`` (shares of the clip), ``judged_sounding`` /
    ``judged_active`` (share of them inside Eq. 3's kappa), ``C_sounding``, ``C_other_video``, ``C_active``,
    ``C_silent_audio`` (mean C over every patch of the group = expected excluded share) and the same with
    ``_judged`` (mean C over the group's judged patches only; NaN where none is judged), ``kept_sounding_<s>``
    and ``kept_active_<s>`` for s in rca, stella, lpis, random."""
    if draws < 1:
        raise ValueError(f"rca_frame: draws must be >= 1, got {draws}")
    past = {"none": None} if past is None else past
    rows = []
    for batch, truth, out, (I_a, I_v), (name, temp), c, (qa, qv), g in _passes(
            model, avm, dataset, cfg, past, temperatures, seed, batch_size, device):
        snd, act = truth["snd"], truth["act"]
        sc = c.selection
        keep_v = pooled_queries(out.q_v, out.k_v, I_v, kappa(I_v.shape[1], sc.rho_v), sc.descending)[2].cpu()
        keep_a = pooled_queries(out.q_a, out.k_a, I_a, kappa(I_a.shape[1], sc.rho_a), sc.descending)[2].cpu()
        judged_v = torch.zeros_like(snd).scatter_(1, keep_v, True)
        judged_a = torch.zeros_like(act).scatter_(1, keep_a, True)
        row: dict[str, Any] = {"label": batch["label"].numpy(), "past": name, "temperature": temp,
                               "sounding_patches": snd.double().mean(1).numpy(),
                               "active_patches": act.double().mean(1).numpy(),
                               "judged_sounding": kept_share(keep_v, snd).numpy(),
                               "judged_active": kept_share(keep_a, act).numpy()}
        for s in STRATEGIES:
            sels = [select(c, out, I_a, I_v, qa, qv, g, strategy=s) for _ in range(draws)]
            if s == "stella":
                C_a, C_v = sels[0].C_a.cpu(), sels[0].C_v.cpu()
                for name_, C, target, judged in (("sounding", C_v, snd, judged_v), ("other_video", C_v, ~snd, judged_v),
                                                 ("active", C_a, act, judged_a), ("silent_audio", C_a, ~act, judged_a)):
                    row[f"C_{name_}"] = _mean_over(C, target).numpy()
                    row[f"C_{name_}_judged"] = _mean_over(C, target & judged).numpy()
            row[f"kept_sounding_{s}"] = torch.stack([kept_share(x.idx_v.cpu(), snd) for x in sels]).mean(0).numpy()
            row[f"kept_active_{s}"] = torch.stack([kept_share(x.idx_a.cpu(), act) for x in sels]).mean(0).numpy()
        rows.append(pd.DataFrame(row))
    return pd.concat(rows, ignore_index=True)


def c_values(model: torch.nn.Module, avm: torch.nn.Module, dataset: Any, cfg: Config,
             past: dict[str, tuple[torch.Tensor, torch.Tensor] | None] | None = None,
             temperatures: tuple[str, ...] = TEMPERATURES, seed: int = 0, batch_size: int = 32,
             device: str | torch.device = "cpu") -> pd.DataFrame:
    """C per patch, for its distribution: one row per clip x patch x past x temperature with ``clip``,
    ``modality`` ("audio" / "video"), ``target`` (sounding video patch / active audio patch), ``past``,
    ``temperature`` and ``C`` (Eq. 4, 0 outside the judged kappa)."""
    past = {"none": None} if past is None else past
    frames, offset, last = [], 0, None
    for batch, truth, out, (I_a, I_v), (name, temp), c, (qa, qv), g in _passes(
            model, avm, dataset, cfg, past, temperatures, seed, batch_size, device):
        if last is not None and batch is not last:
            offset += last["label"].shape[0]
        last = batch
        sel = select(c, out, I_a, I_v, qa, qv, g, strategy="stella")
        for modality, C, target in (("video", sel.C_v.cpu(), truth["snd"]), ("audio", sel.C_a.cpu(), truth["act"])):
            B, L = C.shape
            frames.append(pd.DataFrame({"clip": (offset + torch.arange(B)[:, None].expand(B, L)).reshape(-1).numpy(),
                                        "modality": modality, "target": target.reshape(-1).numpy(),
                                        "past": name, "temperature": temp, "C": C.reshape(-1).double().numpy()}))
    return pd.concat(frames, ignore_index=True)


def rca_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Means of :func:`rca_frame` per (past, temperature): one row each, every numeric column averaged over
    clips (NaN entries, e.g. clips with no active patch, left out)."""
    cols = [k for k in frame.columns if k not in ("label", "past", "temperature")]
    return frame.groupby(["past", "temperature"], sort=False)[cols].mean().reset_index()


__all__ = ["memory_queries", "pooled_query_bank", "query_similarity", "similarity_frame", "rca_frame", "c_values",
           "rca_summary"]
