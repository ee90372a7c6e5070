"""Run store: every run lives in ``results/<digest>/``, keyed by its resolved config.

Layout of one run directory::

    config.json           resolved Config + package version (written first)
    run.lock              flock'ed by the process computing the run; a second one waits, then reuses
    checkpoint.pt         latest resumable state (trainer); checkpoint.prev.pt the one before it
    <name>.json           metrics, accuracy matrices, tables (atomic)
    <name>.pt             tensors (atomic)
    COMPLETE              marker written last, listing every result file and its size; a run without it
                          is incomplete

Files are written atomically (:mod:`stella.atomic`); a run is computed once, under its lock, and
verified before it is used (:mod:`stella.store_protocol`: sizes and sha256 of every file COMPLETE
lists); here a run's ``config.json`` is also checked to be its config's and its ``summary.json``
against :data:`SUMMARY_SCHEMA`. ``stella runs --clean`` lists, and with ``--yes`` removes, incomplete,
unreadable, damaged and moved-aside directories (:meth:`RunStore.runs`, :func:`remove`); only those
the store made (:func:`stella.store_protocol.removal_problem`), never through a symbolic link, and
every path it will not touch is named.
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
from pathlib import Path
from typing import Any, Callable

import jsonschema
import torch

from stella import __version__
from stella.atomic import StoreError, atomic_torch_save, atomic_write_bytes, atomic_write_json, read_json
from stella.config import Config, ConfigError, from_dict, hashed_part
from stella.store_protocol import (ASIDE, MARKER, RESUME_STATE, CannotComplete, busy, compute_once, file_problem, locked,
                                   make_dir, move_aside, removal_problem, remove_made, verify_complete)

RUN_FILES = ("config.json", "results.json", "summary.json", "meta.json")   # every complete training run has them
STAGE_FILES = ("spec.json", "weights.pt", "log.json", "summary.json")      # ... and every pre-training stage
KEYED = re.compile(r"[0-9a-f]{16}(\.damaged-.+)?")                           # the directories the store makes
# summary.json of a training run (stella.eval.run_eval.summarize_results; tests/test_store.py checks the names)
SUMMARY_SCHEMA = {
    "type": "array", "minItems": 1,
    "items": {"type": "object", "additionalProperties": False, "required": ["direction", "metric", "A", "F"],
              "properties": {"direction": {"enum": ["A→V", "V→A"]}, "metric": {"enum": ["R@1", "R@5", "R@10", "avg"]},
                             "A": {"type": "number"}, "F": {"type": "number"}}}}


def _config_problems(directory: Path, config: Config) -> list[str]:
    """Why ``directory/config.json`` is not ``config``'s ([] when it is, or when there is none yet)."""
    f = directory / "config.json"
    if not f.exists():
        return [f"{f}: missing"] if (directory / "COMPLETE").exists() else []
    try:
        stored = read_json(f)
    except (ValueError, OSError) as e:
        return [str(e)]
    if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
        return [f"{f}: not a run's config.json (no \"config\" object)"]
    if hashed_part(stored["config"]) != config.key_dict():
        return [f"{f}: run directory belongs to another config (digest collision or edited file)"]
    return []


def _summary_problems(directory: Path) -> list[str]:
    """Why a complete run's ``summary.json`` does not follow :data:`SUMMARY_SCHEMA` ([] when it does)."""
    f = directory / "summary.json"
    if not (directory / "COMPLETE").is_file() or not f.is_file():
        return []
    try:
        summary = read_json(f)
    except (ValueError, OSError) as e:
        return [str(e)]
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(SUMMARY_SCHEMA).iter_errors(summary))
    if error is None:
        return []
    where = "/".join(map(str, error.absolute_path)) or "top level"
    return [f"{f}: not a run summary ({where}: {' '.join(error.message.split())[:100]})"]


def _stored_config_problems(directory: Path) -> list[str]:
    """Why ``directory/config.json`` is not a config this package trains under the directory's name."""
    f = directory / "config.json"
    try:
        stored = read_json(f)
        cfg = from_dict(stored["config"])
        version = stored.get("version")
    except FileNotFoundError:
        return [f"{f}: missing"]
    except (ValueError, OSError) as e:          # ConfigError is a ValueError: names the key
        return [f"{f}: {e}" if isinstance(e, ConfigError) else str(e)]
    except (KeyError, TypeError, AttributeError):
        return [f"{f}: not a run's config.json (no \"config\" object)"]
    if KEYED.fullmatch(directory.name) and ASIDE not in directory.name and \
            cfg.digest(version if isinstance(version, str) else None) != directory.name:
        return [f"{f}: its config's run key is not {directory.name} (an edited file, or another run's)"]
    return []


class RunDir:
    """One run's directory; created with its config, read back with checks."""

    def __init__(self, root: Path, config: Config):
        self.config = config
        self.key = config.digest()
        self.path = Path(root) / self.key
        self.computed = False          # True when this process computed the run (RunStore.run)
        cfg_file = self.path / "config.json"
        if cfg_file.exists():
            problems = _config_problems(self.path, config)
            if problems:
                raise StoreError(problems[0])
        else:
            make_dir(self.path)
            atomic_write_json(cfg_file, {"config": config.to_dict(), "version": __version__, "key": self.key})

    @property
    def complete(self) -> bool:
        return (self.path / "COMPLETE").exists()

    def file(self, name: str) -> Path:
        return self.path / name

    def save_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.path / f"{name}.json", obj)

    def load_json(self, name: str) -> Any:
        f = self.path / f"{name}.json"
        if not f.exists():
            raise FileNotFoundError(f"{f}: run {self.key} has no result named {name!r}")
        return read_json(f)

    def has(self, name: str) -> bool:
        return (self.path / f"{name}.json").exists() or (self.path / f"{name}.pt").exists()

    def save_tensors(self, name: str, obj: Any) -> None:
        atomic_torch_save(self.path / f"{name}.pt", obj)

    def load_tensors(self, name: str) -> Any:
        f = self.path / f"{name}.pt"
        if not f.exists():
            raise FileNotFoundError(f"{f}: run {self.key} has no tensors named {name!r}")
        try:
            return torch.load(f, map_location="cpu", weights_only=True)
        except Exception as e:
            raise StoreError(f"{f}: damaged ({' '.join(str(e).split())[:120]}); delete the run directory "
                             f"{self.path} to train it again") from e

    def last_task(self) -> int:
        """1-based number of the last ``model_after_task<N>.pt`` the run saved: meta.json's record of
        the run (written at its end), else the files present. Multitask runs have one."""
        meta = self.path / "meta.json"
        if meta.exists():
            last = read_json(meta).get("last_task")
            if isinstance(last, int) and not isinstance(last, bool):
                return last
        saved = [int(m.group(1)) for p in self.path.glob("model_after_task*.pt")
                 if (m := re.fullmatch(r"model_after_task(\d+)\.pt", p.name))]
        if not saved:
            raise FileNotFoundError(f"{self.path}: run {self.key} has saved no model_after_task*.pt yet")
        return max(saved)


class RunStore:
    """``store.run(config, compute)`` returns a complete RunDir, computing it only once.

    Processes that ask for the same run key at the same time serialise on the run's lock file: one
    computes, the others wait and then reuse its result.
    """

    def __init__(self, root: str | Path = "results"):
        if not str(root).strip():
            raise StoreError("run store: an empty path; name a directory (the default is results)")
        self.root = Path(root)

    def dir(self, config: Config) -> RunDir:
        return RunDir(self.root, config)

    def _link_problem(self) -> str | None:
        """A store path that is a symbolic link leading nowhere (dangling or a loop), named."""
        if not self.root.is_symlink():
            return None
        try:
            self.root.stat()
        except OSError as e:
            what = "a loop of symbolic links" if e.errno == errno.ELOOP else f"a symbolic link to {os.readlink(self.root)}, which does not exist"
            return f"{self.root}: {what}; point it at a directory or remove it"
        return None

    def writable(self) -> None:
        """Raise StoreError unless the store directory exists (or can be made) and takes new files."""
        if (link := self._link_problem()) is not None:
            raise StoreError(link)
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{self.root}: is a file, not a run store directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"{self.root}: cannot create the run store directory ({e.strerror})") from e
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreError(f"{self.root}: run store directory is not writable")

    def run(self, config: Config, compute: Callable[[RunDir], None]) -> RunDir:
        path = self.root / config.digest()
        if not (path / "COMPLETE").exists():
            self.writable()
        computed = compute_once(path, lambda _: compute(RunDir(self.root, config)), path.name,
                                check=lambda d: _config_problems(d, config) + _summary_problems(d), required=RUN_FILES)
        rd = RunDir(self.root, config)
        rd.computed = computed
        return rd

    def runs(self) -> list[dict]:
        """One row per directory named like the store's (a key, or a key moved aside), runs first, then
        pre-training stages: ``key``, ``kind`` ("run", "stage", or "link" for a symbolic link the store
        does not follow, ``pretrain`` included), ``path``, ``state`` and, for a run with a readable
        config.json, ``preset`` and ``method``. States: complete, incomplete, running (its lock is held),
        damaged (complete, but a file does not verify: ``error`` names it; the next run that needs it
        computes it again), unreadable (a config.json that does not parse, or that the trainer rejects:
        ``error``), moved aside (a damaged directory's files), not followed (a symbolic link). ``keep``
        names why ``--clean`` leaves a row's directory alone (:func:`stella.store_protocol.removal_problem`)."""
        if (link := self._link_problem()) is not None:
            raise StoreError(link)
        if not self.root.is_dir():
            raise StoreError(f"{self.root}: " + ("is a file, not a run store directory" if self.root.exists()
                                                 else "no such run store directory"))
        stages = self.root / "pretrain"
        rows = [_entry(d, "run") for d in sorted(self.root.iterdir()) if KEYED.fullmatch(d.name)]
        if stages.is_symlink():
            rows.append(_link_row(stages, "its stages are not listed or removed"))
        elif stages.is_dir():
            rows += [_entry(d, "stage") for d in sorted(stages.iterdir()) if KEYED.fullmatch(d.name)]
        return [r for r in rows if r is not None]

    def removable(self) -> list[dict]:
        """The rows of :meth:`runs` that ``stella runs --clean`` removes: every state but complete, running
        and not followed, in a directory the store made (no ``keep``)."""
        return [r for r in self.runs() if r["state"] not in ("complete", "running", "not followed") and "keep" not in r]

    def kept(self) -> list[dict]:
        """The rows ``--clean`` would remove but leaves alone, each with its ``keep`` reason."""
        return [r for r in self.runs() if r["state"] not in ("complete", "running") and "keep" in r]


def _link_row(d: Path, what: str) -> dict:
    why = f"{d}: a symbolic link (to {os.readlink(d)}); the store never follows one, {what}"
    return {"key": d.name, "kind": "link", "path": str(d), "state": "not followed", "complete": False, "keep": why}


def _entry(d: Path, kind: str) -> dict | None:
    """The row of a store entry named like a key: a directory's (:func:`_row`), a symbolic link's, none for a file."""
    if d.is_symlink():
        return _link_row(d, "it is not listed or removed")
    return _row(d, kind) if d.is_dir() else None


def _row(d: Path, kind: str) -> dict:
    row: dict[str, Any] = {"key": d.name, "kind": kind, "path": str(d)}
    if (keep := removal_problem(d)) is not None:
        row["keep"] = keep
    if ASIDE in d.name:
        return {**row, "state": "moved aside", "complete": False}
    if kind == "run":
        cfg_file = d / "config.json"
        try:
            cfg = read_json(cfg_file)["config"]
            row.update(preset=cfg.get("preset"), method=cfg["continual"]["method"])
        except FileNotFoundError:
            row["error"] = f"{cfg_file}: missing"
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            row["error"] = str(e) if isinstance(e, ValueError) else f"{cfg_file}: not a run's config.json"
        if "error" not in row and (problems := _stored_config_problems(d)):
            row["error"] = problems[0]
    complete = os.path.lexists(d / "COMPLETE")
    row["complete"] = complete
    if complete and "error" not in row:
        problems = verify_complete(d, RUN_FILES if kind == "run" else STAGE_FILES)
        problems += _summary_problems(d) if kind == "run" and not problems else []
        if problems:
            row["error"] = problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
            row["state"] = "damaged"
    if "state" not in row:
        row["state"] = "running" if busy(d) else "unreadable" if "error" in row and (d / "config.json").exists() \
            else "complete" if complete else "incomplete"
    return row


def remove(row: dict) -> None:
    """Remove the directory of a :meth:`RunStore.runs` row, unless a process started computing it meanwhile
    or the store did not make it (:func:`stella.store_protocol.remove_made`: StoreError naming the path)."""
    d = Path(row["path"])
    if (why := removal_problem(d)) is not None:
        raise StoreError(f"{why}; not removed")
    lock = d / "run.lock"
    fd = os.open(lock, os.O_RDONLY) if lock.is_file() else None
    try:
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(f"{d}: a process started computing it; not removed") from None
        remove_made(d)
    finally:
        if fd is not None:
            os.close(fd)


__all__ = ["StoreError", "CannotComplete", "RunDir", "RunStore", "RUN_FILES", "STAGE_FILES", "SUMMARY_SCHEMA", "MARKER",
           "remove", "atomic_write_bytes", "atomic_write_json", "atomic_torch_save", "read_json", "locked", "compute_once",
           "verify_complete", "file_problem", "move_aside", "busy", "ASIDE", "RESUME_STATE"]
