"""Task splits: the paper's orders, task-order parsing, the manifest splitter and unknown labels."""
import json

import pytest

from stella.data.splits import (benchmark_order, label_to_task, load_split, resolve_task_order,
                                split_manifest)


def test_paper_orders():
    assert benchmark_order("continual-vs", "default") == [
        "sports", "music", "vehicle", "people", "animals", "home&nature", "others_part1", "others_part2"]
    assert benchmark_order("continual-vs", "shuffled") == [
        "music", "others_part1", "home&nature", "sports", "others_part2", "vehicle", "animals", "people"]
    assert benchmark_order("continual-as", "default") == [
        "human", "vehicle", "nature", "animal", "others", "home", "music"]
    assert benchmark_order("continual-as", "shuffled") == [
        "nature", "human", "home", "vehicle", "music", "animal", "others"]
    for b in ("continual-vs", "continual-as"):
        s = load_split(b)
        assert "PARTIAL" in s["note"] and set(s["tasks"]) == set(s["default_order"])
        labels = [l for ls in s["tasks"].values() for l in ls]
        assert len(labels) == len(set(labels))
        assert all(len(ls) >= 9 for ls in s["tasks"].values())


def test_task_order_parsing():
    names = ["a", "b", "c"]
    assert resolve_task_order("c, a,b", names, names[::-1]) == ["c", "a", "b"]
    assert resolve_task_order("shuffled", names, ["b", "c", "a"]) == ["b", "c", "a"]
    with pytest.raises(ValueError, match="'zzz'"):
        resolve_task_order("a,zzz,b", names, names)
    with pytest.raises(ValueError, match="more than once"):
        resolve_task_order("a,a,b,c", names, names)
    with pytest.raises(ValueError, match="missing"):
        resolve_task_order("a,b", names, names)
    with pytest.raises(ValueError, match="unknown benchmark"):
        load_split("continual-xx")


def test_split_manifest_with_unknown_labels(tmp_path, caplog):
    entries = [{"video_id": "1", "wav": "1.mp4", "labels": "playing badminton"},
               {"video_id": "2", "wav": "2.mp4", "labels": "playing piano"},
               {"video_id": "3", "wav": "3.mp4", "labels": "dog barking"},
               {"video_id": "4", "wav": "4.mp4", "labels": "a label nobody knows"},
               {"video_id": "5", "wav": "5.mp4", "labels": "a label nobody knows"},
               {"video_id": "6", "wav": "6.mp4", "labels": "lathe spinning"},
               {"video_id": "7", "wav": "7.mp4", "labels": "playing violin, fiddle"},
               {"video_id": "8", "wav": "8.mp4", "labels": "/m/unknown,playing harp"}]
    (tmp_path / "m.json").write_text(json.dumps({"data": entries}))
    rep = split_manifest(tmp_path / "m.json", "continual-vs", tmp_path / "out")
    assert "a label nobody knows" in caplog.text
    assert rep["unknown"] == {"a label nobody knows": 2}
    assert rep["counts"]["sports"] == 1 and rep["counts"]["music"] == 3 and rep["counts"]["animals"] == 1
    assert rep["counts"]["others_part1"] == 1 and sum(rep["counts"].values()) == 6
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files[0] == "01_sports.json" and "08_others_part2.json" in files and "unknown_labels.json" in files
    assert json.loads((tmp_path / "out" / "02_music.json").read_text())["data"][0]["video_id"] == "2"
    assert json.loads((tmp_path / "out" / "unknown_labels.json").read_text()) == {"a label nobody knows": 2}


def test_category_csv_takes_precedence(tmp_path, caplog):
    csv = tmp_path / "stat.csv"
    csv.write_text("label,category\nplaying piano,sports\na label nobody knows,animals\n"
                   "slot machine,others\nfoo bar,others\nweird,alien\n")
    m = label_to_task("continual-vs", csv)
    assert "alien" in caplog.text
    caplog.clear()
    assert m["playing piano"] == "sports" and m["a label nobody knows"] == "animals"
    assert m["slot machine"] == "others_part1" and m["foo bar"] == "others_part2" and "weird" not in m
    entries = [{"video_id": "4", "wav": "4.mp4", "labels": ["a label nobody knows"]}]
    rep = split_manifest(entries, "continual-vs", tmp_path / "o", category_csv=csv, task_order="shuffled")
    assert "alien" in caplog.text
    assert rep["unknown"] == {} and rep["counts"]["animals"] == 1 and rep["order"][0] == "music"
