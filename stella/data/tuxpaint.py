"""Optional real-content benchmark from Debian's tuxpaint-stamps-default (GPL-2, never committed).

The package ships photo cut-outs (PNG with alpha) of which ~130 come with a real recorded sound
(same stem, .ogg/.wav). A class is one stamp (label = its folder path + name); tasks are its
super-categories (``animals/mammals``, ``animals/birds``, ``symbols``, ...). Clips are composed
like the synthetic ones (synthetic.py): the sounding stamp swells and jumps with its sound's
event, silent distractor stamps drift over a gradient background, the sound is placed at a
random time over background noise; ground truth mask (T, H, W) and active (t,) as there.
``stella.data.stamps.fetch_stamps`` (``make data-real`` / ``stella data-real``) downloads and extracts it.
"""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

from stella.data.audio import num_samples_for_frames

DEFAULT_DIR = Path("data/tuxpaint")
PACKAGE = "tuxpaint-stamps-default"


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


def render_stamp_clip(sprites: list[np.ndarray], sounds: list[np.ndarray], label: int, index: int, *, seed: int,
                      num_frames: int, image_size: int, audio_frames: int, sample_rate: int, num_distractors: int,
                      noise_level: float) -> dict:
    """One composed clip of stamp ``label``; deterministic in (seed, index). Same keys as synthetic.render_clip."""
    rng = np.random.default_rng([seed, index, 4])
    n = num_samples_for_frames(audio_frames, sample_rate)
    duration = n / sample_rate
    snd = sounds[label]
    length = min(snd.size, int(0.6 * n))
    off = int(rng.integers(0, snd.size - length + 1))
    start = int(rng.integers(0, n - length + 1))
    wave = noise_level * 0.5 * rng.standard_normal(n)
    seg = snd[off:off + length]
    wave[start:start + length] += 0.5 * seg / (np.abs(seg).max() + 1e-8)
    events = [(start / sample_rate, (start + length) / sample_rate)]
    T, S = num_frames, image_size
    edges = np.linspace(0, duration, T + 1)
    a, b = events[0]
    overlap = np.clip(np.minimum(b, edges[1:]) - np.maximum(a, edges[:-1]), 0, None) / np.diff(edges)
    onsets = (edges[:-1] <= a) & (a < edges[1:])
    c0, c1 = rng.uniform(0.15, 0.45, size=(2, 3))
    yy, xx = (np.mgrid[0:S, 0:S] + 0.5) / S
    theta = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(theta) * (xx - 0.5) + np.sin(theta) * (yy - 0.5) + 0.5).clip(0, 1)
    frames = np.repeat((c0 + (c1 - c0) * ramp[..., None])[None], T, axis=0)
    frames = frames + noise_level * 0.3 * rng.standard_normal((T, S, S, 3))
    others = [i for i in range(len(sprites)) if i != label]
    for d in rng.choice(others, size=min(num_distractors, len(others)), replace=False):
        s = rng.uniform(0.25, 0.35) * S
        p0 = rng.uniform(s / 2, S - s / 2, size=2)
        path = np.clip(p0 + np.arange(T)[:, None] * rng.uniform(-0.06, 0.06, size=2) * S, s / 2, S - s / 2)
        _paste(frames, sprites[int(d)], path[:, 0], path[:, 1], np.full(T, s))
    s0 = rng.uniform(0.3, 0.38) * S
    size = s0 * (1 + 0.3 * overlap)
    path = rng.uniform(0.65 * s0, S - 0.65 * s0, size=2) + np.cumsum(
        rng.uniform(-0.1, 0.1, size=(T, 2)) * S * onsets[:, None], axis=0)
    path = np.clip(path, 0.65 * s0, S - 0.65 * s0)
    mask = _paste(frames, sprites[label], path[:, 0], path[:, 1], size)
    return {"wave": wave.astype(np.float32), "events": events, "frames": frames.clip(0, 1).astype(np.float32),
            "mask": mask, "overlap": overlap}


def build_tuxpaint(cfg, root: str | Path = DEFAULT_DIR):
    """The tuxpaint benchmark: the ``num_tasks`` largest super-categories with enough stamps, in name order."""
    from stella.data.benchmark import Benchmark, ClipDataset, ClipSource, Task, clip_norm_stats, norm_from_config
    from stella.data.manifest import decode_audio
    from stella.data.splits import resolve_task_order

    d = cfg.data
    cats = scan_stamps(root)
    ok = sorted((c for c, v in cats.items() if len(v) >= d.classes_per_task), key=lambda c: (-len(cats[c]), c))
    if len(ok) < d.num_tasks:
        raise ValueError(f"tuxpaint: only {len(ok)} super-categories have >= {d.classes_per_task} stamps "
                         f"({', '.join(f'{c}={len(cats[c])}' for c in sorted(cats))}); lower data.num_tasks "
                         "or data.classes_per_task")
    names = sorted(ok[: d.num_tasks])
    stamps = [s for c in names for s in cats[c][: d.classes_per_task]]
    sprites = [load_sprite(png, 64).numpy() for _, png, _ in stamps]
    sounds = []
    for _, _, snd in stamps:
        w = decode_audio(snd, d.sample_rate)
        sounds.append(w if w.size else np.zeros(1, np.float32))
    per_class = d.train_per_class + d.eval_per_class
    kw = dict(seed=d.seed, num_frames=d.num_frames, image_size=d.image_size, audio_frames=d.audio_frames,
              sample_rate=d.sample_rate, num_distractors=d.num_distractors, noise_level=d.noise_level)

    def render(index: int) -> dict:
        return render_stamp_clip(sprites, sounds, index // per_class, index, **kw)

    norm = norm_from_config(d)
    if norm is None:
        idx = [c * per_class + j for j in range(d.train_per_class) for c in range(len(stamps))][:32]
        key = ("tuxpaint", tuple(s[0] for s in stamps), tuple(sorted(kw.items())), d.mel_bins)
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
    return Benchmark("tuxpaint", tasks, norm, [s[0] for s in stamps], {"stamps": stamps, "root": str(root)})
