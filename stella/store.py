"""Run store: every run lives in ``results/<digest>/``, keyed by its resolved config.

Layout of one run directory::

    config.json        resolved Config + package version (written first)
    checkpoint.pt      latest resumable state (trainer)
    <name>.json        metrics, accuracy matrices, tables (atomic)
    <name>.pt          tensors (atomic)
    COMPLETE           marker written last; a run without it is incomplete

Every write goes to a temporary file in the same directory and is renamed over the
target, so a crash never leaves a half-written file that is later read as complete.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from stella import __version__
from stella.config import Config, from_dict


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n").encode())


def atomic_torch_save(path: str | Path, obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_default(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot store {type(o).__name__} as JSON")


class RunDir:
    """One run's directory; created with its config, read back with checks."""

    def __init__(self, root: Path, config: Config):
        self.config = config
        self.key = config.digest()
        self.path = Path(root) / self.key
        cfg_file = self.path / "config.json"
        if cfg_file.exists():
            stored = json.loads(cfg_file.read_text())
            if stored.get("config") != config.to_dict():
                raise ValueError(f"{cfg_file}: run directory belongs to another config (digest collision or edited file)")
        else:
            atomic_write_json(cfg_file, {"config": config.to_dict(), "version": __version__, "key": self.key})

    @property
    def complete(self) -> bool:
        return (self.path / "COMPLETE").exists()

    def mark_complete(self) -> None:
        atomic_write_bytes(self.path / "COMPLETE", b"ok\n")

    def file(self, name: str) -> Path:
        return self.path / name

    def save_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.path / f"{name}.json", obj)

    def load_json(self, name: str) -> Any:
        f = self.path / f"{name}.json"
        if not f.exists():
            raise FileNotFoundError(f"{f}: run {self.key} has no result named {name!r}")
        return json.loads(f.read_text())

    def has(self, name: str) -> bool:
        return (self.path / f"{name}.json").exists() or (self.path / f"{name}.pt").exists()

    def save_tensors(self, name: str, obj: Any) -> None:
        atomic_torch_save(self.path / f"{name}.pt", obj)

    def load_tensors(self, name: str) -> Any:
        f = self.path / f"{name}.pt"
        if not f.exists():
            raise FileNotFoundError(f"{f}: run {self.key} has no tensors named {name!r}")
        return torch.load(f, map_location="cpu", weights_only=True)


class RunStore:
    """``store.run(config, compute)`` returns a complete RunDir, computing it only once."""

    def __init__(self, root: str | Path = "results"):
        self.root = Path(root)

    def dir(self, config: Config) -> RunDir:
        return RunDir(self.root, config)

    def run(self, config: Config, compute: Callable[[RunDir], None]) -> RunDir:
        rd = self.dir(config)
        if not rd.complete:
            compute(rd)
            rd.mark_complete()
        return rd

    def runs(self) -> list[dict]:
        out = []
        for cfg_file in sorted(self.root.glob("*/config.json")):
            meta = json.loads(cfg_file.read_text())
            out.append({"key": cfg_file.parent.name, "preset": meta["config"].get("preset"),
                        "method": meta["config"]["continual"]["method"],
                        "complete": (cfg_file.parent / "COMPLETE").exists()})
        return out

    @staticmethod
    def config_of(run_path: str | Path) -> Config:
        f = Path(run_path) / "config.json"
        if not f.exists():
            raise FileNotFoundError(f"{f}: not a run directory (no config.json)")
        return from_dict(json.loads(f.read_text())["config"])
