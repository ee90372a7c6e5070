"""Task splits of Continual-VS and Continual-AS (appendix B, Table 7) and a manifest splitter.

``splits/<benchmark>.json`` holds the default and shuffled task orders, the VGGSound/AudioSet
category -> task map and a curated, partial label -> task list (see its "note"). A user's own
label,category CSV (VGGSound's stat.csv format) takes precedence over the curated list.

A manifest entry names local files (:func:`media_paths`): a relative path is resolved against the
manifest's folder (``RELATIVE_RULE``), a URL is refused. Entries that repeat a clip (the same video
file, or the same ``video_id``) are named and kept once (:func:`drop_duplicates`) before any split, so
no clip is ever in two splits.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import re
from pathlib import Path

SPLIT_DIR = Path(__file__).parent / "splits"
BENCHMARKS = ("continual-vs", "continual-as")
RELATIVE_RULE = "a relative path in a manifest is resolved against the manifest's folder, not the working directory"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
log = logging.getLogger(__name__)


class EntryError(ValueError):
    """A manifest entry that names no usable local file: ``reason`` (bad_entry, url), the message and the
    ``value`` at fault (the URL; None when the entry has no path)."""

    def __init__(self, reason: str, message: str, value: str | None = None):
        super().__init__(message)
        self.reason, self.value = reason, value


def entry_files(entry: dict) -> tuple[str, str]:
    """The (video, audio) paths of a manifest entry as written; the audio is the video's unless "wav" is set.
    Raises EntryError for an entry without a path or with a URL (http://, file://, ...: a manifest names
    local files)."""
    v = entry.get("video_path") or entry.get("video") or entry.get("path") or entry.get("wav")
    if v is None:
        raise EntryError("bad_entry", "entry has none of video_path / video / path / wav")
    a = entry.get("wav") or v
    for p in (v, a):
        if not isinstance(p, str):
            raise EntryError("bad_entry", f"{json.dumps(p)[:40]} is not a path")
        if _URL.match(p):
            raise EntryError("url", f"{p} is a URL; a manifest names local files (download it and list its path)", p)
    return v, a


def media_paths(entry: dict, root: Path | None = None) -> tuple[Path, Path]:
    """(video file, audio file) of a manifest entry (:func:`entry_files`), a relative path joined to ``root``
    (the manifest's folder)."""
    return tuple(Path(p) if root is None or Path(p).is_absolute() else root / p for p in entry_files(entry))


def drop_duplicates(entries: list[dict], root: Path | None, where: str | Path) -> tuple[list[dict], list[dict]]:
    """(entries kept, duplicates): an entry whose video file (after symbolic links) or ``video_id`` an
    earlier entry has is dropped and named in one warning line; each duplicate is ``{"index", "of", "why"}``
    (manifest positions). Entries without a usable path are kept (the dataset names them)."""
    kept, dups, seen = [], [], {}
    for i, e in enumerate(entries):
        keys = []
        try:
            keys.append(("video file", os.path.realpath(media_paths(e, root)[0])))
        except EntryError:
            pass
        if e.get("video_id") not in (None, ""):
            keys.append(("video_id", str(e["video_id"])))
        first = next(((kind, value, seen[(kind, value)]) for kind, value in keys if (kind, value) in seen), None)
        if first is not None:
            dups.append({"index": i, "of": first[2], "why": f"same {first[0]} {first[1]}"})
            continue
        for k in keys:
            seen[k] = i
        kept.append(e)
    if dups:
        named = "; ".join(f"entry {d['index']} ({d['why']} as entry {d['of']})" for d in dups[:3])
        more = f" and {len(dups) - 3} more" if len(dups) > 3 else ""
        log.warning("%s: %d duplicate entries dropped, the first of each kept: %s%s", where, len(dups), named, more)
    return kept, dups


def load_split(benchmark: str) -> dict:
    """The JSON split of ``benchmark``: orders, category_to_task, tasks (task -> labels), note."""
    if benchmark not in BENCHMARKS:
        raise ValueError(f"data.benchmark: unknown benchmark {benchmark!r} (known: {', '.join(BENCHMARKS)})")
    return json.loads((SPLIT_DIR / f"{benchmark}.json").read_text())


def resolve_task_order(spec: str, names: list[str], shuffled: list[str]) -> list[str]:
    """``"default"`` -> names, ``"shuffled"`` -> shuffled, or a comma-separated permutation of names.

    Raises ValueError naming any unknown, repeated or missing task.
    """
    if spec == "default":
        return list(names)
    if spec == "shuffled":
        return list(shuffled)
    order = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [s for s in order if s not in names]
    if unknown:
        raise ValueError(f"data.task_order: unknown task name(s) {unknown} (known: {', '.join(names)}; "
                         f"or 'default' / 'shuffled')")
    dup = sorted({s for s in order if order.count(s) > 1})
    if dup:
        raise ValueError(f"data.task_order: task(s) {dup} listed more than once")
    missing = [n for n in names if n not in order]
    if missing:
        raise ValueError(f"data.task_order: task(s) {missing} missing; list every task exactly once")
    return order


def benchmark_order(benchmark: str, spec: str) -> list[str]:
    """The task sequence of a real benchmark for ``cfg.data.task_order``."""
    s = load_split(benchmark)
    return resolve_task_order(spec, s["default_order"], s["shuffled_order"])


def read_category_csv(path: str | Path) -> dict[str, str]:
    """``label,category`` rows (VGGSound's stat.csv format; a header row is ignored) -> dict."""
    out: dict[str, str] = {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if len(row) < 2 or (row[0].strip().lower(), row[1].strip().lower()) == ("label", "category"):
                continue
            out[row[0].strip()] = row[1].strip()
    return out


def label_to_task(benchmark: str, category_csv: str | Path | None = None) -> dict[str, str]:
    """Label -> task name: the curated list, overridden by the user's CSV where given."""
    s = load_split(benchmark)
    mapping = {label: task for task, labels in s["tasks"].items() for label in labels}
    if category_csv:
        if not Path(category_csv).is_file():
            raise FileNotFoundError(f"data.category_csv: {category_csv} " + ("is not a file" if Path(category_csv).exists()
                                                                             else "does not exist"))
        tasks = set(s["default_order"])
        part1 = set(s.get("others_part1_labels", []))
        bad: dict[str, list[str]] = {}
        for label, cat in read_category_csv(category_csv).items():
            c = cat.lower()
            task = cat if cat in tasks else s["category_to_task"].get(c)
            if task == "others_part2" and label in part1:
                task = "others_part1"
            if task is None:
                bad.setdefault(cat, []).append(label)
                continue
            mapping[label] = task
        if bad:
            log.warning("%s: unknown categories %s (known: %s); their labels are unassigned", category_csv,
                        ", ".join(sorted(bad)), ", ".join(sorted(s["category_to_task"])))
    return mapping


def entry_labels(entry: dict) -> list[str]:
    """Candidate labels of a manifest entry, best first: a list, or a string that is tried whole (VGGSound
    names such as "playing violin, fiddle" hold commas) and then split at commas (CAV-MAE's MID lists)."""
    labels = entry.get("labels", entry.get("label", []))
    if isinstance(labels, str):
        labels = [labels] + ([l for l in labels.split(",")] if "," in labels else [])
    return [str(l).strip() for l in labels if str(l).strip()]


def read_manifest(manifest: str | Path | list | dict) -> list[dict]:
    """A JSON list of entries or CAV-MAE's ``{"data": [...]}``; a path or the loaded object."""
    data = manifest
    if isinstance(manifest, (str, Path)):
        data = json.loads(Path(manifest).read_text())
    if isinstance(data, dict):
        data = data.get("data")
    if not isinstance(data, list):
        raise ValueError(f"manifest {manifest if isinstance(manifest, (str, Path)) else ''}: "
                         "expected a JSON list or {\"data\": [...]}")
    return data


def assign_tasks(entries: list[dict], mapping: dict[str, str]) -> tuple[dict[str, list[dict]], dict[str, int]]:
    """Group entries by the task of their first known label; unknown labels counted, not dropped silently."""
    by_task: dict[str, list[dict]] = {}
    unknown: dict[str, int] = {}
    for e in entries:
        labels = entry_labels(e)
        task = next((mapping[l] for l in labels if l in mapping), None)
        if task is None:
            key = ",".join(labels) or "<no label>"
            unknown[key] = unknown.get(key, 0) + 1
            continue
        by_task.setdefault(task, []).append(e)
    return by_task, unknown


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def split_manifest(manifest: str | Path | list | dict, benchmark: str, out_dir: str | Path,
                   category_csv: str | Path | None = None, task_order: str = "default") -> dict:
    """Write one CAV-MAE-style manifest per task, ``NN_<task>.json``, in the configured task order
    (duplicate entries dropped, :func:`drop_duplicates`).

    Returns ``{"order", "files": task -> path, "counts": task -> clips, "unknown": label -> clips}``;
    unknown labels are also written to ``unknown_labels.json`` and logged as a warning.
    """
    root = Path(manifest).parent if isinstance(manifest, (str, Path)) else None
    entries, _ = drop_duplicates(read_manifest(manifest), root, manifest if root is not None else "manifest")
    order = benchmark_order(benchmark, task_order)
    by_task, unknown = assign_tasks(entries, label_to_task(benchmark, category_csv))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files, counts = {}, {}
    for pos, task in enumerate(order):
        path = out / f"{pos + 1:02d}_{_slug(task)}.json"
        path.write_text(json.dumps({"data": by_task.get(task, [])}, indent=1))
        files[task], counts[task] = str(path), len(by_task.get(task, []))
    (out / "unknown_labels.json").write_text(json.dumps(unknown, indent=1, sort_keys=True))
    if unknown:
        n = sum(unknown.values())
        log.warning("split_manifest: %d clips with %d labels not in the %s split, e.g. %s; listed in %s "
                    "(pass category_csv=VGGSound's stat.csv to assign them)", n, len(unknown), benchmark,
                    ", ".join(sorted(unknown)[:5]), out / "unknown_labels.json")
    log.info("split_manifest: %s", ", ".join(f"{t}={c}" for t, c in counts.items()))
    return {"order": order, "files": files, "counts": counts, "unknown": unknown}
