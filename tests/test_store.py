import hashlib
import json
import os

import pandas as pd
import pytest
import torch

from stella.config import load_config
from stella.store import RunStore, StoreError, atomic_write_json


def test_run_is_computed_once_and_shared(tmp_path):
    store, calls = RunStore(tmp_path), []
    cfg = load_config("smoke")

    def compute(rd):
        calls.append(1)
        rd.save_json("metrics", {"x": 1.5})
        rd.save_tensors("acc", {"m": torch.eye(2)})

    rd1 = store.run(cfg, compute)
    rd2 = store.run(cfg, compute)
    assert calls == [1] and rd1.path == rd2.path and rd2.complete
    assert rd2.load_json("metrics") == {"x": 1.5}
    assert torch.equal(rd2.load_tensors("acc")["m"], torch.eye(2))
    assert store.runs()[0]["complete"] is True


def test_crash_leaves_run_incomplete_and_recomputes(tmp_path):
    store = RunStore(tmp_path)
    cfg = load_config("smoke")

    def crash(rd):
        rd.save_json("partial", {"a": 1})
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        store.run(cfg, crash)
    assert not store.dir(cfg).complete
    rd = store.run(cfg, lambda rd: rd.save_json("metrics", {"ok": True}))
    assert rd.complete and rd.load_json("metrics") == {"ok": True}


def test_atomic_write_never_leaves_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "m.json"
    atomic_write_json(target, {"v": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_run_dir_of_another_config_is_rejected(tmp_path):
    store = RunStore(tmp_path)
    cfg = load_config("smoke")
    rd = store.dir(cfg)
    meta = json.loads((rd.path / "config.json").read_text())
    meta["config"]["continual"]["lr"] = 123.0
    (rd.path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="another config"):
        store.dir(cfg)
    with pytest.raises(FileNotFoundError, match="no result named"):
        RunStore(tmp_path / "x").dir(cfg).load_json("missing")


def test_cached_frame_computes_once_per_params(tmp_path):
    import math

    import pandas as pd

    from stella.config import load_config
    from stella.report.runs import cached_frame
    from stella.store import RunStore

    rd = RunStore(tmp_path).dir(load_config("smoke"))
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"metric": ["acc", "nan"], "value": [0.5, float("nan")]})
    a = cached_frame(rd, "probe", {"epochs": 3}, compute)
    b = cached_frame(rd, "probe", {"epochs": 3}, compute)
    assert len(calls) == 1 and list(b.columns) == ["metric", "value"]
    assert b["value"][0] == 0.5 and math.isnan(b["value"][1]) and a.equals(b)
    cached_frame(rd, "probe", {"epochs": 4}, compute)
    assert len(calls) == 2


def test_gallery_size_counts_every_tasks_eval_clips():
    from stella.config import load_config
    from stella.report.runs import gallery_size

    d = load_config("smoke").data
    assert gallery_size("smoke") == d.num_tasks * d.classes_per_task * d.eval_per_class


def test_files_get_the_users_umask(tmp_path):
    old = os.umask(0o022)
    try:
        rd = RunStore(tmp_path).dir(load_config("smoke"))
        rd.save_json("m", {"a": 1})
        rd.save_tensors("t", {"x": torch.zeros(1)})
        os.umask(0o077)
        rd.save_json("private", {"a": 1})
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in rd.path.iterdir()}
    assert modes == {"config.json": 0o644, "m.json": 0o644, "t.pt": 0o644, "private.json": 0o600, ".stella-store": 0o644}


def test_atomic_writes_fsync_the_file_and_its_directory(tmp_path, monkeypatch):
    import stat

    from stella.store import atomic_torch_save

    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(stat.S_ISDIR(os.fstat(fd).st_mode)), real(fd)))
    atomic_torch_save(tmp_path / "a.pt", {"x": torch.ones(2)})
    atomic_write_json(tmp_path / "b.json", {"v": 1})
    assert synced == [False, True, False, True]


def test_replaced_file_is_kept_until_the_new_one_is_in_place(tmp_path, monkeypatch):
    from stella.store import atomic_torch_save

    atomic_torch_save(tmp_path / "c.pt", {"step": 1}, keep=tmp_path / "c.prev.pt")
    atomic_torch_save(tmp_path / "c.pt", {"step": 2}, keep=tmp_path / "c.prev.pt")
    assert torch.load(tmp_path / "c.prev.pt", weights_only=True) == {"step": 1}
    assert torch.load(tmp_path / "c.pt", weights_only=True) == {"step": 2}


def test_stale_temp_files_are_removed_when_a_run_starts(tmp_path):
    store, cfg = RunStore(tmp_path), load_config("smoke")
    rd = store.dir(cfg)
    for name in (".checkpoint.pt.x1y2.tmp", ".summary.json.abcd.tmp"):
        (rd.path / name).write_bytes(b"half")
    (rd.path / "notes.tmp").write_bytes(b"not ours")
    seen = []
    store.run(cfg, lambda rd: seen.append(sorted(p.name for p in rd.path.iterdir())))
    assert seen == [[".stella-store", "config.json", "notes.tmp", "run.lock"]]


def test_last_task_comes_from_the_runs_own_record(tmp_path):
    rd = RunStore(tmp_path).dir(load_config("smoke"))
    with pytest.raises(FileNotFoundError, match="no model_after_task"):
        rd.last_task()
    for t in (1, 2, 3, 10):
        rd.save_tensors(f"model_after_task{t}", {})
    assert rd.last_task() == 10
    rd.save_json("meta", {"last_task": 3})
    assert rd.last_task() == 3


def test_run_key_leaves_out_what_cannot_change_results():
    cfg = load_config("smoke")
    same = cfg.with_overrides(["run.progress=true", "run.checkpoint_every=7", "run.results_dir=/elsewhere"])
    assert same.digest() == cfg.digest()
    for o in ("run.num_threads=2", "run.device=cpu", "run.seed=1", "continual.lr=0.002"):
        assert cfg.with_overrides([o]).digest() != cfg.digest(), o


def test_a_run_being_computed_is_listed_running_and_never_cleaned(tmp_path):
    from stella.store import locked

    store, cfg = RunStore(tmp_path), load_config("smoke")
    rd = store.dir(cfg)
    assert [r["state"] for r in store.runs()] == ["incomplete"] and len(store.removable()) == 1
    with locked(rd.path, rd.key):
        assert [r["state"] for r in store.runs()] == ["running"] and store.removable() == []


def test_complete_marker_lists_the_files_and_a_changed_size_is_damage(tmp_path, caplog):
    store, cfg, calls = RunStore(tmp_path), load_config("smoke"), []

    def compute(rd):
        calls.append(len(calls) + 1)
        rd.save_json("metrics", {"x": len(calls)})
        rd.save_tensors("acc", {"m": torch.eye(2)})
        torch.save({}, rd.file("checkpoint.pt"))
    rd = store.run(cfg, compute)
    files = json.loads(rd.file("COMPLETE").read_text())["files"]
    assert sorted(files) == ["acc.pt", "config.json", "metrics.json"]           # resumable state is not listed
    assert files["acc.pt"] == {"bytes": rd.file("acc.pt").stat().st_size,
                               "sha256": hashlib.sha256(rd.file("acc.pt").read_bytes()).hexdigest()}
    rd.file("checkpoint.pt").write_bytes(b"")                                   # not read once complete
    assert not store.run(cfg, compute).computed
    size = rd.file("metrics.json").stat().st_size
    rd.file("metrics.json").write_text('{"x": 10}')                             # parses, but not what was written
    assert store.run(cfg, compute).computed and calls == [1, 2] and rd.load_json("metrics") == {"x": 2}
    assert f"metrics.json: 9 bytes, {size} when it was written" in caplog.text


def test_complete_run_of_an_older_version_is_verified_by_its_files(tmp_path):
    from stella.store import verify_complete

    rd = RunStore(tmp_path).dir(load_config("smoke"))
    for n in ("results", "summary", "meta"):
        rd.save_json(n, [])
    rd.save_tensors("model_after_task1", {"x": torch.zeros(3)})
    rd.file("COMPLETE").write_bytes(b"ok\n")
    assert verify_complete(rd.path, ("config.json", "summary.json")) == []
    rd.file("meta.json").unlink()
    data = rd.file("model_after_task1.pt").read_bytes()
    rd.file("model_after_task1.pt").write_bytes(data[:-30])
    assert verify_complete(rd.path, ("config.json", "meta.json")) == [
        f"{rd.file('meta.json')}: missing",
        f"{rd.file('model_after_task1.pt')}: truncated or not a torch file (File is not a zip file)"]


def _slow_frame(directory: str, marker: str) -> list:
    """In a separate process: cached_frame whose compute takes a while and leaves a marker file."""
    import time

    from stella.report.runs import cached_frame

    def compute():
        with open(marker, "a") as f:
            f.write("computed\n")
        time.sleep(1.0)
        return pd.DataFrame({"x": [1, 2]})

    return cached_frame(directory, "slow", {"k": 1}, compute)["x"].tolist()


def test_cached_frame_two_processes_compute_once(tmp_path):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    marker = tmp_path / "marker.txt"
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_slow_frame, str(tmp_path), str(marker)) for _ in range(2)]
        assert [f.result() for f in futures] == [[1, 2], [1, 2]]
    assert marker.read_text() == "computed\n"


def _fake_run(rd):
    """The files a training run writes, with a summary that follows SUMMARY_SCHEMA."""
    rd.save_json("summary", [{"direction": d, "metric": m, "A": 50.0, "F": 1.0}
                             for d in ("A→V", "V→A") for m in ("R@1", "R@5", "R@10", "avg")])
    for n in ("results", "meta"):
        rd.save_json(n, {})
    rd.save_tensors("model_after_task1", {"w": torch.arange(64, dtype=torch.float32)})


def _rehash(directory):
    """A crafted store: COMPLETE rewritten so that every file it lists matches again."""
    rec = json.loads((directory / "COMPLETE").read_text())
    rec["files"] = {n: {"bytes": (directory / n).stat().st_size,
                        "sha256": hashlib.sha256((directory / n).read_bytes()).hexdigest()} for n in rec["files"]}
    (directory / "COMPLETE").write_text(json.dumps(rec))


def test_clean_removes_only_what_the_store_made_and_names_the_rest(tmp_path, capsys):
    from stella.cli import main

    root, outside = tmp_path / "store", tmp_path / "outside"
    store, cfg = RunStore(root), load_config("smoke")
    done = store.run(cfg, _fake_run)
    failed = store.dir(cfg.with_overrides(["run.seed=5"]))                         # incomplete, made by the store
    odd = store.run(cfg.with_overrides(["run.seed=6"]), _fake_run)
    odd.file("COMPLETE").unlink()
    odd.file("COMPLETE").mkdir()                                                    # a COMPLETE that is a directory
    (odd.file("COMPLETE") / "mine.txt").write_text("mine")
    user = root / "0123456789abcdef"                                                # a user's key-named directory
    user.mkdir()
    (user / "thesis.txt").write_text("my thesis")
    (outside / "fedcba9876543210").mkdir(parents=True)
    (outside / "fedcba9876543210" / "notes.txt").write_text("outside the store")
    os.symlink(outside / "fedcba9876543210", root / "aaaaaaaaaaaaaaaa")           # a key-named symbolic link
    os.symlink(outside, root / "pretrain")                                         # pretrain leading outside
    rows = {r["key"]: r for r in store.runs()}
    assert rows[done.key]["state"] == "complete" and rows[failed.key]["state"] == "incomplete"
    assert rows[odd.key]["state"] == "damaged" and "COMPLETE: a directory" in rows[odd.key]["error"]
    assert rows["aaaaaaaaaaaaaaaa"]["state"] == rows["pretrain"]["state"] == "not followed"
    assert "no .stella-store file" in rows[user.name]["keep"]
    assert main(["runs", "--results", str(root)]) == 0
    listing = capsys.readouterr().out
    assert all(k in listing for k in (done.key, failed.key, odd.key, user.name, "aaaaaaaaaaaaaaaa", "pretrain")), listing
    assert main(["runs", "--results", str(root), "--clean", "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"removed {failed.path}  (incomplete)" in out and not failed.path.exists()
    for path, why in ((user, "no .stella-store file"), (root / "aaaaaaaaaaaaaaaa", "a symbolic link"),
                      (root / "pretrain", "a symbolic link"), (odd.path / "COMPLETE", "a directory, which the run store")):
        assert str(path) in out and why in out, (path, out)
    assert (user / "thesis.txt").exists() and (outside / "fedcba9876543210" / "notes.txt").exists()
    assert (odd.file("COMPLETE") / "mine.txt").exists() and done.complete


def test_remove_refuses_a_directory_swapped_for_a_link_after_the_listing(tmp_path):
    from stella.store import remove

    store, cfg = RunStore(tmp_path / "store"), load_config("smoke")
    rd = store.dir(cfg)
    [row] = store.removable()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "keep.txt").write_text("keep")
    rd.path.rename(tmp_path / "gone")
    os.symlink(tmp_path / "elsewhere", rd.path)
    with pytest.raises(StoreError, match="a symbolic link .* never follows one; not removed"):
        remove(row)
    assert (tmp_path / "elsewhere" / "keep.txt").exists()


def test_a_flipped_byte_inside_a_pt_file_is_named_and_recomputed(tmp_path, caplog):
    store, cfg, calls = RunStore(tmp_path), load_config("smoke"), []
    rd = store.run(cfg, lambda rd: (calls.append(1), _fake_run(rd)))
    f = rd.file("model_after_task1.pt")
    data = bytearray(f.read_bytes())
    data[data.index(torch.arange(64, dtype=torch.float32).numpy().tobytes()) + 40] ^= 0x01   # inside the tensor
    f.write_bytes(bytes(data))
    assert RunStore(tmp_path).runs()[0]["state"] == "damaged"
    again = store.run(cfg, lambda rd: (calls.append(1), _fake_run(rd)))
    assert again.computed and calls == [1, 1]
    assert f"{f}: its content changed since it was written" in caplog.text
    assert torch.equal(again.load_tensors("model_after_task1")["w"], torch.arange(64, dtype=torch.float32))


def test_summary_json_is_checked_against_its_schema(tmp_path, caplog):
    from stella.eval.retrieval import DIRECTIONS, METRICS
    from stella.store import SUMMARY_SCHEMA

    props = SUMMARY_SCHEMA["items"]["properties"]
    assert props["direction"]["enum"] == list(DIRECTIONS) and props["metric"]["enum"] == list(METRICS)
    store, cfg = RunStore(tmp_path), load_config("smoke")
    rd = store.run(cfg, _fake_run)
    summary = rd.load_json("summary")
    summary[0]["metric"] = "<img src=x onerror=alert(1)>"
    rd.save_json("summary", summary)
    _rehash(rd.path)                                      # crafted: sizes and hashes match again
    [row] = store.runs()
    assert row["state"] == "damaged" and f"{rd.file('summary.json')}: not a run summary (0/metric" in row["error"]
    again = store.run(cfg, _fake_run)
    assert again.computed and again.load_json("summary")[0]["metric"] == "R@1"
    assert "not a run summary" in caplog.text


@pytest.mark.parametrize("edit, state, message", [
    ({"lr": -1.0}, "unreadable", "continual.lr: a learning rate must be > 0"),
    ({"lr": 0.5}, "unreadable", "its config's run key is not"),
    ({"no_such_key": 1}, "unreadable", "continual.no_such_key: unknown key"),
])
def test_runs_does_not_list_as_complete_a_config_the_trainer_rejects(tmp_path, edit, state, message):
    store, cfg = RunStore(tmp_path), load_config("smoke")
    rd = store.run(cfg, _fake_run)
    stored = json.loads(rd.file("config.json").read_text())
    stored["config"]["continual"].update(edit)
    rd.file("config.json").write_text(json.dumps(stored))
    _rehash(rd.path)
    [row] = store.runs()
    assert row["state"] == state and message in row["error"], row
