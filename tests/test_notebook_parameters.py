"""Every parameter of every notebook can be overridden with papermill (``-p name value``), as the README shows.

For each notebook and each of its parameters, the papermill injection of one non-default value is played
into a fake kernel history, and the notebook's own path is taken: its ``notebook_setup`` call, then every
claim declaration it runs (a chapter's own, or every chapter's for chapter 09 and the landing page) up to
the first run it would train. The issue's bug was there: a declaration re-resolved its chapter through the
stray-parameter check and rejected the notebook's own ``-p methods``. Whole notebooks with a real override
run in ``tests/test_book.py`` (the smoke book is built with one override per chapter)."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import stella.report.runs as runs
from stella.report import verdicts
from stella.report.claims import REGISTRY, ClaimContext
from stella.report import parameters
from stella.report.parameters import notebook_setup

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))

# One non-default value per parameter name (valid at the smoke preset); methods: a subset, as the README writes it.
OVERRIDE = {
    "preset": "smoke", "results_dir": "elsewhere", "n_seeds": 2, "device": "auto", "task_order": "shuffled",
    "trained": False, "seed": 3, "clip": 1, "clips_per_task": 2, "max_items": 4, "play_audio": False,
    "tuxpaint_dir": "data/other-stamps", "steps": 3, "prefill": 2, "acc_seeds": 2, "n_sweep_seeds": 2,
    "chunk_sizes": "1", "audio_modes": "time", "rho_values": "0.5", "beta_values": "0.4", "measure_memory": False,
    "n_sparsity_seeds": 2, "memory_sizes": "16,32", "umap_methods": "stella",
    "umap_task": 2, "signal_methods": "derpp", "n_clips": 1, "iou_threshold": 0.3, "map_threshold": "median",
    "probe_epochs": 2, "finetune_steps": 1, "extra_tasks": 2, "exercise": "forgetting",
}
METHODS = {"02_retrieval": "derpp,stella", "03_efficiency": "derpp,stella", "04_ablations": "random,stella",
           "05_memory_size": "er", "06_modality_gap": "finetune,stella", "07_attention_localization": "stella",
           "08_downstream": "derpp,multitask"}


def params_of(path: Path) -> tuple[str, dict]:
    """(chapter, {name: default}) of a notebook: its ``parameters`` cell and its ``notebook_setup`` call."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    i = next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
    body = ast.parse("".join(cells[i]["source"])).body
    chapter = re.search(r'notebook_setup\(\s*"([^"]+)"', "".join(cells[i + 1]["source"])).group(1)
    return chapter, {n.targets[0].id: ast.literal_eval(n.value) for n in body if isinstance(n, ast.Assign)}


CASES = [(p.stem, name) for p in NOTEBOOKS for name in params_of(p)[1]]


class FakeShell:
    def __init__(self, injected: dict):
        self.user_ns = {"In": ["", "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in injected.items())]}


class Stop(Exception):
    """Raised where the declaration would train its first run: everything before it ran for real."""


def test_every_parameter_has_an_override_value():
    names = {n for p in NOTEBOOKS for n in params_of(p)[1]}
    assert names <= set(OVERRIDE) | {"methods"}, names - set(OVERRIDE)


@pytest.mark.parametrize("stem, name", CASES, ids=[f"{s}:{n}" for s, n in CASES])
def test_one_override_through_the_notebooks_own_path(monkeypatch, tmp_path, stem, name):
    chapter, params = params_of(REPO / "notebooks" / f"{stem}.ipynb")
    value = METHODS.get(chapter, "derpp") if name == "methods" else OVERRIDE[name]
    if name == "results_dir":
        value = str(tmp_path / value)
    injected = {"preset": "smoke", name: value}
    monkeypatch.setattr(parameters, "get_ipython", lambda: FakeShell(injected))
    params = {**params, "results_dir": str(tmp_path / "results"), **injected}
    nb = notebook_setup(chapter, **params)
    assert nb.preset == "smoke"

    def stop(cfg, *a, **kw):
        raise Stop(cfg.continual.method)
    monkeypatch.setattr(runs, "run_experiment", stop)
    ctx = ClaimContext.of(nb)
    chapters = verdicts.claim_chapters() if chapter in ("09_what_reproduced", "index") else [chapter]
    for declared in chapters:
        for declaration in REGISTRY.get(declared, []):
            try:
                declaration(ctx)
            except Stop:
                pass
