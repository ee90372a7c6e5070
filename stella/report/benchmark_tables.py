"""Tables of the benchmark itself (chapter 01): tasks, overwriting pairs, sparsity, audio normalisation.

Every function measures the generated data of a :class:`stella.data.Benchmark`; nothing trains.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch


def tasks_frame(bench) -> pd.DataFrame:
    """One row per task: position, name, class ids and names, train / eval clip counts."""
    return pd.DataFrame([{"task": t.index + 1, "name": t.name, "classes": len(t.classes),
                          "class names": "; ".join(bench.class_names[c] for c in t.classes),
                          "train clips": len(t.train), "eval clips": len(t.eval)} for t in bench.tasks])


def overwriting_frame(bench) -> pd.DataFrame:
    """The "correlation overwriting" pairs (Fig. 3): a later class reusing an earlier class's object."""
    reused = bench.info.get("reused", {}) if bench.info else {}
    task_of = {c: t.index + 1 for t in bench.tasks for c in t.classes}
    classes = bench.info.get("classes") if bench.info else None
    rows = []
    for new, old in sorted(reused.items()):
        row = {"earlier class": old, "earlier task": task_of.get(old), "later class": new,
               "later task": task_of.get(new)}
        if classes is not None:
            row.update({"shared object": classes[new].obj.name, "earlier sound": classes[old].sound.name,
                        "later sound": classes[new].sound.name})
        rows.append(row)
    return pd.DataFrame(rows)


def sparsity_frame(bench, patch_size: int, max_items: int | None = None) -> pd.DataFrame:
    """:func:`stella.data.sparsity` of every task's eval split, one row per task."""
    from stella.data import sparsity

    return pd.DataFrame([{"task": t.index + 1, "name": t.name, **sparsity(t.eval, patch_size, max_items)}
                         for t in bench.tasks])


def sparsity_sentence(sp: pd.DataFrame, patch: int, name: str = "") -> str:
    """One sentence: the mean share of video patches on the object and of audio tokens with the event."""
    v, a = 100 * sp["video_patches"].mean(), 100 * sp["audio_chunks"].mean()
    return (f"{name}On average {v:.1f}% of the {patch}x{patch} video patches touch the sounding object and {a:.1f}% of "
            f"the audio time tokens contain the event; the correspondence is sparse (< 50% in both): "
            f"{'yes' if v < 50 and a < 50 else 'no'}.")


def audio_norm_frame(bench, per_task: int = 8) -> pd.DataFrame:
    """The fbank mean/std the benchmark normalises with, and the measured mean/std of normalised train clips
    (the first ``per_task`` clips of every task)."""
    fb = torch.stack([t.train[i]["audio"] for t in bench.tasks for i in range(min(per_task, len(t.train)))])
    return pd.DataFrame([{"statistic": "fbank mean (before normalisation)", "value": bench.audio_norm[0]},
                         {"statistic": "fbank std (before normalisation)", "value": bench.audio_norm[1]},
                         {"statistic": "normalised train fbank mean (measured)", "value": float(fb.mean())},
                         {"statistic": "normalised train fbank std (measured)", "value": float(fb.std())}])


def first_clip_of_each_class(bench) -> dict[int, tuple]:
    """class label -> (task, index in its eval split) of the class's first evaluation clip."""
    out: dict[int, tuple] = {}
    for task in bench.tasks:
        for i, lab in enumerate(task.eval.labels):
            out.setdefault(lab, (task, i))
    return out


def tuxpaint_benchmark(preset: str, task_order: str, root: str | Path):
    """The real-content benchmark when ``make data-real`` prepared ``root/stamps``, else None."""
    from stella.data.tuxpaint import build_tuxpaint
    from stella.report.runs import run_config

    root = Path(root)
    if not (root / "stamps").is_dir():
        return None
    cfg = run_config(preset, "stella", overrides=["data.dataset=tuxpaint"], task_order=task_order)
    return build_tuxpaint(cfg, root)
