"""The task-free stream: batches of D_1 .. D_T in order, resumable at any batch.

The order of task t, epoch e is a permutation drawn from a generator seeded by
(run seed, t, e), so the stream is a pure function of its position and a resumed run sees
exactly the batches it would have seen. Under torchrun each rank takes an interleaved
shard of the same permutation. Multitask (the upper bound) sees one "task" holding the
union of all tasks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch.utils.data import ConcatDataset, Dataset, default_collate


@dataclass(frozen=True)
class Position:
    task: int = 0
    epoch: int = 0
    batch: int = 0      # next batch to run within (task, epoch)
    step: int = 0       # optimiser steps so far


def stream_seed(seed: int, task: int, epoch: int) -> int:
    return (seed * 1_000_003 + task * 10_007 + epoch * 101 + 17) % (2**62)


def epoch_order(n: int, seed: int, task: int, epoch: int, rank: int = 0, world: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(stream_seed(seed, task, epoch))
    return torch.randperm(n, generator=g)[rank::world]


def num_batches(n: int, batch_size: int, world: int = 1) -> int:
    """Full batches per epoch on one rank; a trailing partial batch is dropped (in-batch negatives)."""
    return (n // world) // batch_size


def batches(dataset: Dataset, batch_size: int, seed: int, task: int, epoch: int, start: int = 0,
            rank: int = 0, world: int = 1) -> Iterator[tuple[int, dict]]:
    """Yield (batch index, collated batch) of one epoch of one task, from batch ``start`` on."""
    order = epoch_order(len(dataset), seed, task, epoch, rank, world)
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    for i in range(start, num_batches(len(dataset), batch_size, world)):
        idx = order[i * batch_size:(i + 1) * batch_size].tolist()
        yield i, default_collate([dataset[j] for j in idx])


class JointDataset(ConcatDataset):
    """Union of all tasks' train sets (Multitask); forwards set_epoch to its parts."""

    def set_epoch(self, epoch: int) -> None:
        for d in self.datasets:
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)
