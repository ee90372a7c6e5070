"""Procedural audio-video benchmark with ground truth (sections 1 and 3.2, Fig. 2 and 3).

A class pairs a visual object (shape x colour x texture) with a sound (pitch x timbre x amplitude
modulation). A clip is cut into ``T`` equal segments, one per video frame and aligned with the
fbank frames (segment k = fbank frames [k t/T, (k+1) t/T), so with t/p time tokens and chunks of
L_c tokens, frame k is Algorithm 1's chunk k whenever t/(p L_c) = T). The class sound is on in a
random 1 .. T//2 of the segments and off (background noise only) in the rest; the sounding object
is in every frame but "lights up" -- full brightness, LIT_SCALE (1.5) times larger, a white rim --
exactly in the frames whose segment sounds, and jumps to a new place at every onset. Silent
distractors are drawn from a fixed pool of neutral objects that no class uses; they drift and never
light up. The audio-visual correlation is therefore spatially sparse (one object among several,
under half of the patches) and temporally sparse (under half of the frames / time chunks) (Fig. 2b),
and the cue marking the sounding object -- it changes when its sound is on -- is the same for every
class, so a model can learn it on some classes and find the sounding object of classes it has never
seen. Classes are grouped into tasks; in every task after the first, ``max(1, classes_per_task // 4)``
classes reuse the visual object of an earlier task's class with a new sound: the "multimodal
correlation overwriting" of Fig. 3.

That is the benchmark at the generator's defaults (:data:`TODAY`). Four knobs (``data.*``, the book's
choices table) change what a clip gives away besides the sound's synchrony:

* ``silent_object``: outside its sounding frames the object is a dim copy of itself ("dim") or a grey
  disk of its base size, the same for every class ("placeholder"): then the class's object is visible
  only on the sounding object while it sounds.
* ``distractors``: the neutral pool, drifting and never lit ("neutral"); the same neutral objects, or the
  objects of other classes ("lit", "classes"), each drawn exactly as a sounding object is -- the same sizes,
  looks and jumps, lit on segments of its own drawn as the clip's are -- but silent: as salient as the
  sounding object, which only its synchrony with the sound then tells apart ("lit" shows no other class).
* ``sound_cue``: the sounding look, "shared" (above), "class" (the silent gain, a rim in a colour and a
  size of the class's own, :data:`CUES`, assigned by :func:`class_cues`) or "none" (the silent look:
  only the jump at each onset, or with a placeholder the object's appearance, marks the sounding frames).
* ``overwrite_pairs``: how many classes of every later task reuse an earlier object (None: the default above).

Pre-training classes (:func:`make_pretrain_classes`, section 5.1 / appendix B) are reserved: their
objects and sounds come from the far end of the same shuffled lists, the neutral pool and the
continual classes (and the extra, unseen classes of ``stella.data.unseen_tasks``) from the
front, and :func:`check_disjoint` refuses any overlap.

Everything is a pure function of (data seed, clip key): ``np.random.default_rng([*key, stream])``
per clip, never global RNG state. Continual clip ``key = (seed, index)`` with ``index = label *
per_class + j`` (``j < train_per_class`` are training clips, the rest evaluation clips);
pre-training clips use ``key = (seed, PRETRAIN_TAG, index)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from stella.data.audio import FRAME_LENGTH_MS, FRAME_SHIFT_MS, num_samples_for_frames
from stella.data.benchmark import Benchmark, ClipDataset, ClipSource, Task, clip_norm_stats, norm_from_config
from stella.data.splits import resolve_task_order

SHAPES = ("disk", "square", "triangle", "diamond", "ring", "cross")
TEXTURES = ("solid", "stripes", "checker")
COLOURS = {"red": (0.9, 0.15, 0.1), "green": (0.1, 0.8, 0.2), "blue": (0.15, 0.3, 0.95),
           "yellow": (0.95, 0.85, 0.1), "magenta": (0.85, 0.15, 0.8), "cyan": (0.1, 0.85, 0.9),
           "orange": (1.0, 0.5, 0.05), "white": (0.95, 0.95, 0.95)}
TIMBRES = ("sine", "saw", "square", "fm", "noiseband")
AM_RATES = (0.0, 6.0, 12.0, 18.0, 25.0, 35.0)      # amplitude modulation (Hz) while the sound is on
TASK_WORDS = ("chimes", "drums", "engines", "voices", "whistles", "strings", "birds", "machines",
              "water", "bells", "horns", "clicks")
NEUTRAL_OBJECTS = 8
PRETRAIN_TAG = 0x9E7
LIT_GAIN, DIM_GAIN, LIT_SCALE, RIM = 1.0, 0.55, 1.5, 0.72
PLACEHOLDER_COLOUR = (0.5, 0.5, 0.5)      # the class-neutral placeholder: a grey solid disk
CUES = tuple((c, s) for s in (1.0, 1.25, 1.5) for c in COLOURS)   # "class" cue: (rim colour, size factor)
SILENT_OBJECTS, DISTRACTORS, SOUND_CUES = ("dim", "placeholder"), ("neutral", "lit", "classes"), ("shared", "class", "none")
TODAY = {"silent_object": "dim", "distractors": "neutral", "sound_cue": "shared", "overwrite_pairs": None,
         "object_scale": 1.0, "active_fraction": 0.5}                  # the knobs' defaults: the benchmark as first built
TODAY_OVERRIDES = tuple(f"data.{k}={'null' if v is None else v}" for k, v in TODAY.items())   # whatever the preset says


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
    am: float

    @property
    def name(self) -> str:
        return f"{self.f0:.0f}Hz {self.timbre} am{self.am:.0f}"


@dataclass(frozen=True)
class SyntheticClass:
    label: int
    task: int                 # canonical task (default order)
    obj: VisualObject
    sound: Sound
    reuses: int | None        # label of the earlier class whose visual object this one reuses
    cue: int = 0              # index into CUES: its sounding look under data.sound_cue = "class"

    @property
    def name(self) -> str:
        return f"{self.obj.name} + {self.sound.name}"


def task_names(num_tasks: int) -> list[str]:
    """Generated super-category names, "task1-chimes", ... in the default order."""
    return [f"task{k + 1}-{TASK_WORDS[k % len(TASK_WORDS)]}" for k in range(num_tasks)]


def _pools(seed: int, sample_rate: int) -> tuple[list[VisualObject], list[Sound]]:
    """Every visual object and every sound, each shuffled once by the data seed."""
    rng = np.random.default_rng([seed, 0x5EED])
    objects = [VisualObject(s, c, t) for s in SHAPES for c in COLOURS for t in TEXTURES]
    objects = [objects[i] for i in rng.permutation(len(objects))]
    f0s = np.geomspace(220.0, min(3520.0, 0.2 * sample_rate), 24)
    sounds = [Sound(float(f), tb, am) for f in f0s for tb in TIMBRES for am in AM_RATES]
    return objects, [sounds[i] for i in rng.permutation(len(sounds))]


def class_cues(seed: int) -> np.ndarray:
    """(len(CUES),) the cue of class label l is ``CUES[class_cues(seed)[l % len(CUES)]]``; pre-training class i
    takes the entries from the end. Distinct for up to len(CUES) = 24 continual classes."""
    return np.random.default_rng([seed, 0xC0E]).permutation(len(CUES))


def make_classes(num_tasks: int, classes_per_task: int, seed: int, sample_rate: int,
                 overwrite_pairs: int | None = None) -> tuple[list[SyntheticClass], list[VisualObject]]:
    """The benchmark's classes and the neutral distractor pool; a pure function of its arguments.

    The neutral pool is the first NEUTRAL_OBJECTS shuffled objects (the same for every task count),
    class objects follow it in order, so a benchmark with more tasks extends one with fewer. In every task
    after the first, its first ``overwrite_pairs`` classes (None: max(1, classes_per_task // 4)) reuse the
    object of an earlier class that reuses none."""
    if num_tasks < 1 or classes_per_task < 1:
        raise ValueError(f"synthetic benchmark needs >= 1 task and >= 1 class per task, "
                         f"got {num_tasks} x {classes_per_task}")
    if overwrite_pairs is not None and not 0 <= overwrite_pairs <= classes_per_task:
        raise ValueError(f"data.overwrite_pairs: must be in [0, {classes_per_task}], got {overwrite_pairs}")
    objects, sounds = _pools(seed, sample_rate)
    rng = np.random.default_rng([seed, 0xC1A55])
    cues = class_cues(seed)
    n = num_tasks * classes_per_task
    per_task = max(1, classes_per_task // 4) if overwrite_pairs is None else overwrite_pairs
    reuse = per_task if num_tasks > 1 else 0
    needed = n - reuse * (num_tasks - 1) + NEUTRAL_OBJECTS
    if needed > len(objects) or n > len(sounds):
        raise ValueError(f"synthetic benchmark: {num_tasks} x {classes_per_task} classes need {needed} visual "
                         f"objects (max {len(objects)}) and {n} sounds (max {len(sounds)})")
    classes: list[SyntheticClass] = []
    next_obj = NEUTRAL_OBJECTS
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
            classes.append(SyntheticClass(label, k, obj, sounds[label], src, int(cues[label % len(CUES)])))
    return classes, objects[:NEUTRAL_OBJECTS]


def make_pretrain_classes(n: int, seed: int, sample_rate: int) -> list[SyntheticClass]:
    """``n`` classes reserved for pre-training (labels 0..n-1, task 0): objects and sounds taken from
    the END of the shuffled lists, so they never meet the neutral pool or a continual class."""
    objects, sounds = _pools(seed, sample_rate)
    if not 1 <= n <= len(objects) - NEUTRAL_OBJECTS:
        raise ValueError(f"pretrain.classes: the synthetic benchmark can reserve 1..{len(objects) - NEUTRAL_OBJECTS} "
                         f"pre-training classes, got {n}")
    cues = class_cues(seed)
    return [SyntheticClass(i, 0, objects[-1 - i], sounds[-1 - i], None, int(cues[-1 - i % len(CUES)])) for i in range(n)]


def check_disjoint(classes: Sequence[SyntheticClass], pretrain: Sequence[SyntheticClass],
                   neutral: Sequence[VisualObject]) -> None:
    """Raise ValueError when a pre-training class shares its object or sound with a continual class,
    or its object with the neutral pool."""
    objs = {c.obj for c in classes} | set(neutral)
    snds = {c.sound for c in classes}
    for c in pretrain:
        if c.obj in objs or c.sound in snds:
            raise ValueError(f"pretrain.classes: {len(pretrain)} pre-training classes overlap the {len(classes)} "
                             f"continual classes (object {c.obj.name!r} or sound {c.sound.name!r}); "
                             "lower pretrain.classes")


def segment_bounds(audio_frames: int, num_frames: int) -> np.ndarray:
    """(T+1,) fbank-frame boundaries of the T segments, segment k <-> video frame k."""
    return np.round(np.linspace(0, audio_frames, num_frames + 1)).astype(int)


def _on_segments(rng: np.random.Generator, T: int, active_fraction: float = 0.5) -> np.ndarray:
    """(T,) bool: a random 1 .. max(1, floor(T * active_fraction)) of the segments sound (T // 2 by default)."""
    k = int(rng.integers(1, max(1, int(T * active_fraction)) + 1))
    on = np.zeros(T, dtype=bool)
    on[rng.choice(T, size=k, replace=False)] = True
    return on


def _events(on: np.ndarray, bounds: np.ndarray) -> list[tuple[float, float]]:
    """Sounding intervals (seconds) covering exactly the fbank frames of the ``on`` segments.

    Frame i is centred at i * shift + window / 2 (``audio.frame_activity``); an interval from
    bounds[k] to bounds[k+1] frames starts and ends 5 ms before those centres. Adjacent segments merge."""
    shift, half = FRAME_SHIFT_MS / 1000, FRAME_LENGTH_MS / 2000
    out: list[tuple[float, float]] = []
    for k in np.flatnonzero(on):
        a, b = bounds[k] * shift + half - 0.005, bounds[k + 1] * shift + half - 0.005
        if out and abs(out[-1][1] - a) < 1e-9:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _waveform(rng: np.random.Generator, sound: Sound, events: list[tuple[float, float]], n: int,
              sr: int, noise: float) -> np.ndarray:
    """(S,) float32: the class sound gated by the events and amplitude-modulated, plus background noise."""
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
    if sound.am > 0:
        tone = tone * (1.0 - 0.7 * (0.5 + 0.5 * np.cos(2 * np.pi * sound.am * t + rng.uniform(0, 2 * np.pi))))
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
           gain: np.ndarray, rim: np.ndarray | None = None, rim_colour: Sequence[float] = (1.0, 1.0, 1.0),
           shown: np.ndarray | None = None) -> np.ndarray:
    """Paint ``obj`` onto frames (T, H, W, 3) in place. cy, cx, r, gain: (T,); rim (T,) bool draws a rim of
    ``rim_colour`` (the shape at radius r minus the shape at RIM * r) in those frames; ``shown`` (T,) bool
    paints only those frames (default all). The colour "grey" is the placeholder's. Returns mask (T, H, W)."""
    T, H, W, _ = frames.shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64) + 0.5
    dy = (yy[None] - cy[:, None, None]) / r[:, None, None]                      # (T, H, W)
    dx = (xx[None] - cx[:, None, None]) / r[:, None, None]
    inside = _shape_mask(obj.shape, dy, dx)
    if shown is not None:
        inside &= shown[:, None, None]
    if obj.texture == "stripes":
        pat = 0.55 + 0.45 * (np.sin(np.pi * 2.5 * (dx + dy)) > 0)
    elif obj.texture == "checker":
        pat = 0.55 + 0.45 * ((np.floor(dx * 2) + np.floor(dy * 2)) % 2 == 0)
    else:
        pat = np.ones_like(dx)
    colour = np.asarray(PLACEHOLDER_COLOUR if obj.colour == "grey" else COLOURS[obj.colour])
    value = pat[..., None] * colour * gain[:, None, None, None]                 # (T, H, W, 3)
    if rim is not None and rim.any():
        edge = inside & ~_shape_mask(obj.shape, dy / RIM, dx / RIM) & rim[:, None, None]
        value[edge] = rim_colour
    frames[inside] = value[inside]
    return inside


PLACEHOLDER = VisualObject("disk", "grey", "solid")


def _paint_object(frames: np.ndarray, cls: SyntheticClass, path: np.ndarray, r0: float, on: np.ndarray,
                  silent_object: str, sound_cue: str) -> np.ndarray:
    """Paint class ``cls``'s object along ``path`` (T, 2) with base radius r0: the sounding look (``sound_cue``)
    in the ``on`` frames, the silent look (``silent_object``) in the others (module docstring). Returns its
    mask (T, H, W): where the object, or its placeholder, is."""
    if sound_cue == "shared":
        scale, gain, rim, rim_colour = LIT_SCALE, LIT_GAIN, on, (1.0, 1.0, 1.0)
    elif sound_cue == "class":
        colour, scale = CUES[cls.cue]
        gain, rim, rim_colour = DIM_GAIN, on, COLOURS[colour]
    else:
        scale, gain, rim, rim_colour = 1.0, DIM_GAIN, None, (1.0, 1.0, 1.0)
    r = r0 * np.where(on, scale, 1.0)
    g = np.where(on, gain, DIM_GAIN)
    if silent_object == "dim":
        return _paint(frames, cls.obj, path[:, 0], path[:, 1], r, g, rim=rim, rim_colour=rim_colour)
    mask = _paint(frames, cls.obj, path[:, 0], path[:, 1], r, g, rim=rim, rim_colour=rim_colour, shown=on)
    return mask | _paint(frames, PLACEHOLDER, path[:, 0], path[:, 1], r, g, shown=~on)


def _object_path(rng: np.random.Generator, on: np.ndarray, r0: float, S: int) -> np.ndarray:
    """(T, 2) centres: a uniform start inside the frame (LIT_SCALE * r0 from its edges), a jump of up to
    0.15 S per axis at every onset of ``on``."""
    onsets = on & ~np.concatenate([[False], on[:-1]])
    margin = LIT_SCALE * r0
    jumps = rng.uniform(-0.15, 0.15, size=(len(on), 2)) * S * onsets[:, None]
    return np.clip(rng.uniform(margin, S - margin, size=2) + np.cumsum(jumps, axis=0), margin, S - margin)


def _salient_distractors(frames: np.ndarray, pool: Sequence[SyntheticClass], rng: np.random.Generator, count: int,
                         object_scale: float, active_fraction: float, silent_object: str, sound_cue: str) -> None:
    """``count`` of the ``pool``'s objects, each drawn as a sounding object with on-segments, size and path of its
    own, all from ``rng``."""
    T, S = frames.shape[0], frames.shape[1]
    for d in rng.choice(len(pool), size=min(count, len(pool)), replace=False):
        on = _on_segments(rng, T, active_fraction)
        r0 = rng.uniform(0.12, 0.16) * S * object_scale
        _paint_object(frames, pool[int(d)], _object_path(rng, on, r0, S), r0, on, silent_object, sound_cue)


def distractor_pool(kind: str, classes: Sequence[SyntheticClass], neutral: Sequence[VisualObject],
                    cls: SyntheticClass) -> list[SyntheticClass]:
    """What salient distractors (``data.distractors`` "lit" / "classes") are drawn from: the neutral objects (as
    classes of no label, each with a cue of its own from the end of CUES) or one class per distinct object other
    than ``cls``'s."""
    if kind == "lit":
        return [SyntheticClass(-1 - i, -1, o, cls.sound, None, len(CUES) - 1 - i % len(CUES)) for i, o in enumerate(neutral)]
    return list({c.obj: c for c in classes if c.obj != cls.obj}.values())


def render_clip(classes: Sequence[SyntheticClass], neutral: Sequence[VisualObject], label: int,
                key: Sequence[int], *, num_frames: int, image_size: int, audio_frames: int, sample_rate: int,
                num_distractors: int, noise_level: float, audio_only: bool = False, object_scale: float = 1.0,
                active_fraction: float = 0.5, silent_object: str = "dim", distractors: str = "neutral",
                sound_cue: str = "shared") -> dict:
    """One clip of class ``label``; deterministic in ``key`` (module docstring).

    Sparsity knobs (``data.*``): ``num_distractors`` silent objects (at most NEUTRAL_OBJECTS from the neutral
    pool, or the other classes' distinct objects), the sounding object's radius times ``object_scale`` (in
    (0, 2]), sound in at most ``active_fraction`` of the segments; ``silent_object``, ``distractors`` and
    ``sound_cue`` as the module docstring says. The defaults (:data:`TODAY`) draw the same random numbers and
    give the same clip as before these knobs existed; "classes" distractors draw from a stream of their own.

    Returns wave (S,) float32, events [(start, end) s] and ``on`` (T,) bool (which segments sound),
    and unless ``audio_only``: frames (T, H, W, 3) float32 in [0, 1], mask (T, H, W) bool of the
    sounding object (or its placeholder) in every frame, overlap (T,) float (1.0 where the frame's segment sounds).
    """
    for name, value, known in (("silent_object", silent_object, SILENT_OBJECTS),
                               ("distractors", distractors, DISTRACTORS), ("sound_cue", sound_cue, SOUND_CUES)):
        if value not in known:
            raise ValueError(f"data.{name}: must be one of {', '.join(known)}, got {value!r}")
    cls = classes[label]
    n = num_samples_for_frames(audio_frames, sample_rate)
    T, S = num_frames, image_size
    on = _on_segments(np.random.default_rng([*key, 1]), T, active_fraction)
    events = _events(on, segment_bounds(audio_frames, T))
    wave = _waveform(np.random.default_rng([*key, 2]), cls.sound, events, n, sample_rate, noise_level)
    out = {"wave": wave, "events": events, "on": on}
    if audio_only:
        return out
    rng = np.random.default_rng([*key, 3])
    c0, c1 = rng.uniform(0.15, 0.45, size=(2, 3))
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = (np.mgrid[0:S, 0:S] + 0.5) / S
    ramp = (np.cos(theta) * (xx - 0.5) + np.sin(theta) * (yy - 0.5) + 0.5).clip(0, 1)
    bg = c0 + (c1 - c0) * ramp[..., None]                                       # (H, W, 3)
    frames = np.repeat(bg[None], T, axis=0) + noise_level * 0.3 * rng.standard_normal((T, S, S, 3))
    if distractors != "neutral":
        _salient_distractors(frames, distractor_pool(distractors, classes, neutral, cls), np.random.default_rng([*key, 5]),
                             num_distractors, object_scale, active_fraction, silent_object, sound_cue)
    else:
        for d in rng.choice(len(neutral), size=min(num_distractors, len(neutral)), replace=False):
            r = rng.uniform(0.11, 0.16) * S
            p0 = rng.uniform(r, S - r, size=2)
            v = rng.uniform(-0.06, 0.06, size=2) * S
            path = np.clip(p0 + np.arange(T)[:, None] * v, r, S - r)            # (T, 2)
            _paint(frames, neutral[int(d)], path[:, 0], path[:, 1], np.full(T, r), np.full(T, 0.8))
    r0 = rng.uniform(0.12, 0.16) * S * object_scale
    mask = _paint_object(frames, cls, _object_path(rng, on, r0, S), r0, on, silent_object, sound_cue)
    out["frames"] = frames.clip(0, 1).astype(np.float32)
    out["mask"] = mask
    out["overlap"] = on.astype(np.float64)
    return out


def shuffled_order(num_tasks: int) -> list[int]:
    """The synthetic benchmark's fixed "shuffled" order (independent of the data seed), never the identity."""
    perm = [int(i) for i in np.random.default_rng(7).permutation(num_tasks)]
    return perm[::-1] if num_tasks > 1 and perm == sorted(perm) else perm


def _render_kwargs(d) -> dict:
    return dict(num_frames=d.num_frames, image_size=d.image_size, audio_frames=d.audio_frames,
                sample_rate=d.sample_rate, num_distractors=d.num_distractors, noise_level=d.noise_level,
                object_scale=d.object_scale, active_fraction=d.active_fraction, silent_object=d.silent_object,
                distractors=d.distractors, sound_cue=d.sound_cue)


def build_synthetic(cfg) -> "Benchmark":
    """The synthetic benchmark for ``cfg`` (a :class:`stella.config.Config`)."""
    d = cfg.data
    if d.image_size < 8:
        raise ValueError(f"data.image_size={d.image_size}: the synthetic benchmark needs >= 8 pixels")
    classes, neutral = make_classes(d.num_tasks, d.classes_per_task, d.seed, d.sample_rate, d.overwrite_pairs)
    if cfg.pretrain.source == "synthetic":
        check_disjoint(classes, make_pretrain_classes(cfg.pretrain.classes, d.seed, d.sample_rate), neutral)
    per_class = d.train_per_class + d.eval_per_class
    kw = _render_kwargs(d)

    def render(index: int, audio_only: bool = False) -> dict:
        return render_clip(classes, neutral, index // per_class, (d.seed, index), audio_only=audio_only, **kw)

    norm = norm_from_config(d)
    if norm is None:
        stat_idx = [c * per_class + j for j in range(d.train_per_class) for c in range(len(classes))][:32]
        key = ("synthetic", d.seed, d.num_tasks, d.classes_per_task, tuple(sorted(kw.items())), d.mel_bins,
               d.train_per_class, d.eval_per_class)
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


def build_pretrain_synthetic(cfg, num_classes: int, clips_per_class: int) -> "ClipDataset":
    """The reserved pre-training set (section 5.1, appendix B): ``num_classes`` x ``clips_per_class``
    training clips of :func:`make_pretrain_classes`, rendered and augmented like the continual clips,
    normalised with their own fbank statistics. Its ``info`` attribute names the classes."""
    d = cfg.data
    pre = make_pretrain_classes(num_classes, d.seed, d.sample_rate)
    kw = _render_kwargs(d)

    neutral = make_classes(1, 1, d.seed, d.sample_rate)[1]

    def render(index: int, audio_only: bool = False) -> dict:
        return render_clip(pre, neutral, index // clips_per_class, (d.seed, PRETRAIN_TAG, index),
                           audio_only=audio_only, **kw)

    norm = norm_from_config(d)
    if norm is None:
        stat_idx = [c * clips_per_class + j for j in range(clips_per_class) for c in range(num_classes)][:32]
        key = ("synthetic-pretrain", d.seed, num_classes, clips_per_class, tuple(sorted(kw.items())), d.mel_bins)
        norm = clip_norm_stats(key, lambda i: render(i, True)["wave"], stat_idx, d)
    idx = list(range(num_classes * clips_per_class))
    ds = ClipDataset(ClipSource(render, d, norm), idx, [i // clips_per_class for i in idx], 0,
                     augment=d.augment, seed=d.seed)
    ds.info = {"classes": pre, "norm": norm}
    return ds
