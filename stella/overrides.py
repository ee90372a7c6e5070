"""Configuration text into nested dicts: ``section.key=value`` overrides and preset YAML files.

A preset file and a list of overrides both only override the defaults of :mod:`stella.config`;
this module reads them, and :func:`stella.config.load_config` resolves what they say into a
:class:`~stella.config.Config`. ``parse_overrides(["continual.lr=3e-4"], sections)`` ->
``{"continual": {"lr": 0.0003}}``; ``read_preset(path)`` -> the file's mapping of sections.
Every problem raises :class:`ConfigError` naming the override, file or key.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml


class ConfigError(ValueError):
    """A configuration key is unknown or its value is out of range."""


def merge(base: dict, upd: Mapping) -> dict:
    """``base`` with ``upd`` laid over it, mapping by mapping."""
    out = dict(base)
    for k, v in upd.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def scalar(text: str) -> Any:
    """YAML scalar, plus numbers YAML 1.1 leaves as strings (``3e-4``); nothing (``key=``) is the empty string."""
    if not text.strip():
        return ""
    try:
        v = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def parse_overrides(overrides: Mapping[str, Any] | list[str] | None, sections: Iterable[str]) -> dict:
    """``["continual.lr=3e-4", "model.size=base"]`` or ``{"continual.lr": 3e-4}`` -> nested dict.

    A key must be ``section.key`` with ``section`` one of ``sections``."""
    if not overrides:
        return {}
    sections = list(sections)
    items = overrides.items() if isinstance(overrides, Mapping) else []
    if not isinstance(overrides, Mapping):
        parsed = []
        for s in overrides:
            if "=" not in s:
                raise ConfigError(f"{s}: an override must look like section.key=value")
            k, v = s.split("=", 1)
            parsed.append((k.strip(), scalar(v)))
        items = parsed
    nested: dict[str, Any] = {}
    for key, value in items:
        if "." not in key:
            raise ConfigError(f"{key}: an override key must be section.key (sections: {', '.join(sections)})")
        sec, k = key.split(".", 1)
        if sec not in sections:
            why = "the preset is chosen by name (--preset), not overridden" if sec == "preset" else "unknown section"
            raise ConfigError(f"{key}: {why} (sections: {', '.join(sections)})")
        nested.setdefault(sec, {})[k] = value
    return nested


class _Repeated(Exception):
    """A key given twice in one YAML mapping: the key and both line numbers."""


class _UniqueKeys(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in lines:
                raise _Repeated(key, lines[key], key_node.start_mark.line + 1)
            lines[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def _yaml_kind(v: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}.get(type(v), type(v).__name__)


def read_preset(path: Path) -> dict:
    """The mapping of sections in the preset file ``path`` (``preset`` set to its stem unless it names itself)."""
    if not path.exists():
        raise ConfigError(f"preset: file {path} does not exist")
    if path.is_dir():
        raise ConfigError(f"preset: {path} is a directory, not a preset file")
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeys) or {}
    except _Repeated as e:
        key, first, again = e.args
        raise ConfigError(f"preset: {path}: {key!r} is given twice (lines {first} and {again}); YAML would keep only "
                          "the last, so give each section and key once") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"preset: {path} is not valid YAML: {' '.join(str(e).split())}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"preset: {path} is not a YAML text file ({e.reason})") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"preset: {path} must be a YAML mapping of sections (model, data, ...), "
                          f"its top level is a {_yaml_kind(raw)}")
    raw.setdefault("preset", path.stem)
    return raw


__all__ = ["ConfigError", "merge", "scalar", "parse_overrides", "read_preset"]
