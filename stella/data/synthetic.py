"""Procedural audio-video benchmark with ground truth (sections 1 and 3.2, Fig. 2 and 3).

A class pairs a visual object (shape x colour x texture) with a sound signature (pitch x
timbre x rhythm). In every clip only the sounding object follows the audio: it swells and
lights up while its sound is on and jumps at every onset; silent distractor objects (other
classes' objects and neutral ones) drift across a noisy background, and the waveform carries
background noise between events. The audio-visual correlation is therefore spatially and
temporally sparse (Fig. 2b). Classes are grouped into tasks; in every task after the first,
``max(1, classes_per_task // 4)`` classes reuse the visual object of an earlier task's class
with a new sound: the "multimodal correlation overwriting" of Fig. 3.

Everything is a pure function of (data seed, clip index): ``np.random.default_rng([seed, index,
stream])`` per clip, never global RNG state. Clip ``index = label * per_class + j``; ``j <
train_per_class`` are training clips, the rest evaluation clips.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stella.data.audio import num_samples_for_frames

SHAPES = ("disk", "square", "triangle", "diamond", "ring", "cross")
TEXTURES = ("solid", "stripes", "checker")
COLOURS = {"red": (0.9, 0.15, 0.1), "green": (0.1, 0.8, 0.2), "blue": (0.15, 0.3, 0.95),
           "yellow": (0.95, 0.85, 0.1), "magenta": (0.85, 0.15, 0.8), "cyan": (0.1, 0.85, 0.9),
           "orange": (1.0, 0.5, 0.05), "white": (0.95, 0.95, 0.95)}
TIMBRES = ("sine", "saw", "square", "fm", "noiseband")
RHYTHMS = ((1, 0.25), (2, 0.15), (3, 0.10), (2, 0.20), (1, 0.35), (3, 0.13))   # (events, length / clip)
TASK_WORDS = ("chimes", "drums", "engines", "voices", "whistles", "strings", "birds", "machines",
              "water", "bells", "horns", "clicks")
NEUTRAL_OBJECTS = 8


@dataclass(frozen=True)
class VisualObject:
    shape: str
    colour: str
    texture: str

    @property
    def name(self) -> str:
        return f"{self.colour} {self.texture} {self.shape}"


@dataclass(frozen=True)
class Sound:
    f0: float
    timbre: str
    events: int
    length: float

    @property
    def name(self) -> str:
        return f"{self.f0:.0f}Hz {self.timbre} x{self.events}"


@dataclass(frozen=True)
class SyntheticClass:
    label: int
    task: int                 # canonical task (default order)
    obj: VisualObject
    sound: Sound
    reuses: int | None        # label of the earlier class whose visual object this one reuses

    @property
    def name(self) -> str:
        return f"{self.obj.name} + {self.sound.name}"


def task_names(num_tasks: int) -> list[str]:
    """Generated super-category names, "task1-chimes", ... in the default order."""
    return [f"task{k + 1}-{TASK_WORDS[k % len(TASK_WORDS)]}" for k in range(num_tasks)]


def make_classes(num_tasks: int, classes_per_task: int, seed: int, sample_rate: int
                 ) -> tuple[list[SyntheticClass], list[VisualObject]]:
    """The benchmark's classes and its neutral distractor objects; a pure function of its arguments."""
    if num_tasks < 1 or classes_per_task < 1:
        raise ValueError(f"synthetic benchmark needs >= 1 task and >= 1 class per task, "
                         f"got {num_tasks} x {classes_per_task}")
    rng = np.random.default_rng([seed, 0x5EED])
    objects = [VisualObject(s, c, t) for s in SHAPES for c in COLOURS for t in TEXTURES]
    objects = [objects[i] for i in rng.permutation(len(objects))]
    f0s = np.geomspace(220.0, min(3520.0, 0.2 * sample_rate), 24)
    sounds = [Sound(float(f), tb, ev, ln) for f in f0s for tb in TIMBRES for ev, ln in RHYTHMS]
    sounds = [sounds[i] for i in rng.permutation(len(sounds))]
    n = num_tasks * classes_per_task
    reuse = max(1, classes_per_task // 4) if num_tasks > 1 else 0
    needed = n - reuse * (num_tasks - 1) + NEUTRAL_OBJECTS
    if needed > len(objects) or n > len(sounds):
        raise ValueError(f"synthetic benchmark: {num_tasks} x {classes_per_task} classes need {needed} visual "
                         f"objects (max {len(objects)}) and {n} sounds (max {len(sounds)})")
    classes: list[SyntheticClass] = []
    next_obj = 0
    for k in range(num_tasks):
        for j in range(classes_per_task):
            label = k * classes_per_task + j
            src = None
            if k > 0 and j < reuse:
                earlier = [c for c in classes if c.reuses is None]
                src = earlier[int(rng.integers(len(earlier)))].label
                obj = classes[src].obj
            else:
                obj, next_obj = objects[next_obj], next_obj + 1
            classes.append(SyntheticClass(label, k, obj, sounds[label], src))
    return classes, objects[next_obj:next_obj + NEUTRAL_OBJECTS]


def _events(rng: np.random.Generator, sound: Sound, duration: float) -> list[tuple[float, float]]:
    """Non-overlapping event intervals (seconds): one per equal segment of the clip."""
    seg = duration / sound.events
    length = min(sound.length * duration, 0.9 * seg)
    starts = np.arange(sound.events) * seg + rng.uniform(0, seg - length, size=sound.events)
    return [(float(a), float(a + length)) for a in starts]


def _waveform(rng: np.random.Generator, sound: Sound, events: list[tuple[float, float]], n: int,
              sr: int, noise: float) -> np.ndarray:
    """(S,) float32: the class sound gated by the events, plus background noise."""
    t = np.arange(n) / sr
    f0 = sound.f0 * rng.uniform(0.97, 1.03)
    ph = 2 * np.pi * f0 * t
    if sound.timbre == "sine":
        tone = np.sin(ph)
    elif sound.timbre in ("saw", "square"):
        ks = [k for k in range(1, 9) if k * f0 < 0.45 * sr and (sound.timbre == "saw" or k % 2)]
        tone = sum(np.sin(k * ph) / k for k in ks)
    elif sound.timbre == "fm":
        tone = np.sin(ph + 3.0 * np.sin(0.5 * ph))
    else:
        spec = np.fft.rfft(rng.standard_normal(n))
        freqs = np.fft.rfftfreq(n, 1 / sr)
        spec[(freqs < f0 / 1.3) | (freqs > f0 * 1.3)] = 0
        tone = np.fft.irfft(spec, n)
    tone = tone / (np.abs(tone).max() + 1e-8)
    ramp = 0.005
    env = np.zeros(n)
    for a, b in events:
        env = np.maximum(env, np.clip(np.minimum(t - a, b - t) / ramp, 0, 1))
    wave = 0.5 * rng.uniform(0.7, 1.0) * env * tone + noise * 0.5 * rng.standard_normal(n)
    return wave.astype(np.float32)


def _shape_mask(shape: str, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    if shape == "disk":
        return dx ** 2 + dy ** 2 <= 1.0
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) <= 0.85
    if shape == "triangle":
        return (dy <= 0.75) & (dy >= 2 * np.abs(dx) - 1.0)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= 1.1
    if shape == "ring":
        r2 = dx ** 2 + dy ** 2
        return (r2 <= 1.0) & (r2 >= 0.36)
    return ((np.abs(dx) <= 0.35) & (np.abs(dy) <= 1.0)) | ((np.abs(dy) <= 0.35) & (np.abs(dx) <= 1.0))


def _paint(frames: np.ndarray, obj: VisualObject, cy: np.ndarray, cx: np.ndarray, r: np.ndarray,
           gain: np.ndarray) -> np.ndarray:
    """Paint ``obj`` onto frames (T, H, W, 3) in place. cy, cx, r, gain: (T,). Returns mask (T, H, W)."""
    T, H, W, _ = frames.shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64) + 0.5
    dy = (yy[None] - cy[:, None, None]) / r[:, None, None]                      # (T, H, W)
    dx = (xx[None] - cx[:, None, None]) / r[:, None, None]
    inside = _shape_mask(obj.shape, dy, dx)
    if obj.texture == "stripes":
        pat = 0.55 + 0.45 * (np.sin(np.pi * 2.5 * (dx + dy)) > 0)
    elif obj.texture == "checker":
        pat = 0.55 + 0.45 * ((np.floor(dx * 2) + np.floor(dy * 2)) % 2 == 0)
    else:
        pat = np.ones_like(dx)
    colour = np.asarray(COLOURS[obj.colour])
    value = pat[..., None] * colour * gain[:, None, None, None]                 # (T, H, W, 3)
    frames[inside] = value[inside]
    return inside


def render_clip(classes: list[SyntheticClass], neutral: list[VisualObject], label: int, index: int, *, seed: int, num_frames: int,
                image_size: int, audio_frames: int, sample_rate: int, num_distractors: int,
                noise_level: float, audio_only: bool = False) -> dict:
    """One clip of class ``label``; deterministic in (seed, index).

    Returns wave (S,) float32, events [(start, end) s], and unless ``audio_only``:
    frames (T, H, W, 3) float32 in [0, 1] and mask (T, H, W) bool of the sounding object.
    """
    cls = classes[label]
    n = num_samples_for_frames(audio_frames, sample_rate)
    duration = n / sample_rate
    events = _events(np.random.default_rng([seed, index, 1]), cls.sound, duration)
    wave = _waveform(np.random.default_rng([seed, index, 2]), cls.sound, events, n, sample_rate, noise_level)
    out = {"wave": wave, "events": events}
    if audio_only:
        return out
    rng = np.random.default_rng([seed, index, 3])
    T, S = num_frames, image_size
    edges = np.linspace(0, duration, T + 1)
    overlap = np.zeros(T)
    onsets = np.zeros(T, dtype=bool)
    for a, b in events:
        overlap += np.clip(np.minimum(b, edges[1:]) - np.maximum(a, edges[:-1]), 0, None)
        onsets |= (edges[:-1] <= a) & (a < edges[1:])
    overlap /= np.diff(edges)                                                    # (T,) in [0, 1]
    c0, c1 = rng.uniform(0.15, 0.45, size=(2, 3))
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = (np.mgrid[0:S, 0:S] + 0.5) / S
    ramp = (np.cos(theta) * (xx - 0.5) + np.sin(theta) * (yy - 0.5) + 0.5).clip(0, 1)
    bg = c0 + (c1 - c0) * ramp[..., None]                                       # (H, W, 3)
    frames = np.repeat(bg[None], T, axis=0) + noise_level * 0.3 * rng.standard_normal((T, S, S, 3))
    others = list(dict.fromkeys(o for o in [c.obj for c in classes] + neutral if o != cls.obj))
    for d in rng.choice(len(others), size=min(num_distractors, len(others)), replace=False):
        r = rng.uniform(0.11, 0.16) * S
        p0 = rng.uniform(r, S - r, size=2)
        v = rng.uniform(-0.06, 0.06, size=2) * S
        path = np.clip(p0 + np.arange(T)[:, None] * v, r, S - r)                # (T, 2)
        _paint(frames, others[int(d)], path[:, 0], path[:, 1], np.full(T, r), np.full(T, 0.8))
    r0 = rng.uniform(0.12, 0.16) * S
    jumps = rng.uniform(-0.1, 0.1, size=(T, 2)) * S * onsets[:, None]
    r = r0 * (1 + 0.4 * overlap)
    path = rng.uniform(1.4 * r0, S - 1.4 * r0, size=2) + np.cumsum(jumps, axis=0)
    path = np.clip(path, 1.4 * r0, S - 1.4 * r0)
    mask = _paint(frames, cls.obj, path[:, 0], path[:, 1], r, 0.6 + 0.4 * overlap)
    out["frames"] = frames.clip(0, 1).astype(np.float32)
    out["mask"] = mask
    out["overlap"] = overlap
    return out


def shuffled_order(num_tasks: int) -> list[int]:
    """The synthetic benchmark's fixed "shuffled" order (independent of the data seed), never the identity."""
    perm = [int(i) for i in np.random.default_rng(7).permutation(num_tasks)]
    return perm[::-1] if num_tasks > 1 and perm == sorted(perm) else perm


def build_synthetic(cfg) -> "Benchmark":
    """The synthetic benchmark for ``cfg`` (a :class:`stella.config.Config`)."""
    from stella.data.benchmark import Benchmark, ClipDataset, ClipSource, Task, clip_norm_stats, norm_from_config
    from stella.data.splits import resolve_task_order

    d = cfg.data
    if d.image_size < 8:
        raise ValueError(f"data.image_size={d.image_size}: the synthetic benchmark needs >= 8 pixels")
    classes, neutral = make_classes(d.num_tasks, d.classes_per_task, d.seed, d.sample_rate)
    per_class = d.train_per_class + d.eval_per_class
    kw = dict(seed=d.seed, num_frames=d.num_frames, image_size=d.image_size, audio_frames=d.audio_frames,
              sample_rate=d.sample_rate, num_distractors=d.num_distractors, noise_level=d.noise_level)

    def render(index: int, audio_only: bool = False) -> dict:
        return render_clip(classes, neutral, index // per_class, index, audio_only=audio_only, **kw)

    norm = norm_from_config(d)
    if norm is None:
        stat_idx = [c * per_class + j for j in range(d.train_per_class) for c in range(len(classes))][:32]
        key = ("synthetic", d.num_tasks, d.classes_per_task, tuple(sorted(kw.items())), d.mel_bins, d.train_per_class,
               d.eval_per_class)
        norm = clip_norm_stats(key, lambda i: render(i, True)["wave"], stat_idx, d)
    source = ClipSource(render, d, norm)
    names = task_names(d.num_tasks)
    order = resolve_task_order(d.task_order, names, [names[k] for k in shuffled_order(d.num_tasks)])
    tasks = []
    for pos, name in enumerate(order):
        k = names.index(name)
        labels = [c.label for c in classes if c.task == k]
        split = {"train": range(d.train_per_class), "eval": range(d.train_per_class, per_class)}
        ds = {}
        for part, js in split.items():
            idx = [c * per_class + j for c in labels for j in js]
            ds[part] = ClipDataset(source, idx, [i // per_class for i in idx], pos,
                                   augment=d.augment and part == "train", seed=d.seed)
        tasks.append(Task(name, pos, labels, ds["train"], ds["eval"]))
    info = {"classes": classes, "neutral_objects": neutral, "per_class": per_class,
            "reused": {c.label: c.reuses for c in classes if c.reuses is not None}}
    return Benchmark("synthetic", tasks, norm, [c.name for c in classes], info)
