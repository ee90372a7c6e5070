"""Chapter 04b: the calibration sweep's record (issue 30, item 3), read from the file the benchmark wrote.

``python -m benchmarks.bench_calibrate ... --record benchmarks/records/calibration-cpu.json`` sweeps the
generator's knobs at the cpu preset and judges every setting by the oracle (never by STELLA): Oracle − Random in A
under both readings of the token budget, the run phenomena the book relies on and the stage's AVM against negative
audio. The sweep trains its own pre-training stages, so it is not part of ``make book``; its numbers travel as that
file, which names the commit, the machine and the command that wrote it. :func:`load_record` validates it (a
ValueError names the file and the key), :func:`gap_table` and :func:`checks_table` are its two tables and
:func:`calibration_sentence` says which setting is best and whether any meets the gate.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from stella.config import load_config
from stella.data.synthetic import TODAY_OVERRIDES
from stella.report.display import show
from stella.report.provenance import REPO
from stella.store import read_json

RECORD = REPO / "benchmarks" / "records" / "calibration-cpu.json"
GAP = "Oracle − Random"
CHECKS = {"Multitask − chance": "Multitask above chance", "Finetune F": "Finetune forgets",
          "DER++ − Finetune": "DER++ above Finetune", "AVM localises": "AVM localises",
          "because of the sound": "because of the sound"}


def load_record(path: str | Path = RECORD) -> dict | None:
    """The record at ``path`` (None when there is none); ValueError naming the file and the key it lacks."""
    path = Path(path)
    if not path.exists():
        return None
    rec = read_json(path)
    for key, kind in (("provenance", dict), ("rule", dict), ("settings", list), ("rows", list)):
        if not isinstance(rec.get(key) if isinstance(rec, dict) else None, kind):
            raise ValueError(f"{path}: key {key!r} missing or not a {kind.__name__}")
    for i, s in enumerate(rec["settings"]):
        for key in ("setting", "knobs", "checks", "gate"):
            if key not in s:
                raise ValueError(f"{path}: settings[{i}] lacks {key!r}")
    for i, r in enumerate(rec["rows"]):
        for key in ("setting", "quantity", "direction", "reading", "d", "lo", "hi", "n"):
            if key not in r:
                raise ValueError(f"{path}: rows[{i}] lacks {key!r}")
    return rec


def _cell(r: dict | None) -> str:
    if r is None or not r["n"]:
        return "not run"
    if r["lo"] is None or r["n"] < 2:
        return f"{r['d']:+.2f} (one seed)"
    return f"{r['d']:+.2f} [{r['lo']:+.2f}, {r['hi']:+.2f}]"


def _rows(rec: dict) -> dict[tuple, dict]:
    return {(r["setting"], r["quantity"], r["direction"], r["reading"]): r for r in rec["rows"]}


def gap_table(rec: dict) -> pd.DataFrame:
    """Per setting and direction: Oracle − Random and Oracle (video) − Random in A (%p, 95 % t-interval over seeds)
    under the main reading, Oracle − Random under the other, and the seeds of each reading."""
    main, rows = rec["rule"]["reading"], _rows(rec)
    other = next((r["reading"] for r in rec["rows"] if r["reading"] not in (None, main)), "full")
    out = []
    for s in rec["settings"]:
        for d in rec["rule"]["directions"]:
            gap, video, full = (rows.get((s["setting"], q, d, r)) for q, r in
                                ((GAP, main), ("Oracle (video) − Random", main), (GAP, other)))
            out.append({"setting": s["setting"], "direction": d, f"{GAP} ({main})": _cell(gap),
                        f"video only ({main})": _cell(video), f"{GAP} ({other})": _cell(full),
                        "seeds": f"{gap['n'] if gap else 0} / {full['n'] if full else 0}"})
    return pd.DataFrame(out)


def _check(key: str) -> str:
    """A check's name without its direction ("Finetune F A→V" -> "Finetune F")."""
    name, _, last = key.rpartition(" ")
    return name if "→" in last else key


def _yes(checks: dict, key: str) -> str:
    vals = [v for k, v in checks.items() if _check(k) == key]
    if not vals or any(v is None for v in vals):
        return "not run"
    return "yes" if all(vals) else "no"


def checks_table(rec: dict) -> pd.DataFrame:
    """Per setting: the gap (>= the gate in both directions, interval above 0), every phenomenon (kept in both
    directions: yes / no / not run) and the gate's verdict as the benchmark printed it."""
    gate = rec["rule"]["gate"]
    return pd.DataFrame([{"setting": s["setting"], f"gap >= {gate:g} %p": _yes(s["checks"], "gap"),
                          **{label: _yes(s["checks"], key) for key, label in CHECKS.items()},
                          "gate": s["gate"].split(":")[0]} for s in rec["settings"]])


def default_setting(rec: dict, preset: str = "cpu") -> str | None:
    """The swept setting whose knobs give ``preset``'s data config (None when none does)."""
    data = load_config(preset).data
    for s in rec["settings"]:
        changed = {o.split("=", 1)[0] for o in s["knobs"]}
        overrides = [o for o in TODAY_OVERRIDES if o.split("=", 1)[0] not in changed] + list(s["knobs"])
        if load_config(preset, overrides).data == data:
            return s["setting"]
    return None


def best_setting(rec: dict) -> str | None:
    """The setting with the largest smaller-direction Oracle − Random under the main reading."""
    rows, main = _rows(rec), rec["rule"]["reading"]
    gaps = {s["setting"]: min((rows.get((s["setting"], GAP, d, main)) or {"d": None})["d"] or float("-inf")
                              for d in rec["rule"]["directions"]) for s in rec["settings"]}
    return max(gaps, key=gaps.get) if gaps else None


def calibration_sentence(rec: dict | None, preset: str) -> str:
    """Which setting the calibration found best, whether any meets the gate, and where the record comes from."""
    if rec is None:
        return ("The calibration's record (benchmarks/records/calibration-cpu.json) is not in this checkout: "
                "python -m benchmarks.bench_calibrate --jobs 2 --record benchmarks/records/calibration-cpu.json "
                "writes it.")
    p, rule, main = rec["provenance"], rec["rule"], rec["rule"]["reading"]
    best, default = best_setting(rec), default_setting(rec)
    rows, knobs = _rows(rec), {s["setting"]: s["knobs"] for s in rec["settings"]}
    passed = [s["setting"] for s in rec["settings"] if s["gate"] == "pass"]
    gaps = ", ".join(f"{_cell(rows.get((best, GAP, d, main)))} ({d})" for d in rule["directions"])
    text = (f"The calibration swept {len(rec['settings'])} settings of the generator at the {p['preset']} preset "
            f"(record written {p['built']} from commit {p['commit']} by `{p['command']}`). The largest Oracle − "
            f"Random in its weaker direction ({main} reading) is that of \"{best}\" "
            f"({', '.join(knobs[best]) or 'the benchmark as first built'}): {gaps}. ")
    if passed:
        text += f"{len(passed)} setting{'s meet' if len(passed) != 1 else ' meets'} the gate ({', '.join(passed)})."
    else:
        text += (f"No setting meets the gate (Oracle − Random >= {rule['gate']:g} %p in both directions, every "
                 f"phenomenon kept)")
        fails = {}
        for s in rec["settings"]:
            for k, v in s["checks"].items():
                if v is False and _check(k) in CHECKS:
                    fails.setdefault(CHECKS[_check(k)], set()).add(s["setting"])
        text += ("; besides the gap, " + "; ".join(f"\"{k}\" fails at {len(v)} of {len(rec['settings'])}"
                                                   for k, v in fails.items()) + "." if fails else ".")
    if default is not None:
        text += f" The {p['preset']} default is \"{default}\"."
    if preset != p["preset"]:
        text += f" (This book runs at {preset}; the record is of {p['preset']}.)"
    return text


def record_tables(rec: dict | None) -> list:
    """The page's two tables of the record, as shown (none without a record)."""
    if rec is None:
        return []
    return [show(gap_table(rec), caption="Oracle − Random and Oracle (video) − Random in A (%p, 95 % t-interval over "
                 "seeds) per swept setting, at the paper's rho = 0.5; seeds: main reading / other reading."),
            show(checks_table(rec), caption="Per swept setting: the gap and each phenomenon, kept in both directions "
                 "(yes / no / not run), and the gate.")]
