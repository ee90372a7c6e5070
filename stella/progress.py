"""A progress channel from a notebook's kernel to the process that executes it (``stella book``).

The book driver sets ``STELLA_PROGRESS_FILE`` to a file it tails while papermill executes a
notebook; code inside the kernel appends one JSON line per event with :func:`announce`. With the
variable unset (a notebook opened by hand, the tests, ``stella train``) every call is a no-op, so
notebooks need no code of their own for it. Events:

- ``plan``: ``runs`` = how many runs the notebook is about to ask for, e.g. from a loop over
  methods x seeds (optional; the total shown is the runs asked so far plus the plan; without a
  plan the driver prints "run k" without a total);
- ``pretrain-start`` / ``pretrain-end``: the pre-training stage is being computed (stella.continual.pretrain);
- ``run-start`` / ``run-end``: one run asked of the store (:func:`run_announced` around ``get_run``):
  ``method``, ``seed``, ``preset``, ``changes`` (values that differ from the preset's),
  ``stored`` (complete in the store before the call), and at the end ``seconds``.
"""
from __future__ import annotations

import json
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

ENV = "STELLA_PROGRESS_FILE"


def announce(event: str, **fields: Any) -> None:
    """Append ``{"event": event, "t": <unix time>, **fields}`` to the progress file, if one is set."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = json.dumps({"event": event, "t": time.time(), **fields}, default=str)
    with open(path, "a", encoding="utf-8") as f:  # one short write per line: appends do not interleave
        f.write(line + "\n")


@contextmanager
def run_announced(cfg, results_dir: str | Path, changes: Callable[[], list[str]] = list) -> Iterator[None]:
    """Announce ``run-start`` before and ``run-end`` after the body (a run asked of the store);
    ``changes()`` lists the run's values that differ from its preset's (called only when announcing)."""
    if not os.environ.get(ENV):
        yield
        return
    fields = {"method": cfg.continual.method, "seed": cfg.run.seed, "preset": cfg.preset,
              "changes": changes(), "stored": (Path(results_dir) / cfg.digest() / "COMPLETE").exists()}
    announce("run-start", **fields)
    t0 = time.perf_counter()
    yield
    announce("run-end", **fields, seconds=round(time.perf_counter() - t0, 2))


def read_events(path: str | Path, offset: int = 0) -> tuple[list[dict], int]:
    """Complete lines of the progress file from byte ``offset``: (events, new offset).

    A line still being written (no newline yet) is left for the next call."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for raw in data[:end].splitlines():
        try:
            events.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    return events, offset + end


def duration(seconds: float) -> str:
    """'4.2 s', '1 min 13 s', '1 h 02 min'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


class ProgressLines:
    """Turns one notebook's events into lines a person can read in a terminal.

    ``feed(event)`` returns the lines to print now; runs found complete in the store are grouped
    into one line ("runs 1-6: already in the run store") printed at the next ``flush()`` or at the
    next run that trains. Each line starts with the notebook and the time since it started."""

    def __init__(self, notebook: str, t0: float):
        self.notebook, self.t0 = notebook, t0
        self.total: int | None = None
        self.started = self.trained = 0
        self.stored: list[int] = []
        self.current = ""

    def _count(self, k: int) -> str:
        return f"{k}/{self.total}" if self.total and k <= self.total else f"{k}"

    def _line(self, t: float, text: str) -> str:
        m, s = divmod(int(max(0.0, t - self.t0)), 60)
        return f"  {self.notebook}  {m}:{s:02d}  {text}"

    def feed(self, ev: dict) -> list[str]:
        kind, t = ev.get("event"), ev.get("t", self.t0)
        if kind == "plan" and ev.get("runs"):
            self.total = self.started + int(ev["runs"])
            return []
        if kind == "pretrain-start":
            return [*self.flush(t), self._line(t, f"pre-training stage {ev.get('key')} ({ev.get('steps')} steps, computed "
                                                   "once, every run starts from it) ...")]
        if kind == "pretrain-end":
            return [self._line(t, f"pre-training stage done in {duration(float(ev.get('seconds', 0)))}")]
        what = ", ".join([str(ev.get("method")), f"seed {ev.get('seed')}", *ev.get("changes", [])])
        if kind == "run-start":
            self.started += 1
            self.current = f"run {self._count(self.started)} {what}"
            if ev.get("stored"):
                return []
            return [*self.flush(t), self._line(t, f"run {self._count(self.started)}  {what}: training ...")]
        if kind == "run-end":
            if ev.get("stored"):
                self.stored.append(self.started)
                return []
            self.trained += 1
            return [self._line(t, f"run {self._count(self.started)}  {what}: trained in "
                                  f"{duration(float(ev.get('seconds', 0)))}")]
        return []

    def flush(self, t: float) -> list[str]:
        if not self.stored:
            return []
        a, b = self.stored[0], self.stored[-1]
        runs = f"run {self._count(a)}" if a == b else f"runs {a}-{self._count(b)}"
        self.stored = []
        return [self._line(t, f"{runs}: already in the run store")]

    def summary(self) -> str:
        return f"{self.started} run{'s' * (self.started != 1)} ({self.trained} trained)" if self.started else "no runs"


class Follower:
    """Tail a progress file in a thread, handing ``lines``' output to ``write`` every ``every`` s.

    ``tick(lines)`` (optional) runs on every poll, e.g. to refresh a progress bar's elapsed time.
    Use as a context manager; leaving it reads the file one last time and flushes."""

    def __init__(self, path: str | Path, lines: ProgressLines, write: Callable[[str], None],
                 tick: Callable[[ProgressLines], None] | None = None, every: float = 1.0):
        self.path, self.lines, self.write, self.tick, self.every = path, lines, write, tick, every
        self.offset = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def poll(self) -> None:
        events, self.offset = read_events(self.path, self.offset)
        for ev in events:
            for line in self.lines.feed(ev):
                self.write(line)
        if events:
            for line in self.lines.flush(time.time()):
                self.write(line)
        if self.tick:
            self.tick(self.lines)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.poll()

    def __enter__(self) -> "Follower":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()
        for line in self.lines.flush(time.time()):
            self.write(line)
