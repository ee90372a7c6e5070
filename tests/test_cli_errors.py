"""The issue's probe of bad inputs, kept: each ends in exit status != 0 and one stderr line naming its
cause (no traceback), or, for a damaged checkpoint, in a resumed run with one line naming the file."""
import os
import shutil

import pytest

from stella.cli import main
from stella.config import ConfigError, load_config
from stella.store_protocol import make_dir

SMOKE = ["--preset", "smoke", "--method", "finetune"]
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_thread):
    """A complete smoke run's store, trained once; tests damage copies of it."""
    root = tmp_path_factory.mktemp("store")
    assert main(["train", *SMOKE, "--results", str(root)]) == 0
    return root


def copy_of(trained, tmp_path):
    shutil.copytree(trained, tmp_path / "store")
    [rd] = [d for d in (tmp_path / "store").iterdir() if d.name != "pretrain"]   # the run, not the pre-training stage
    return tmp_path / "store", rd


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err.strip()


def one_line_error(code, err, *names):
    assert code not in (0, None), err
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert err.startswith("stella ") and ": error: " in err, err
    for n in names:
        assert n in err, (n, err)


@pytest.mark.parametrize("override, names", [
    ("continual.betas=0.9", ["continual.betas", "0.9"]),
    ("data.audio_norm_std=abc", ["data.audio_norm_std", "abc"]),
    ("data.audio_norm_mean=abc", ["data.audio_norm_mean", "abc"]),
    ("data.audio_norm_mean=[1,2]", ["data.audio_norm_mean", "[1, 2]"]),
    ("data.audio_norm_mean=-5.0", ["data.audio_norm_mean", "data.audio_norm_std", "together"]),
    ("continual.memory_size=true", ["continual.memory_size", "integer"]),
    ("continual.lr=inf", ["continual.lr", "finite"]),
    ("continual.avm_lr=-1e-3", ["continual.avm_lr", "> 0"]),
    ("continual.esmer_beta=-1", ["continual.esmer_beta", ">= 0"]),
    ("continual.gmed_alpha=-0.1", ["continual.gmed_alpha", ">= 0"]),
    ("run.progress=1", ["run.progress", "true or false"]),
    ("data.manifest=/nonexistent/m.json", ["data.manifest", "/nonexistent/m.json", "data.dataset is 'synthetic'",
                                           "never be read", "data.dataset=manifest"]),
    ("pretrain.checkpoint=/w.pt", ["pretrain.checkpoint", "pretrain.source is", "pretrain.source=checkpoint"]),
    ("data.category_csv=stat.csv", ["data.category_csv", "never be read"]),
    ("model.size=", ["model.size", "got ''"]),
    ("continual.method=", ["continual.method", "unknown method ''"]),
    ("continual.lr=[1,", ["continual.lr", "expected a number", "'[1,'"]),
    ("run.seed=-5", ["run.seed", "a seed must be an integer >= 0", "-5"]),
])
def test_bad_config_values(capsys, tmp_path, override, names):
    one_line_error(*run(capsys, "train", *SMOKE, "--results", str(tmp_path), "--set", override)[::2], *names)
    assert not any(tmp_path.iterdir())


def test_cli_options_that_name_nothing(capsys, tmp_path):
    one_line_error(*run(capsys, "train", "--preset", "smoke", "--method", "", "--results", str(tmp_path))[::2],
                   "continual.method", "unknown method ''")
    one_line_error(*run(capsys, "train", *SMOKE, "--seed", "-5", "--results", str(tmp_path))[::2],
                   "run.seed", "a seed must be an integer >= 0, got -5")
    code, _, err = run(capsys, "book", "--preset", "smoke", "--only", "nosuchnotebook", "--stage", str(tmp_path / "b"))
    assert code == 2
    one_line_error(code, err, "--only", "nosuchnotebook", "02_retrieval")
    assert not any(tmp_path.iterdir())


def test_a_seed_is_an_integer_ge_0_for_the_cli_and_the_notebooks():
    from stella.report.parameters import ParameterError, notebook_setup

    with pytest.raises(ParameterError, match="notebook parameter seed: a seed must be an integer >= 0, got -5"):
        notebook_setup("00_method_walkthrough", "smoke", seed=-5)
    assert notebook_setup("00_method_walkthrough", "smoke", seed=0).options["seed"] == 0
    for key in ("run.seed", "data.seed", "pretrain.seed"):
        with pytest.raises(ConfigError, match=f"{key}: a seed must be an integer >= 0, got -5"):
            load_config("smoke", [f"{key}=-5"])


@pytest.mark.parametrize("text, names", [
    ("- model\n- data\n", ["must be a YAML mapping of sections", "top level is a list"]),
    ("just words\n", ["top level is a string"]),
    ("model: [1\n", ["is not valid YAML"]),
])
def test_preset_file_that_is_not_a_mapping(capsys, tmp_path, text, names):
    f = tmp_path / "mine.yaml"
    f.write_text(text)
    code, _, err = run(capsys, "info", "--preset", str(f))
    assert code == 2
    one_line_error(code, err, "preset", str(f), *names)


def test_missing_category_csv_names_the_key(capsys, tmp_path):
    (tmp_path / "m.json").write_text("[]")
    one_line_error(*run(capsys, "train", *SMOKE, "--results", str(tmp_path / "r"), "--set", "data.dataset=manifest",
                        "--set", f"data.manifest={tmp_path / 'm.json'}",
                        "--set", f"data.category_csv={tmp_path / 'stat.csv'}")[::2],
                   "data.category_csv", str(tmp_path / "stat.csv"), "does not exist")


def test_results_and_stage_that_are_files(capsys, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("x")
    one_line_error(*run(capsys, "train", *SMOKE, "--results", str(f))[::2], "--results", str(f), "is a file")
    one_line_error(*run(capsys, "book", "--preset", "smoke", "--stage", str(f))[::2], "--stage", str(f), "is a file")
    one_line_error(*run(capsys, "book", "--preset", "smoke", "--jobs", "0")[::2], "--jobs", "must be >= 1")
    one_line_error(*run(capsys, "runs", "--results", str(f))[::2], str(f), "is a file")
    one_line_error(*run(capsys, "runs", "--results", str(tmp_path / "nonexistent"))[::2], "nonexistent",
                   "no such run store directory")


def test_read_only_results(capsys, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:               # root writes anywhere: act as the user whose directory this is not
        import stella.store as S
        monkeypatch.setattr(S.os, "access", lambda p, mode: os.path.realpath(p) != os.path.realpath(ro))
    one_line_error(*run(capsys, "train", *SMOKE, "--results", str(ro))[::2], str(ro), "not writable")
    import tempfile

    def denied(dir, **k):
        raise PermissionError(13, "Permission denied", dir)
    monkeypatch.setattr(tempfile, "mkstemp", denied)
    one_line_error(*run(capsys, "train", *SMOKE, "--results", str(tmp_path / "fresh"))[::2], "Permission denied",
                   str(tmp_path / "fresh"))


@pytest.mark.parametrize("text, names", [
    ("[1, 2, 3]", ["m.json", "entry 0 is 1"]),
    ('{"data": [\n{"video_path": "a.mp4"\n]}', ["m.json", "not valid JSON", "line 3"]),
    ("", ["m.json", "not valid JSON", "line 1"]),
])
def test_bad_manifests(capsys, tmp_path, text, names):
    (tmp_path / "m.json").write_text(text)
    one_line_error(*run(capsys, "train", *SMOKE, "--results", str(tmp_path / "r"), "--set", "data.dataset=manifest",
                        "--set", f"data.manifest={tmp_path / 'm.json'}")[::2], *names)
    one_line_error(*run(capsys, "train", *SMOKE, "--results", str(tmp_path / "r"), "--set", "data.dataset=manifest",
                        "--set", f"data.manifest={tmp_path / 'nope.json'}")[::2], "data.manifest", "nope.json")


@pytest.mark.parametrize("name, damage, state, why", [
    ("config.json", "truncate", "unreadable", "not valid JSON"),
    ("summary.json", "garbage", "damaged", "not a JSON text file"),
    ("summary.json", "same size", "damaged", "not valid JSON"),
    ("results.json", "delete", "damaged", "missing"),
    ("model_after_task2.pt", "truncate", "damaged", "truncated or not a torch file"),
])
def test_damaged_run_is_named_moved_aside_and_recomputed(capsys, caplog, tmp_path, trained, name, damage, state, why):
    store, rd = copy_of(trained, tmp_path)
    want = {n: (rd / n).read_bytes() for n in ("results.json", "summary.json", "model_after_task2.pt")}
    f = rd / name
    if damage == "truncate":
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    elif damage == "garbage":
        f.write_bytes(b"\x00\x17 not a summary \xff" * 3)
    elif damage == "same size":
        f.write_bytes(b"x" * f.stat().st_size)
    else:
        f.unlink()
    code, out, _ = run(capsys, "runs", "--results", str(store))
    [line] = [l for l in out.splitlines() if l.startswith(rd.name)]
    assert code == 0 and f"{state}: {f}: {why}" in line, line
    code, out, err = run(capsys, "train", *SMOKE, "--results", str(store))
    assert code == 0 and "trained" in out, err
    lines = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert len(lines) == 1 and f"{f}: {why}" in lines[0] and "moved its files to" in lines[0], lines
    [aside] = [d for d in store.iterdir() if d.name.startswith(f"{rd.name}.damaged-")]
    assert str(aside) in lines[0] and (aside / name).exists() == (damage != "delete")
    assert {n: (rd / n).read_bytes() for n in want} == want                      # the same run, computed again
    code, out, _ = run(capsys, "runs", "--results", str(store))
    assert f"{rd.name}  smoke  finetune     complete" in out and f"{aside.name}  moved aside" in out, out
    code, out, _ = run(capsys, "train", *SMOKE, "--results", str(store))
    assert code == 0 and "reused" in out


def test_truncated_stage_is_recomputed_by_the_next_train_that_needs_it(capsys, caplog, tmp_path, trained):
    import torch

    store, rd = copy_of(trained, tmp_path)
    [stage] = (store / "pretrain").iterdir()
    weights = stage / "weights.pt"
    want = torch.load(weights, weights_only=True)
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    code, out, _ = run(capsys, "runs", "--results", str(store))
    assert f"{stage.name}  pre-training damaged: {weights}: truncated or not a torch file" in out, out
    code, out, _ = run(capsys, "train", *SMOKE, "--results", str(store))          # complete: needs no stage
    assert code == 0 and "reused" in out and not caplog.records
    code, out, err = run(capsys, "train", *SMOKE, "--seed", "7", "--results", str(store))
    assert code == 0 and "trained" in out, err
    lines = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert len(lines) == 1 and str(weights) in lines[0] and "computing it again" in lines[0], lines
    got = torch.load(weights, weights_only=True)
    assert all(torch.equal(got[k][n], want[k][n]) for k in ("model", "avm") for n in want[k])
    assert len(list((store / "pretrain").glob(f"{stage.name}.damaged-*"))) == 1


def test_runs_clean_is_a_dry_run_until_yes(capsys, tmp_path, trained):
    store, rd = copy_of(trained, tmp_path)
    (tmp_path / "m.json").write_text("[]")
    code, _, err = run(capsys, "train", *SMOKE, "--results", str(store), "--set", "data.dataset=manifest",
                       "--set", f"data.manifest={tmp_path / 'm.json'}")
    assert code == 2                                     # validation failed after the run directory was made
    [failed] = [d for d in store.iterdir() if d.name not in (rd.name, "pretrain")]
    unreadable = make_dir(store / ("0" * 16))           # made by the store (its marker), then damaged
    (unreadable / "config.json").write_text("{")
    (rd / "summary.json").write_text("garbage")
    (store / "notes").mkdir()                            # not a directory the store made: never listed or removed
    code, out, _ = run(capsys, "runs", "--results", str(store), "--clean")
    assert code == 0 and "nothing removed (a dry run)" in out and "3 directories" in out, out
    for d, why in ((failed, "(incomplete"), (unreadable, "(unreadable"), (rd, "(damaged: " + str(rd / "summary.json"))):
        assert f"would remove {d}  {why}" in out and d.exists(), out
    assert "pretrain" not in out
    code, out, _ = run(capsys, "runs", "--results", str(store), "--clean", "--yes")
    assert code == 0 and out.count("removed ") == 3 and not failed.exists() and not unreadable.exists()
    assert not rd.exists() and (store / "pretrain").is_dir() and (store / "notes").is_dir()
    code, out, _ = run(capsys, "runs", "--results", str(store), "--clean")
    assert "nothing to remove" in out
    one_line_error(*run(capsys, "runs", "--results", str(store), "--yes")[::2], "--yes", "--clean")


@pytest.mark.parametrize("damage", ["truncate", "zero", "zero both"])
def test_damaged_checkpoint_is_named_and_the_run_resumes(capsys, caplog, tmp_path, trained, damage):
    store, rd = copy_of(trained, tmp_path)
    want = {n: (rd / n).read_bytes() for n in ("results.json", "losses.json", "summary.json")}
    ckpt, prev = rd / "checkpoint.pt", rd / "checkpoint.prev.pt"
    assert prev.exists()
    (rd / "COMPLETE").unlink()
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 3] if damage == "truncate" else b"")
    if damage == "zero both":
        prev.write_bytes(b"")
    code, out, err = run(capsys, "train", *SMOKE, "--results", str(store))
    assert code == 0 and "trained" in out
    lines = [r.getMessage() for r in caplog.records if "damaged checkpoint" in r.getMessage()]
    assert len(lines) == 1 and str(ckpt) in lines[0] and "\n" not in lines[0], lines
    assert ("from the beginning" in lines[0]) == (damage == "zero both")
    assert {n: (rd / n).read_bytes() for n in want} == want
    assert (rd / "COMPLETE").exists()


def test_second_train_of_a_key_reuses(capsys, tmp_path, trained):
    """run.progress, run.checkpoint_every and run.results_dir are not part of the run key."""
    store, rd = copy_of(trained, tmp_path)
    code, out, _ = run(capsys, "train", *SMOKE, "--results", str(store), "--set", "run.progress=true",
                       "--set", "run.checkpoint_every=1", "--set", "run.results_dir=elsewhere")
    assert code == 0 and "reused" in out and len(list(store.glob("*/config.json"))) == 1


@pytest.mark.parametrize("override, where, names", [
    ("data.sample_rate=100", "pre-training stage", ["the input audio of the batch already holds NaN or inf",
                                                    "data.sample_rate=100"]),
    ("data.noise_level=1e30", "pre-training stage", ["the input audio of the batch already holds NaN or inf",
                                                     "data.noise_level=1e+30"]),
    ("continual.lr=1e10", "step 2 (task 1 of 2", ["on finite clips (the training diverged)", "continual.lr=1e+10"]),
])
def test_non_finite_training_names_the_step_and_its_settings_and_leaves_no_run(capsys, tmp_path, trained, override,
                                                                              where, names):
    store, rd = copy_of(trained, tmp_path)
    code, _, err = run(capsys, "train", *SMOKE, "--results", str(store), "--set", override)
    one_line_error(code, err, where, "step", "= nan", *names, "removed the incomplete")
    assert {d.name for d in store.iterdir()} == {rd.name, "pretrain"}                       # no incomplete run left
    assert [d.name for d in (store / "pretrain").iterdir()] == [d.name for d in (trained / "pretrain").iterdir()]


def test_a_seed_torch_cannot_take_is_rejected_by_the_config(capsys, tmp_path):
    one_line_error(*run(capsys, "train", *SMOKE, "--seed", str(2**64 - 3), "--results", str(tmp_path))[::2],
                   "run.seed", "at most 2**64 - 4", str(2**64 - 3))
    with pytest.raises(ConfigError, match=r"pretrain\.seed: a seed must be at most 2\*\*64 - 3"):
        load_config("smoke", [f"pretrain.seed={2**64 - 2}"])
    assert not any(tmp_path.iterdir())
    code, out, err = run(capsys, "train", *SMOKE, "--seed", str(2**64 - 4), "--results", str(tmp_path))   # the bound trains
    assert code == 0 and "trained" in out, err


def test_a_preset_file_without_yaml_ending_is_read(capsys, tmp_path):
    (tmp_path / "mine").write_text("model:\n  size: micro\n")
    code, out, err = run(capsys, "info", "--preset", str(tmp_path / "mine"))
    assert code == 0 and out.startswith("preset mine: model micro"), err
    one_line_error(*run(capsys, "info", "--preset", "nosuch")[::2], "unknown preset 'nosuch'", "smoke")


@pytest.mark.parametrize("kind, names", [("dangling", ["a symbolic link to", "which does not exist"]),
                                         ("loop", ["a loop of symbolic links"])])
def test_a_results_symlink_that_leads_nowhere_is_named(capsys, tmp_path, kind, names):
    link = tmp_path / kind
    os.symlink(tmp_path / ("nowhere" if kind == "dangling" else kind), link)
    for cmd in (["train", *SMOKE], ["runs"]):
        one_line_error(*run(capsys, *cmd, "--results", str(link))[::2], str(link), *names)
    assert sorted(p.name for p in tmp_path.iterdir()) == [kind]


def test_a_full_disk_names_the_file(tmp_path, monkeypatch):
    import errno

    import torch

    from stella import atomic
    from stella.store import atomic_torch_save

    class Full:                                                            # a write() to a full disk
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OSError, match="no space left on its device") as e:
        atomic._atomic(tmp_path / "a.json", lambda f: Full().write(b"{}"))
    assert e.value.filename == str(tmp_path / "a.json")
    monkeypatch.undo()

    def torch_full(obj, f):                                                # torch.save hides the errno
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 701056 vs 700948")
    monkeypatch.setattr(torch, "save", torch_full)
    real = os.statvfs
    monkeypatch.setattr(os, "statvfs", lambda p: os.statvfs_result((*real(p)[:4], 0, *real(p)[5:])))   # f_bavail = 0
    with pytest.raises(OSError, match="no space left on its device") as e:
        atomic_torch_save(tmp_path / "w.pt", {"x": 1})
    assert e.value.filename == str(tmp_path / "w.pt") and list(tmp_path.iterdir()) == []


def test_chapter_00_clip_outside_the_batch_is_a_parameter_error():
    from stella.report.chapters import walkthrough as W
    from stella.report.parameters import ParameterError, notebook_setup

    nb = notebook_setup("00_method_walkthrough", "smoke", trained=False, clip=1000)
    with pytest.raises(ParameterError, match=r"notebook parameter clip: the batch holds 4 clips, so clip is 0 to 3, "
                                             r"got 1000"):
        W.setup(nb)
    assert W.setup(notebook_setup("00_method_walkthrough", "smoke", trained=False, clip=3)).B == 4


def test_the_preset_is_not_an_override(capsys):
    one_line_error(*run(capsys, "info", "--preset", "smoke", "--set", "preset.name=x")[::2],
                   "preset.name", "the preset is chosen by name (--preset)")


def test_a_yaml_section_given_twice_is_named(capsys, tmp_path):
    f = tmp_path / "twice.yaml"
    f.write_text("data:\n  seed: 1\nmodel:\n  size: micro\ndata:\n  num_tasks: 2\n")
    one_line_error(*run(capsys, "info", "--preset", str(f))[::2], str(f), "'data' is given twice (lines 1 and 5)")


def test_an_empty_results_path_is_rejected(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for cmd in (["train", *SMOKE], ["runs"], ["book", "--preset", "smoke"]):
        one_line_error(*run(capsys, *cmd, "--results", "")[::2], "--results: an empty path")
    with pytest.raises(ConfigError, match="run.results_dir: an empty path"):
        load_config("smoke", ["run.results_dir="])
    assert not any(tmp_path.iterdir())
