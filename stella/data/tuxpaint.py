"""Optional real-content benchmark from Debian's tuxpaint-stamps-default (GPL-2, never committed).

The package ships photo cut-outs (PNG with alpha) of which ~130 come with a real recorded sound
(same stem, .ogg/.wav). A class is one stamp (label = its folder path + name); tasks are its
super-categories (``animals/mammals``, ``animals/birds``, ``symbols``, ...). Clips are composed
like the synthetic ones (synthetic.py): the sounding stamp swells and jumps with its sound's
event, silent distractor stamps drift over a gradient background, the sound is placed at a
random time over background noise; ground truth mask (T, H, W) and active (t,) as there.
``stella.data.stamps.fetch_stamps`` (``make data-real`` / ``stella data-real``) downloads and extracts it.

The synthetic generator's knobs (``data.*``, the book's choices table) compose alike. ``silent_object``:
outside the frames its sound overlaps the stamp is shown at its base size ("dim", the composition above)
or replaced by a grey disk ("placeholder"). ``distractors``: other stamps smaller, drifting and never
swelling ("neutral", above) or drawn exactly as the sounding stamp is, each with an event window of its
own, but silent ("classes"; tuxpaint has no neutral pool, so "lit" composes alike). ``sound_cue``: while its sound plays the stamp swells by 30 % ("shared"),
swells by the class's own factor and is tinted to the class's own colour (``synthetic.CUES``, "class"), or
only jumps at the onset ("none"). ``overwrite_pairs`` (None: 0): the first so many classes of every task
after the first take the picture of an earlier task's stamp and keep their own sound. ``active_fraction``: the
sound's window lasts at most ``WINDOW * active_fraction`` of the clip (0.6 at the default 0.5, as first built;
0.3 at the cpu preset's 0.25, about one of its four frames).

Pre-training (``pretrain.source: tuxpaint``, :func:`build_pretrain_tuxpaint`): clips of the stamps with a sound
that no continual task uses (:func:`reserved_stamps`), composed alike from a random stream of their own.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

from stella.data.audio import num_samples_for_frames
from stella.data.benchmark import Benchmark, ClipDataset, ClipSource, Task, clip_norm_stats, norm_from_config
from stella.data.manifest import decode_audio
from stella.data.splits import resolve_task_order
from stella.data.synthetic import COLOURS, CUES, DISTRACTORS, PLACEHOLDER_COLOUR, SILENT_OBJECTS, SOUND_CUES, class_cues

DEFAULT_DIR = Path("data/tuxpaint")
PACKAGE = "tuxpaint-stamps-default"
WINDOW = 1.2              # the sound's window is at most WINDOW * data.active_fraction of the clip (0.6 at 0.5)
PRETRAIN_STREAM = 0x9E7   # pre-training clips draw from rng([seed, PRETRAIN_STREAM, index, ...]), apart from the tasks'


def scan_stamps(root: str | Path = DEFAULT_DIR) -> dict[str, list[tuple[str, Path, Path]]]:
    """Super-category -> [(label, png, sound)] for every stamp with its own sound file."""
    stamps = Path(root) / "stamps"
    if not stamps.is_dir():
        raise FileNotFoundError(f"{stamps} not found: the tuxpaint benchmark needs `make data-real` "
                                f"(stella data-real) to download {PACKAGE} into {Path(root)}")
    out: dict[str, list[tuple[str, Path, Path]]] = {}
    for png in sorted(stamps.rglob("*.png")):
        snd = next((png.with_suffix(s) for s in (".ogg", ".wav") if png.with_suffix(s).is_file()), None)
        if snd is None:
            continue
        rel = png.relative_to(stamps).with_suffix("")
        parts = rel.parts
        cat = "/".join(parts[:2]) if parts[0] == "animals" and len(parts) > 2 else parts[0]
        out.setdefault(cat, []).append((str(rel), png, snd))
    return out


def load_sprite(png: Path, size: int) -> torch.Tensor:
    """(4, size, size) float RGBA in [0, 1], aspect kept, centred on a transparent square."""
    with av.open(str(png)) as c:
        rgba = next(c.decode(video=0)).to_ndarray(format="rgba")                         # (h, w, 4) uint8
    img = torch.from_numpy(rgba).permute(2, 0, 1).float() / 255.0                       # (4, h, w)
    h, w = img.shape[1:]
    s = size / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    img = F.interpolate(img[None], size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)[0]
    out = torch.zeros(4, size, size)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    out[:, y0:y0 + nh, x0:x0 + nw] = img
    return out


def _paste(frames: np.ndarray, sprite: np.ndarray, cy: np.ndarray, cx: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Alpha-blend ``sprite`` (4, S, S) into frames (T, H, W, 3) at centres/sizes (T,). Returns mask (T, H, W)."""
    T, H, W, _ = frames.shape
    mask = np.zeros((T, H, W), dtype=bool)
    for t in range(T):
        s = max(2, int(round(size[t])))
        sp = F.interpolate(torch.from_numpy(sprite)[None], size=(s, s), mode="bilinear",
                           align_corners=False)[0].numpy()
        y0, x0 = int(round(cy[t] - s / 2)), int(round(cx[t] - s / 2))
        ys, xs = slice(max(0, y0), min(H, y0 + s)), slice(max(0, x0), min(W, x0 + s))
        sub = sp[:, ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
        a = sub[3][..., None]
        frames[t, ys, xs] = a * sub[:3].transpose(1, 2, 0) + (1 - a) * frames[t, ys, xs]
        mask[t, ys, xs] = sub[3] > 0.5
    return mask


def _placeholder(size: int) -> np.ndarray:
    """(4, size, size) a grey disk filling the square: the class-neutral placeholder."""
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size - 0.5
    disk = (xx ** 2 + yy ** 2 <= 0.25).astype(np.float32)
    return np.concatenate([np.asarray(PLACEHOLDER_COLOUR, np.float32)[:, None, None] * disk[None], disk[None]])


def _paste_stamp(frames: np.ndarray, sprite: np.ndarray, cue: int, overlap: np.ndarray, cy: np.ndarray,
                 cx: np.ndarray, s0: float, silent_object: str, sound_cue: str) -> np.ndarray:
    """Paste a stamp of base size ``s0`` along (cy, cx) (T,): its sounding look where ``overlap`` (T,) > 0
    (``sound_cue``; ``cue`` indexes synthetic.CUES), its silent look elsewhere (``silent_object``). Returns
    its mask (T, H, W)."""
    swell = {"shared": 0.3, "class": CUES[cue][1] - 1.0, "none": 0.0}[sound_cue]
    size = s0 * (1 + swell * overlap)
    if silent_object == "dim" and sound_cue != "class":
        return _paste(frames, sprite, cy, cx, size)                 # one look in every frame
    silent = sprite if silent_object == "dim" else _placeholder(sprite.shape[-1])
    tint = np.asarray(COLOURS[CUES[cue][0]], np.float32)[:, None, None]
    mask = np.zeros(frames.shape[:3], dtype=bool)
    for t in range(len(overlap)):
        look = silent
        if overlap[t] > 0:
            w = 0.5 * overlap[t] if sound_cue == "class" else 0.0
            look = np.concatenate([(1 - w) * sprite[:3] + w * tint, sprite[3:]])
        mask[t] = _paste(frames[t:t + 1], look, cy[t:t + 1], cx[t:t + 1], size[t:t + 1])[0]   # a view: in place
    return mask


def _event(rng: np.random.Generator, snd_size: int, n: int, T: int, sample_rate: int, active_fraction: float = 0.5
           ) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    """(off, start, length, overlap (T,), onsets (T,) bool): a window of the sound (at most
    ``WINDOW * active_fraction`` of the clip: 0.6 at the default 0.5) placed at random; overlap = the share of each
    frame's time it covers, onsets = the frame where it starts."""
    length = min(snd_size, int(WINDOW * active_fraction * n))
    off = int(rng.integers(0, snd_size - length + 1))
    start = int(rng.integers(0, n - length + 1))
    edges = np.linspace(0, n / sample_rate, T + 1)
    a, b = start / sample_rate, (start + length) / sample_rate
    overlap = np.clip(np.minimum(b, edges[1:]) - np.maximum(a, edges[:-1]), 0, None) / np.diff(edges)
    return off, start, length, overlap, (edges[:-1] <= a) & (a < edges[1:])


def render_stamp_clip(sprites: list[np.ndarray], sounds: list[np.ndarray], label: int, index: int, *, seed: int,
                      num_frames: int, image_size: int, audio_frames: int, sample_rate: int, num_distractors: int,
                      noise_level: float, silent_object: str = "dim", distractors: str = "neutral",
                      sound_cue: str = "shared", cues: np.ndarray | None = None, active_fraction: float = 0.5,
                      stream: tuple[int, ...] = ()) -> dict:
    """One composed clip of stamp ``label``; deterministic in (seed, stream, index). Same keys as
    synthetic.render_clip. ``silent_object``, ``distractors``, ``sound_cue``, ``active_fraction``: the module
    docstring; the defaults compose the clip as before they existed. ``cues`` (n_classes,): each class's index into
    synthetic.CUES (default ``synthetic.class_cues(seed)`` by label). ``stream``: more entries of the random key
    (the pre-training clips' own, :data:`PRETRAIN_STREAM`)."""
    for name, value, known in (("silent_object", silent_object, SILENT_OBJECTS),
                               ("distractors", distractors, DISTRACTORS), ("sound_cue", sound_cue, SOUND_CUES)):
        if value not in known:
            raise ValueError(f"data.{name}: must be one of {', '.join(known)}, got {value!r}")
    if cues is None:
        perm = class_cues(seed)
        cues = np.array([perm[i % len(CUES)] for i in range(len(sprites))])
    rng = np.random.default_rng([seed, *stream, index, 4])
    n = num_samples_for_frames(audio_frames, sample_rate)
    snd = sounds[label]
    T, S = num_frames, image_size
    off, start, length, overlap, onsets = _event(rng, snd.size, n, T, sample_rate, active_fraction)
    wave = noise_level * 0.5 * rng.standard_normal(n)
    seg = snd[off:off + length]
    wave[start:start + length] += 0.5 * seg / (np.abs(seg).max() + 1e-8)
    events = [(start / sample_rate, (start + length) / sample_rate)]
    c0, c1 = rng.uniform(0.15, 0.45, size=(2, 3))
    yy, xx = (np.mgrid[0:S, 0:S] + 0.5) / S
    theta = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(theta) * (xx - 0.5) + np.sin(theta) * (yy - 0.5) + 0.5).clip(0, 1)
    frames = np.repeat((c0 + (c1 - c0) * ramp[..., None])[None], T, axis=0)
    frames = frames + noise_level * 0.3 * rng.standard_normal((T, S, S, 3))
    others = [i for i in range(len(sprites)) if i != label and sprites[i] is not sprites[label]]
    if distractors != "neutral":
        drng = np.random.default_rng([seed, *stream, index, 5])
        for d in drng.choice(others, size=min(num_distractors, len(others)), replace=False):
            ov, jump = _event(drng, sounds[int(d)].size, n, T, sample_rate, active_fraction)[3:]
            s = drng.uniform(0.3, 0.38) * S
            path = np.clip(drng.uniform(0.65 * s, S - 0.65 * s, size=2) + np.cumsum(
                drng.uniform(-0.1, 0.1, size=(T, 2)) * S * jump[:, None], axis=0), 0.65 * s, S - 0.65 * s)
            _paste_stamp(frames, sprites[int(d)], int(cues[int(d)]), ov, path[:, 0], path[:, 1], s,
                         silent_object, sound_cue)
    else:
        for d in rng.choice(others, size=min(num_distractors, len(others)), replace=False):
            s = rng.uniform(0.25, 0.35) * S
            p0 = rng.uniform(s / 2, S - s / 2, size=2)
            path = np.clip(p0 + np.arange(T)[:, None] * rng.uniform(-0.06, 0.06, size=2) * S, s / 2, S - s / 2)
            _paste(frames, sprites[int(d)], path[:, 0], path[:, 1], np.full(T, s))
    s0 = rng.uniform(0.3, 0.38) * S
    path = rng.uniform(0.65 * s0, S - 0.65 * s0, size=2) + np.cumsum(
        rng.uniform(-0.1, 0.1, size=(T, 2)) * S * onsets[:, None], axis=0)
    path = np.clip(path, 0.65 * s0, S - 0.65 * s0)
    mask = _paste_stamp(frames, sprites[label], int(cues[label]), overlap, path[:, 0], path[:, 1], s0,
                        silent_object, sound_cue)
    return {"wave": wave.astype(np.float32), "events": events, "frames": frames.clip(0, 1).astype(np.float32),
            "mask": mask, "overlap": overlap}


def continual_stamps(cats: dict[str, list[tuple[str, Path, Path]]], d) -> tuple[list[str], list[tuple[str, Path, Path]]]:
    """(task names, stamps): the ``d.num_tasks`` largest super-categories with at least ``d.classes_per_task``
    stamps (ties by name), in name order, and the first ``d.classes_per_task`` stamps of each."""
    ok = sorted((c for c, v in cats.items() if len(v) >= d.classes_per_task), key=lambda c: (-len(cats[c]), c))
    if len(ok) < d.num_tasks:
        raise ValueError(f"tuxpaint: only {len(ok)} super-categories have >= {d.classes_per_task} stamps "
                         f"({', '.join(f'{c}={len(cats[c])}' for c in sorted(cats))}); lower data.num_tasks "
                         "or data.classes_per_task")
    names = sorted(ok[: d.num_tasks])
    return names, [s for c in names for s in cats[c][: d.classes_per_task]]


def reserved_stamps(cfg, root: str | Path = DEFAULT_DIR) -> list[tuple[str, Path, Path]]:
    """``cfg.pretrain.classes`` stamps with a sound that none of the continual tasks of ``cfg`` uses, drawn by a
    generator of ``data.seed`` from every super-category (the pre-training stage's classes)."""
    cats = scan_stamps(root)
    used = {s[0] for s in continual_stamps(cats, cfg.data)[1]}
    free = [s for c in sorted(cats) for s in cats[c] if s[0] not in used]
    n = cfg.pretrain.classes
    if len(free) < n:
        raise ValueError(f"pretrain.classes: {n} pre-training stamps asked for, but only {len(free)} stamps with a "
                         f"sound are outside the {len(used)} of the continual tasks")
    pick = np.random.default_rng([cfg.data.seed, PRETRAIN_STREAM]).permutation(len(free))[:n]
    return [free[i] for i in sorted(pick)]


def _render_kwargs(d) -> dict:
    return dict(seed=d.seed, num_frames=d.num_frames, image_size=d.image_size, audio_frames=d.audio_frames,
                sample_rate=d.sample_rate, num_distractors=d.num_distractors, noise_level=d.noise_level,
                silent_object=d.silent_object, distractors=d.distractors, sound_cue=d.sound_cue,
                active_fraction=d.active_fraction)


def _load(stamps: list[tuple[str, Path, Path]], sample_rate: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(sprites (4, 64, 64), waveforms) of ``stamps``."""
    sprites = [load_sprite(png, 64).numpy() for _, png, _ in stamps]
    sounds = []
    for _, _, snd in stamps:
        w = decode_audio(snd, sample_rate)
        sounds.append(w if w.size else np.zeros(1, np.float32))
    return sprites, sounds


def build_tuxpaint(cfg, root: str | Path = DEFAULT_DIR):
    """The tuxpaint benchmark: the ``num_tasks`` largest super-categories with enough stamps, in name order."""
    d = cfg.data
    names, stamps = continual_stamps(scan_stamps(root), d)
    sprites, sounds = _load(stamps, d.sample_rate)
    reused = overwrite(sprites, d.num_tasks, d.classes_per_task, d.overwrite_pairs or 0, d.seed)
    per_class = d.train_per_class + d.eval_per_class
    kw = _render_kwargs(d)

    def render(index: int) -> dict:
        return render_stamp_clip(sprites, sounds, index // per_class, index, **kw)

    norm = norm_from_config(d)
    if norm is None:
        idx = [c * per_class + j for j in range(d.train_per_class) for c in range(len(stamps))][:32]
        key = ("tuxpaint", tuple(s[0] for s in stamps), tuple(sorted(kw.items())), d.mel_bins, d.overwrite_pairs)
        norm = clip_norm_stats(key, lambda i: render(i)["wave"], idx, d)
    source = ClipSource(render, d, norm)
    rng = np.random.default_rng(7)
    order = resolve_task_order(d.task_order, names, [names[i] for i in rng.permutation(len(names))])
    tasks = []
    for pos, name in enumerate(order):
        k = names.index(name)
        labels = list(range(k * d.classes_per_task, (k + 1) * d.classes_per_task))
        ds = {}
        for part, js in (("train", range(d.train_per_class)), ("eval", range(d.train_per_class, per_class))):
            idx = [c * per_class + j for c in labels for j in js]
            ds[part] = ClipDataset(source, idx, [i // per_class for i in idx], pos,
                                   augment=d.augment and part == "train", seed=d.seed)
        tasks.append(Task(name, pos, labels, ds["train"], ds["eval"]))
    return Benchmark("tuxpaint", tasks, norm, [s[0] for s in stamps],
                     {"stamps": stamps, "root": str(root), "reused": reused})


def build_pretrain_tuxpaint(cfg, num_classes: int, clips_per_class: int, root: str | Path = DEFAULT_DIR):
    """The tuxpaint pre-training set (``pretrain.source: tuxpaint``): ``num_classes`` x ``clips_per_class`` training
    clips of :func:`reserved_stamps`, composed as the continual clips are (their distractors from the reserved
    stamps too), from the random stream :data:`PRETRAIN_STREAM`, normalised with their own fbank statistics.
    Its ``info`` attribute names the stamps."""
    d = cfg.data
    stamps = reserved_stamps(replace(cfg, pretrain=replace(cfg.pretrain, classes=num_classes)), root)
    sprites, sounds = _load(stamps, d.sample_rate)
    kw = _render_kwargs(d)

    def render(index: int) -> dict:
        return render_stamp_clip(sprites, sounds, index // clips_per_class, index, stream=(PRETRAIN_STREAM,), **kw)

    norm = norm_from_config(d)
    if norm is None:
        idx = [c * clips_per_class + j for j in range(clips_per_class) for c in range(num_classes)][:32]
        key = ("tuxpaint-pretrain", tuple(s[0] for s in stamps), tuple(sorted(kw.items())), d.mel_bins)
        norm = clip_norm_stats(key, lambda i: render(i)["wave"], idx, d)
    idx = list(range(num_classes * clips_per_class))
    ds = ClipDataset(ClipSource(render, d, norm), idx, [i // clips_per_class for i in idx], 0,
                     augment=d.augment, seed=d.seed)
    ds.info = {"stamps": stamps, "norm": norm}
    return ds


def overwrite(sprites: list[np.ndarray], num_tasks: int, classes_per_task: int, pairs: int, seed: int) -> dict[int, int]:
    """In place: the first ``pairs`` classes of every task after the first take the sprite of a class of an earlier
    task that keeps its own (drawn from a generator of ``seed``); returns {class: the class whose picture it shows}."""
    rng = np.random.default_rng([seed, 0xC1A55])
    reused: dict[int, int] = {}
    for k in range(1, num_tasks):
        own = [c for c in range(k * classes_per_task) if c not in reused]
        for j in range(pairs):
            c, src = k * classes_per_task + j, own[int(rng.integers(len(own)))]
            sprites[c], reused[c] = sprites[src], src
    return reused
