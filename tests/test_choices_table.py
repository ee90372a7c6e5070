"""The choices tables of book/model.md cannot drift: every config key they name exists, and every
preset's reading (the "reading at each preset" column) is what ``load_config(preset)`` resolves for that key."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from stella.config import SECTIONS, load_config, preset_names

MODEL_MD = Path(__file__).resolve().parent.parent / "book" / "model.md"
PRESETS = ("smoke", "cpu", "paper", "paper-as")
PER_PRESET = "switch — reading at each preset"   # "`section.key` — smoke, cpu: x; paper, paper-as: y"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def choices_rows() -> list[dict[str, str]]:
    """Rows of every table in the "Choices" section, as {column header: cell text}."""
    text = MODEL_MD.read_text()
    start = text.index("(choices)=")
    end = text.find("\n## ", start + len("(choices)=\n## "))
    lines = text[start:end if end != -1 else None].splitlines()
    rows, header = [], None
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            header = None
            continue
        if header is None:
            header = _cells(line)
            assert set(lines[i + 1].replace("|", "").strip()) <= set("-: "), f"{MODEL_MD.name}: table without a rule"
            continue
        if set(line.replace("|", "").strip()) <= set("-: "):
            continue
        cells = _cells(line)
        assert len(cells) == len(header), f"{MODEL_MD.name}: row has {len(cells)} cells, header {len(header)}: {line}"
        row = dict(zip(header, cells))
        key, sep, readings = row.pop(PER_PRESET).partition(" — ")
        assert sep, f"{MODEL_MD.name}: {PER_PRESET!r} cell of {row['where']!r} needs 'switch — readings'"
        row["key"] = "—" if key == "no switch" else key
        row.update(per_preset(readings))
        rows.append(row)
    return rows


def per_preset(cell: str) -> dict[str, str]:
    """"every preset: x" or "smoke, cpu: x; paper, paper-as: y" -> {preset: reading}, every preset once."""
    out = {}
    for group in cell.split("; "):
        names, sep, value = group.partition(": ")
        assert sep and value, f"{MODEL_MD.name}: {PER_PRESET!r} cell {cell!r}: expected 'presets: reading' groups"
        for name in PRESETS if names == "every preset" else names.split(", "):
            assert name in PRESETS and name not in out, f"{MODEL_MD.name}: {cell!r} names {name!r} badly"
            out[name] = value
    assert set(out) == set(PRESETS), f"{MODEL_MD.name}: {cell!r} misses {set(PRESETS) - set(out)}"
    return out


def _unquote(cell: str) -> str:
    assert cell.startswith("`") and cell.endswith("`"), f"expected a `value` in backticks, got {cell!r}"
    return cell.strip("`")


def test_the_tables_cover_every_preset_and_the_known_switches():
    rows = choices_rows()
    assert len(rows) >= 20
    assert set(PRESETS) == set(preset_names())
    assert all(set(PRESETS) <= set(r) and {"where", "readings", "key", "why"} <= set(r) for r in rows)
    keys = {_unquote(r["key"]) for r in rows if r["key"] != "—"}
    assert {"selection.descending", "selection.past_queries", "selection.mask_of"} <= keys


@pytest.mark.parametrize("row", [r for r in choices_rows() if r["key"] != "—"], ids=lambda r: r["key"].strip("`"))
def test_each_switch_is_a_config_key_with_the_stated_preset_values(row):
    section, name = _unquote(row["key"]).split(".")
    assert section in SECTIONS, f"model.md names unknown section {section!r}"
    assert name in {f.name for f in dataclasses.fields(SECTIONS[section])}, f"model.md names unknown key {section}.{name}"
    for preset in PRESETS:
        stated = yaml.safe_load(_unquote(row[preset]))
        resolved = getattr(getattr(load_config(preset), section), name)
        assert stated == resolved, f"model.md says {section}.{name} = {stated!r} at {preset}, load_config gives {resolved!r}"


@pytest.mark.parametrize("row", [r for r in choices_rows() if r["key"] == "—"], ids=lambda r: r["where"])
def test_a_reading_without_a_switch_is_the_same_at_every_preset(row):
    assert len({row[p] for p in PRESETS}) == 1, f"{row['where']}: no key, yet the presets differ: {row}"
    assert all(row[p] and not row[p].startswith("`") for p in PRESETS)
