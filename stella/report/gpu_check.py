"""What ``benchmarks/paper_gpu.sh`` measured, when it has run: Table 2 on a GPU, for chapter 03.

The script writes ``gpu-check/run.json`` (the GPU, the UTC date it started, torch and CUDA versions, the
preset, steps and batch, each part's exit status) and ``gpu-check/table2.txt``: two tables printed by
``benchmarks.bench_methods`` (one line naming the preset, overrides and device, then one row per method:
``method batch_size throughput peak_mb saved_mb extra_mb memory_items rehearsal_mb cuda_peak_mb``), the
first at the preset's masking reading, the second with ``selection.mask_of=selected``.
:func:`gpu_table2` reads them into one frame, labelled with the device and the date, to set beside the
counts of :mod:`stella.continual.memory_count`; ``None`` when the script has not run there, did not run on a GPU
(unless ``require_gpu=False``: its CPU smoke run in the tests), or its Table 2 part did not finish.
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd

from stella.config import load_config
from stella.continual import METHODS

DEFAULT_DIR = Path("gpu-check")
HEADER = re.compile(r"^preset (\S+) (.*), device (\S+), (\d+) timed steps per method")


def _tables(text: str) -> list[tuple[str, str, pd.DataFrame]]:
    """(preset, overrides, table) of every bench_methods table in ``text``."""
    out, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        m = HEADER.match(line)
        if not m:
            continue
        body = []
        for row in lines[i + 1:]:
            if row.startswith(("STELLA / DER++", "preset ", "==")) or not row.strip():
                break
            body.append(row)
        if len(body) > 1:
            out.append((m.group(1), m.group(2), pd.read_csv(io.StringIO("\n".join(body)), sep=r"\s+")))
    return out


def _selecting(method: str) -> bool:
    """Whether ``selection.mask_of`` applies to ``method`` (as :func:`stella.continual.memory_count.count_methods` reads it)."""
    return method in METHODS and METHODS[method].strategy != "none" and METHODS[method].needs_avm


def gpu_table2(directory: str | Path = DEFAULT_DIR, require_gpu: bool = True) -> pd.DataFrame | None:
    """One row per (method, masking reading) of the script's Table 2: ``method``, ``reading`` (``selection.mask_of``
    for the selecting methods, "-" for the others, as ``count_methods`` labels its rows),
    ``batch_size``, ``throughput`` (samples/s), ``peak_mb`` and the other columns bench_methods prints
    (``cuda_peak_mb`` on a GPU), then ``device`` (the GPU's name, else the device), ``date`` (UTC, when
    the script started), ``torch``, ``preset``. None when there is nothing to show (module docstring)."""
    directory = Path(directory)
    run, table2 = directory / "run.json", directory / "table2.txt"
    if not run.is_file() or not table2.is_file():
        return None
    try:
        meta = json.loads(run.read_text())
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"{run}: not the JSON that benchmarks/paper_gpu.sh writes") from None
    if (require_gpu and not meta.get("gpu")) or meta.get("status", {}).get("table2", 1) != 0:
        return None
    frames = []
    for preset, overrides, df in _tables(table2.read_text()):
        given = re.search(r"selection\.mask_of=(\w+)", overrides)
        reading = given.group(1) if given else load_config(preset).selection.mask_of
        df.insert(1, "reading", [reading if _selecting(m) else "-" for m in df["method"]])
        frames.append(df)
    if not frames:
        return None
    out = pd.concat(frames, ignore_index=True)
    return out.assign(device=meta.get("gpu") or meta.get("device"), date=meta.get("started"), torch=meta.get("torch"),
                      preset=meta.get("preset"))


__all__ = ["gpu_table2", "DEFAULT_DIR"]
