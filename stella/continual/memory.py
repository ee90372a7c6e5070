"""Rehearsal memory with reservoir sampling (Vitter, 1985).

Items are dicts of tensors with fixed per-item shapes (raw clips, selected patches with
their positions, pooled queries q^, scores I and C, DER++ targets c_a / c_v ...). Storage
is preallocated on first insertion, so ``nbytes`` is the memory's true footprint. All
randomness comes from the torch.Generator passed in, which makes the reservoir exactly
reproducible and resumable.
"""
from __future__ import annotations

import torch


class ReservoirMemory:
    def __init__(self, capacity: int):
        if capacity < 0:
            raise ValueError(f"memory capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self.seen = 0                      # stream samples offered so far (Vitter's n)
        self.size = 0
        self.data: dict[str, torch.Tensor] = {}

    def __len__(self) -> int:
        return self.size

    def _allocate(self, items: dict[str, torch.Tensor]) -> None:
        self.data = {k: torch.zeros((self.capacity, *v.shape[1:]), dtype=v.dtype) for k, v in items.items()}

    def add(self, items: dict[str, torch.Tensor], generator: torch.Generator) -> torch.Tensor:
        """Offer a batch (each value (B, ...)) to the reservoir; returns the slots written (B,), -1 = rejected."""
        if self.capacity == 0:
            b = next(iter(items.values())).shape[0]
            self.seen += b
            return torch.full((b,), -1, dtype=torch.long)
        items = {k: v.detach().to("cpu") for k, v in items.items()}
        if not self.data:
            self._allocate(items)
        if set(items) != set(self.data):
            raise KeyError(f"memory items have keys {sorted(self.data)}, got {sorted(items)}")
        b = next(iter(items.values())).shape[0]
        slots = torch.full((b,), -1, dtype=torch.long)
        for i in range(b):
            if self.size < self.capacity:
                slot = self.size
                self.size += 1
            else:
                j = int(torch.randint(0, self.seen + 1, (1,), generator=generator))
                slot = j if j < self.capacity else -1
            self.seen += 1
            if slot >= 0:
                slots[i] = slot
                for k, v in items.items():
                    self.data[k][slot] = v[i]
        return slots

    def sample(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> dict[str, torch.Tensor] | None:
        """Draw min(n, size) distinct items uniformly; None while the memory is empty."""
        if self.size == 0 or n <= 0:
            return None
        idx = torch.randperm(self.size, generator=generator)[: min(n, self.size)]
        out = {k: v[idx].to(device) for k, v in self.data.items()}
        out["slot"] = idx.to(device)
        return out

    def update(self, slots: torch.Tensor, key: str, values: torch.Tensor) -> None:
        """Overwrite stored entries in place (GMED edits memory samples)."""
        self.data[key][slots.cpu()] = values.detach().to("cpu", self.data[key].dtype)

    def nbytes(self) -> int:
        return sum(v.numel() * v.element_size() for v in self.data.values())

    @staticmethod
    def item_bytes(items: dict[str, torch.Tensor]) -> int:
        """Bytes one item of this batch would take in the memory."""
        return sum(v[0].numel() * v.element_size() for v in items.values())

    def state_dict(self) -> dict:
        return {"capacity": self.capacity, "seen": self.seen, "size": self.size, "data": dict(self.data)}

    def load_state_dict(self, state: dict) -> None:
        self.capacity, self.seen, self.size = state["capacity"], state["seen"], state["size"]
        self.data = dict(state["data"])
