"""The pins agree everywhere a user may install from: requirements.txt, the lock, pyproject, environment.yml."""
from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[name.strip().lower()] = version.strip()
    return out


def test_every_direct_pin_is_exact_and_shared():
    direct = _pins((ROOT / "requirements.txt").read_text().splitlines())
    lock = _pins((ROOT / "requirements.lock").read_text().splitlines())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _pins(project["dependencies"] + project["optional-dependencies"]["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pins = _pins(pip_section)
    assert "python=3.11" in env["dependencies"]
    assert {"torch", "torchvision", "torchaudio"} <= direct.keys()
    for name, version in direct.items():
        assert lock.get(name) == version, f"requirements.lock pins {name}=={lock.get(name)}, requirements.txt {version}"
        assert declared.get(name) == version, f"pyproject.toml pins {name}=={declared.get(name)}, requirements.txt {version}"
        assert conda_pins.get(name) == version, f"environment.yml pins {name}=={conda_pins.get(name)}, requirements.txt {version}"
    assert conda_pins.keys() == direct.keys()


def test_package_version_is_one_number():
    import stella

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == stella.__version__    # the run store's keys hash stella.__version__
