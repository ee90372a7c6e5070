"""A page whose data needs the preset's data lacks (ground truth, generated classes: real videos of a manifest) is not
computed: the plan trains none of its runs, chapter 09 leaves its claims out, and the book shows its introduction and
one paragraph saying what it needs (stella.builder.driver.write_unavailable)."""
import json

from stella.builder.driver import write_unavailable
from stella.config import PRESET_DIR, load_config
from stella.data import WHAT, provides
from stella.report.chapter import unmet
from stella.report.plan import book_runs


def _manifest_preset(tmp_path):
    path = tmp_path / "real.yaml"
    path.write_text((PRESET_DIR / "smoke.yaml").read_text().replace("\ndata:\n", "\ndata:\n  dataset: manifest\n"
                                                                    "  manifest: none.json\n", 1))
    return path


def test_what_each_dataset_provides():
    assert provides(load_config("smoke")) == set(WHAT)
    assert provides(load_config("smoke", ["data.dataset=tuxpaint"])) == {"ground_truth"}
    assert provides(load_config("smoke", ["data.dataset=manifest", "data.manifest=x.json"])) == set()


def test_a_manifest_preset_plans_no_run_of_a_page_it_cannot_compute(tmp_path):
    real = _manifest_preset(tmp_path)
    assert unmet("02_retrieval", real) == [] and unmet("04b_controls", real) == [WHAT["ground_truth"]]
    assert unmet("07_attention_localization", "smoke") == []
    plan, synthetic = book_runs(str(real)), book_runs("smoke")
    assert not set(plan["chapter"]) & {"01_benchmark", "04b_controls", "07_attention_localization", "08_downstream"}
    assert "oracle" in set(synthetic["method"]) and "oracle" not in set(plan["method"])
    assert set(plan["method"]) >= {"finetune", "derpp", "stella", "multitask"}


def test_the_page_says_what_it_needs(tmp_path):
    source = tmp_path / "07_x.ipynb"
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# 07 · Title\n\nWhat the page shows."},
             {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "preset = 'cpu'", "outputs": [],
              "execution_count": None}]
    source.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    out = tmp_path / "out.ipynb"
    write_unavailable(source, out, str(_manifest_preset(tmp_path)), [WHAT["ground_truth"]])
    page = json.loads(out.read_text())
    assert [c["cell_type"] for c in page["cells"]] == ["markdown", "markdown"]
    assert page["cells"][0]["source"].startswith("# 07 · Title")
    assert "Not computed for this build" in page["cells"][1]["source"] and "`manifest` data" in page["cells"][1]["source"]


def test_the_landing_page_says_which_controls_the_preset_cannot_compute(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from stella.report.chapters import reproduced as R

    monkeypatch.setattr(R, "landing_efficiency", lambda nb: "E = 0.50 [0.10, 0.90].")
    monkeypatch.setattr(R, "landing_replication", lambda nb: "")
    synthetic = R.controls_summary(SimpleNamespace(preset="smoke")).splitlines()
    assert synthetic == ["- **[Do the controls hold?](04b_controls.ipynb)** E = 0.50 [0.10, 0.90].",
                         "- **[Does it replicate?](08b_replication.ipynb)** nothing to report at this preset."]
    real = R.controls_summary(SimpleNamespace(preset=str(_manifest_preset(tmp_path))))
    assert real.count("not computed for this build: it needs") == 2 and WHAT["ground_truth"] in real
