"""Real audio-video clips from a CAV-MAE-style manifest, decoded with PyAV (appendix B).

Entries are ``{"video_id", "video_path" | "video" | "path", "wav" (optional), "labels"}``. Each
clip gives T RGB frames at evenly spaced timestamps and its audio resampled to 16 kHz mono -> fbank
(:mod:`stella.data.decode`). Every clip is decoded in full, every packet of both streams, when its
dataset is built, and its un-augmented tensors are kept (:class:`DecodedClips`, up to
``CACHE_BYTES`` per benchmark; beyond that a clip is decoded again when it is read). So a clip that
fails anywhere in decoding is found before training starts: it is skipped, counted in
``dataset.skipped`` (reason -> files) and named with the decoder's message in
``dataset.skip_details`` and ``benchmark.info["skipped"]`` (the trainer writes them to the run's
``skipped.json``), the file at fault named (a clip's ``wav`` when its audio is to blame). Entries that
repeat a clip are named and kept once before the split (:func:`stella.data.splits.drop_duplicates`),
so no clip is in two splits; a URL is refused (``url``) and a missing file's reason says how relative
paths resolve (``RELATIVE_RULE``). The stream of batches is fixed from the start, deterministic and resumable, and
no damaged file can stop a run midway. Clips whose fbank covers at least ``min_fraction`` of
``audio_frames`` are zero-padded to it, as CAV-MAE does for VGGSound's 10 s clips
(998 frames -> 1024); the count is ``dataset.padded``.

Theora/Vorbis ``.ogg`` files are not corrupt: an ogg written by libtheora's reference encoder
(Debian's libtheora-bin; PyAV's FFmpeg has no Theora encoder) decodes in full once the reader
handles Theora's zero-byte "dropped frame" packets, which FFmpeg's decoder interface rejects with
"Invalid argument" (:mod:`stella.data.decode`). Before, such a file failed at its first still frame.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from stella.config import ConfigError, DataConfig
from stella.data import audio as A
from stella.data import video as V
from stella.data.benchmark import Benchmark, Task, augment_clip, augment_seed, norm_from_config
from stella.data.decode import ClipError, decode_audio, decode_clip, decode_frames
from stella.data.splits import (RELATIVE_RULE, EntryError, assign_tasks, benchmark_order, drop_duplicates, entry_files,
                                entry_labels, label_to_task, load_split, media_paths, read_manifest)
from stella.store import read_json

log = logging.getLogger(__name__)
CACHE_BYTES = 2 * 2**30          # decoded clips one benchmark keeps in memory
__all__ = ["ClipError", "DecodedClips", "ManifestDataset", "build_manifest_benchmark", "decode_audio", "decode_clip",
           "decode_frames", "media_paths"]


class DecodedClips:
    """Un-augmented item tensors of decoded clips, shared by a benchmark's datasets, up to ``max_bytes``.

    ``base`` returns ``{"audio": (t, f) normalised fbank, "video": (T, 3, H, W) normalised, "padded"}``
    or raises the clip's ClipError (failures are remembered too)."""

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self.max_bytes, self.nbytes = max_bytes, 0
        self.kept: dict[tuple, dict] = {}
        self.failed: dict[tuple, ClipError] = {}

    def base(self, video: Path, audio: Path, data: DataConfig, norm: tuple[float, float], min_frames: int) -> dict:
        key = (str(video), str(audio), data.sample_rate, data.mel_bins, data.audio_frames, data.num_frames,
               data.image_size, tuple(norm), min_frames)
        if key in self.kept:
            return self.kept[key]
        if key in self.failed:
            raise ClipError(self.failed[key].reason, self.failed[key].detail, self.failed[key].path)
        try:
            frames, wave = decode_clip(video, audio, data, min_frames)
        except ClipError as e:
            self.failed[key] = e
            raise
        fb = A.fbank(torch.from_numpy(wave), data.sample_rate, data.mel_bins, data.audio_frames)
        clip = V.resize_video(V.to_float_video(torch.from_numpy(frames)), data.image_size)
        item = {"audio": A.normalize(fb, *norm).to(torch.float32), "video": V.normalize_video(clip).contiguous(),
                "padded": A.frames_for_num_samples(wave.size, data.sample_rate) < data.audio_frames}
        size = item["audio"].nbytes + item["video"].nbytes
        if self.nbytes + size <= self.max_bytes:
            self.kept[key] = item
            self.nbytes += size
        return item


class ManifestDataset(Dataset):
    """Clips of ``entries`` with global ``labels`` and stable ``indices``, at task position ``task``."""

    def __init__(self, entries: list[dict], labels: list[int], indices: list[int], task: int, data: DataConfig,
                 norm: tuple[float, float], train: bool, root: Path | None = None, min_fraction: float = 0.9,
                 cache: DecodedClips | None = None):
        if not 0 < min_fraction <= 1:
            raise ValueError(f"min_fraction must be in (0, 1], got {min_fraction}")
        self.data, self.norm, self.task, self.epoch = data, norm, task, 0
        self.augment = train and data.augment
        self.min_frames = int(np.ceil(min_fraction * data.audio_frames))
        self.cache = cache if cache is not None else DecodedClips()
        self.skipped: dict[str, list[str]] = {}
        self.skip_details: list[dict] = []          # {"path", "reason", "detail", "video_id"} per skipped clip
        self.items: list[tuple[Path, Path, int, int]] = []
        self.padded = 0
        for e, y, idx in zip(entries, labels, indices):
            vid = str(e.get("video_id", idx))
            try:
                v, a = media_paths(e, root)
            except EntryError as err:
                self._skip(err.value or vid, err.reason, str(err), vid)
                continue
            try:
                base = self.cache.base(v, a, data, norm, self.min_frames)
            except ClipError as err:
                at = err.path or v
                raw_v, raw_a = entry_files(e)
                written = raw_a if at == a and at != v else raw_v
                rule = f" ({RELATIVE_RULE}: {root})" if root is not None and err.reason == "missing" and \
                    not Path(written).is_absolute() else ""
                self._skip(str(at), err.reason, err.detail + rule, vid)
                continue
            self.padded += int(base["padded"])
            self.items.append((v, a, y, idx))

    def _skip(self, path: str, reason: str, detail: str, video_id: str) -> None:
        self.skipped.setdefault(reason, []).append(path)
        self.skip_details.append({"path": path, "reason": reason, "detail": detail, "video_id": video_id})
        log.info("%s: skipped (%s%s)", path, reason, f": {detail}" if detail else "")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        v, a, label, index = self.items[i]
        try:
            base = self.cache.base(v, a, self.data, self.norm, self.min_frames)
        except ClipError as e:
            raise RuntimeError(f"{v}: {e}; the file changed after its dataset was built") from e
        fb, video = base["audio"], base["video"]
        if self.augment:
            g = torch.Generator().manual_seed(augment_seed(self.data.seed, index, self.epoch))
            fb, video, _, _ = augment_clip(fb, video, g, self.data)
        return {"audio": fb.to(torch.float32), "video": video.contiguous(), "label": label, "task": self.task,
                "index": index}


def _json_kind(v) -> str:
    if v is None:
        return "JSON null"
    return {dict: "a JSON object", list: "a JSON list", str: "a JSON string", bool: "a JSON boolean"}.get(type(v), "a JSON number")


def _read_entries(path: Path) -> list[dict]:
    raw = read_json(path)
    try:
        if not isinstance(raw, (list, dict)):           # read_manifest takes a string for a path
            raise ValueError(raw)
        entries = read_manifest(raw)
    except ValueError:
        if isinstance(raw, dict) and "data" in raw:
            got = f"a JSON object whose \"data\" is {_json_kind(raw['data'])}, not a list"
        else:
            got = "a JSON object without \"data\"" if isinstance(raw, dict) else f"{_json_kind(raw)}"
        raise ValueError(f"{path}: expected a JSON list of entries or {{\"data\": [...]}}, got {got}") from None
    bad = [i for i, e in enumerate(entries) if not isinstance(e, dict)]
    if bad:
        raise ValueError(f"{path}: entry {bad[0]} is {json.dumps(entries[bad[0]])[:40]}, not an object with "
                         f"video_path and labels ({len(bad)} of {len(entries)} entries are not objects)")
    return entries


def build_manifest_benchmark(cfg):
    """Continual-VS / Continual-AS from ``cfg.data.manifest``: tasks by label category, in the configured order.

    The first ``data.num_tasks`` tasks of the order (more than the benchmark has is a ConfigError). Per
    task the first ``classes_per_task`` split classes present in the manifest; per class the last
    ``eval_per_class`` clips (manifest order) are the eval split and up to ``train_per_class`` of the
    others the train split. Audio norm: the config's, else the paper's (-5.081, 4.485). Skipped clips
    are listed in ``benchmark.info["skipped"]`` (path, reason, detail, video_id, task, split), entries
    dropped as duplicates of an earlier one in ``benchmark.info["duplicates"]`` (index, of, why).
    """
    d = cfg.data
    path = Path(d.manifest)
    if not path.is_file():
        raise FileNotFoundError(f"data.manifest: {path} " + ("is not a file" if path.exists() else "does not exist"))
    entries = _read_entries(path)
    for i, e in enumerate(entries):
        e.setdefault("_index", i)
    entries, duplicates = drop_duplicates(entries, path.parent, path)
    split = load_split(d.benchmark)
    order = benchmark_order(d.benchmark, d.task_order)
    if d.num_tasks > len(order):
        raise ConfigError(f"data.num_tasks: {d.num_tasks} tasks configured, {d.benchmark} has {len(order)}")
    order = order[: d.num_tasks]
    mapping = label_to_task(d.benchmark, d.category_csv or None)
    by_task, unknown = assign_tasks(entries, mapping)
    if unknown:
        log.warning("%s: %d clips with labels outside %s, not used: %s", path, sum(unknown.values()), d.benchmark,
                    ", ".join(sorted(unknown)[:5]) + (f" and {len(unknown) - 5} more labels" if len(unknown) > 5 else ""))
    norm = norm_from_config(d) or A.PAPER_NORM
    cache = DecodedClips()
    class_names: list[str] = []
    tasks, skipped = [], []
    for pos, name in enumerate(order):
        per_label: dict[str, list[dict]] = {}
        for e in by_task.get(name, []):
            lab = next(l for l in entry_labels(e) if mapping.get(l) == name)
            per_label.setdefault(lab, []).append(e)
        labels = sorted(per_label, key=lambda l: (split["tasks"].get(name, []).index(l)
                                                  if l in split["tasks"].get(name, []) else 10 ** 6, l))
        labels = labels[: d.classes_per_task]
        if not labels:
            raise ValueError(f"{path}: no clips for task {name!r} of {d.benchmark}")
        parts: dict[str, tuple[list, list, list]] = {"train": ([], [], []), "eval": ([], [], [])}
        ids = []
        for lab in labels:
            ids.append(len(class_names))
            class_names.append(lab)
            clips = per_label[lab]
            ev, tr = clips[len(clips) - d.eval_per_class:], clips[: max(0, len(clips) - d.eval_per_class)]
            for part, chosen in (("train", tr[: d.train_per_class]), ("eval", ev)):
                for e in chosen:
                    parts[part][0].append(e)
                    parts[part][1].append(ids[-1])
                    parts[part][2].append(int(e["_index"]))
        ds = {p: ManifestDataset(*parts[p], pos, d, norm, train=p == "train", root=path.parent, cache=cache)
              for p in parts}
        skipped += [{**s, "task": name, "split": p} for p in ds for s in ds[p].skip_details]
        tasks.append(Task(name, pos, ids, ds["train"], ds["eval"]))
    return Benchmark(f"manifest:{d.benchmark}", tasks, norm, class_names,
                     {"unknown_labels": unknown, "skipped": skipped, "duplicates": duplicates})


def build_pretrain_manifest(cfg, manifest: str | Path) -> ManifestDataset:
    """Pre-training clips (section 5.1, appendix B) from a CAV-MAE-style ``manifest``: every entry
    none of whose labels belongs to the continual benchmark (``data.benchmark``, ``data.category_csv``)
    -- the paper excludes unused VGGSound clips whose labels are in Continual-VS. One dataset, task 0,
    augmented like the continual training clips, normalised like them (config or paper statistics)."""
    d = cfg.data
    path = Path(manifest)
    if not path.is_file():
        raise FileNotFoundError(f"pretrain.manifest: {path} does not exist")
    continual = label_to_task(d.benchmark, d.category_csv or None)
    kept, dropped = [], 0
    entries = _read_entries(path)
    for i, e in enumerate(entries):
        e.setdefault("_index", i)
    for e in drop_duplicates(entries, path.parent, path)[0]:
        i = int(e["_index"])
        labels = entry_labels(e)
        if any(l in continual for l in labels):
            dropped += 1
        else:
            kept.append((e, labels[0] if labels else "<no label>", i))
    if not kept:
        raise ValueError(f"pretrain.manifest: {path} has no clip outside {d.benchmark}'s labels ({dropped} dropped)")
    if dropped:
        log.warning("pretrain manifest %s: %d clips dropped (labels of %s)", path, dropped, d.benchmark)
    names = sorted({lab for _, lab, _ in kept})
    return ManifestDataset([e for e, _, _ in kept], [names.index(lab) for _, lab, _ in kept], [i for _, _, i in kept],
                           0, d, norm_from_config(d) or A.PAPER_NORM, train=True, root=path.parent)
