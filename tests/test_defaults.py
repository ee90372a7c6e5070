"""stella.report.parameters: notebook parameters checked at the boundary, chapter defaults filled in one place."""
import pytest

from stella.continual import METHODS
from stella.report import parameters
from stella.report.parameters import ParameterError, notebook_setup


def test_defaults_per_preset():
    nb = notebook_setup("02_retrieval", "smoke", "results", n_seeds=None, methods=None)
    assert nb.seeds == [2021] and len(nb.methods) == 11 and nb.train_overrides == []
    assert notebook_setup("02_retrieval", "cpu").seeds == [2021, 2022, 2023, 2024, 2025]
    ab_cpu = notebook_setup("04_ablations", "cpu")
    assert ab_cpu.seeds == [2021, 2022, 2023, 2024, 2025] and ab_cpu.options["sweep_seeds"] == [2021, 2022, 2023]  # a paired test
    assert notebook_setup("04_ablations", "cpu", n_sweep_seeds=1).options["sweep_seeds"] == [2021]
    assert ab_cpu.options["rho_values"] == [0.375, 0.5, 0.625] and ab_cpu.options["beta_values"] == [0.1, 0.4, 0.5]   # the paper's values
    assert ab_cpu.options["audio_modes"] == ["time", "frequency", "none"]
    from stella.report.chapters.retrieval import table7_seeds
    assert table7_seeds("cpu") == [2021, 2022, 2023]
    ab = notebook_setup("04_ablations", "smoke")
    assert ab.methods == ["random", "derpp", "stella"] and ab.options["chunk_sizes"] == [1, 2] and ab.options["rho_values"] == [0.5]
    assert notebook_setup("05_memory_size", "cpu").options["memory_sizes"] == [32, 64]
    eff = notebook_setup("03_efficiency", "cpu", n_seeds=3, acc_seeds=2)
    assert eff.seeds == [2021, 2022] and eff.options["steps"] == 10 and eff.options["efficiency_batches"] == [9, 16]   # the paper's batch 9
    assert notebook_setup("09_what_reproduced", "cpu").options["efficiency_batches"] == [9, 16]
    assert notebook_setup("02_retrieval", "smoke", device="cuda").train_overrides == ["run.device=cuda"]
    assert "seeds [2021]" in str(nb)


def test_methods_as_list_or_comma_separated_string():
    a = notebook_setup("02_retrieval", "smoke", methods="derpp, stella")
    b = notebook_setup("02_retrieval", "smoke", methods=["derpp", "stella"])
    assert a.methods == b.methods == ["derpp", "stella"]


@pytest.mark.parametrize("params, named", [
    ({"n_seeds": 0}, "n_seeds"), ({"n_seeds": -1}, "n_seeds"), ({"n_seeds": True}, "n_seeds"),
    ({"n_seeds": 2.5}, "n_seeds"), ({"methods": []}, "methods"), ({"methods": ""}, "methods"),
    ({"methods": "stella,nope"}, "methods"), ({"device": "tpu"}, "device"), ({"probe_epochs": 0}, "probe_epochs"),
    ({"rho_values": [0.5, 1.5]}, "rho_values"), ({"trained": "yes"}, "trained"), ({"colour": 1}, "colour"),
    ({"map_threshold": "mean"}, "map_threshold"), ({"memory_sizes": "32,x"}, "memory_sizes"),
])
def test_bad_parameter_is_one_line_naming_it(params, named):
    with pytest.raises(ParameterError) as err:
        notebook_setup("02_retrieval", "smoke", **params)
    msg = str(err.value)
    assert isinstance(err.value, ValueError) and "\n" not in msg and f"parameter {named}" in msg
    if named == "methods" and "nope" in str(params):
        assert "'nope'" in msg and all(m in msg for m in METHODS)    # lists the registry's names


def test_bad_preset_and_chapter():
    with pytest.raises(ParameterError, match="parameter preset"):
        notebook_setup("02_retrieval", "no-such-preset")
    with pytest.raises(ParameterError, match="unknown chapter"):
        notebook_setup("99_nope", "smoke")


def test_seed_table_pairs_every_claim_over_the_same_seeds():
    """Each chapter names a tier per seed table and each preset a count per tier (its YAML's book section): the
    main comparisons use 5 seeds at cpu and 3 at the paper's presets, and a table with fewer seeds uses the first
    seeds of one with more (so claims pair over the same seeds)."""
    from stella.report.chapter import CHAPTERS, TIERS, get, traits

    for chapter in ("02_retrieval", "04_ablations", "08_downstream", "09_what_reproduced"):
        assert notebook_setup(chapter, "cpu").n == 5 and notebook_setup(chapter, "paper").n == 3
        assert notebook_setup(chapter, "smoke").n == 1
    assert get("04_ablations").seeds_of("sweeps", "cpu") == [2021, 2022, 2023]
    assert len(get("04_ablations").seeds_of("sweeps", "paper")) == 3
    main = notebook_setup("02_retrieval", "cpu").seeds
    for chapter in ("03_efficiency", "05_memory_size", "06_modality_gap", "07_attention_localization"):
        seeds = notebook_setup(chapter, "cpu").seeds
        assert seeds == main[:len(seeds)], chapter
    assert all(tier in TIERS for record in CHAPTERS.values() for tier in record.seeds.values())
    assert traits("cpu").seeds == {"main": 5, "sweep": 3, "headline": 5}
    assert notebook_setup("07_attention_localization", "cpu").options["signal_methods"] == ["stella", "derpp"]


class FakeShell:
    def __init__(self, inputs):
        self.user_ns = {"In": ["", *inputs]}


@pytest.mark.parametrize("inputs, stray", [
    (['preset = "cpu"\nresults_dir = "results"\nn_seeds = None', '# Parameters\npreset = "smoke"\nnosuchparam = 3\n',
      "from stella.report.parameters import notebook_setup"], "nosuchparam"),
    (['# Parameters\npreset = "smoke"\nmethods = "derpp"\n'], None),
    (["x = 1", "# not parameters\ncolour = 3"], None),
])
def test_a_parameter_papermill_injected_that_the_chapter_does_not_take(monkeypatch, inputs, stray):
    monkeypatch.setattr(parameters, "get_ipython", lambda: FakeShell(inputs))
    if stray is None:
        assert notebook_setup("02_retrieval", "smoke", "results", n_seeds=None, methods="derpp").methods == ["derpp"]
        return
    with pytest.raises(ParameterError) as err:
        notebook_setup("02_retrieval", "smoke", "results", n_seeds=None, methods=None)
    assert str(err.value) == ("notebook parameter nosuchparam: not a parameter of chapter 02_retrieval "
                              "(its parameters: preset, results_dir, n_seeds, methods)")


@pytest.mark.smoke
def test_papermill_stops_on_an_unknown_parameter(tmp_path):
    """The issue's probe: papermill only warns about ``-p nosuchparam 3``; the chapter's first cell stops."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "papermill", str(repo / "notebooks" / "02_retrieval.ipynb"), str(tmp_path / "out.ipynb"),
           "-p", "preset", "smoke", "-p", "results_dir", str(tmp_path / "results"), "-p", "nosuchparam", "3",
           "-k", "python3", "--cwd", str(repo)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "ParameterError: notebook parameter nosuchparam: not a parameter of chapter 02_retrieval" in proc.stderr
    assert not (tmp_path / "results").exists()                     # stopped before any run was trained


def test_a_new_preset_is_one_yaml(tmp_path):
    """A preset declares how the book runs at it in its own YAML (quick, frugal, seeds per tier); the book's run
    plan and every chapter's defaults follow from that file alone, with no other edit."""
    from stella.config import PRESET_DIR
    from stella.report.plan import book_runs

    text = (PRESET_DIR / "smoke.yaml").read_text().split("\nbook:")[0]
    path = tmp_path / "tiny.yaml"
    path.write_text(text + "\nbook:\n  quick: true\n  frugal: true\n  memory_geometry: smoke\n"
                           "  seeds: {main: 2, sweep: 1, headline: 3}\n")
    plan = book_runs(str(path))
    seeds = lambda method: sorted(plan[(plan["method"] == method) & (plan["overrides"] == "")]["seed"])
    assert seeds("finetune") == [2021, 2022]                  # main tier: 2 (Table 1)
    assert seeds("derpp") == [2021, 2022, 2023]               # headline tier: 3 (chapter 08b's DER++)
    assert notebook_setup("04_ablations", str(path)).options["sweep_seeds"] == [2021]     # sweep tier: 1
    assert notebook_setup("02_retrieval", str(path)).n == 2
    path.write_text(text + "\nbook:\n  seeds: {main: 0}\n")
    with pytest.raises(ParameterError, match="book.seeds"):
        notebook_setup("02_retrieval", str(path))
