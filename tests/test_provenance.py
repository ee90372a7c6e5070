"""The landing page's provenance line and the citation: computed at build time, valid CITATION.cff."""
import datetime as dt
import os
import shutil
import subprocess
import sys

import pytest
import torch
import yaml

import stella
from stella.report.provenance import (REPO, UNKNOWN_COMMIT, bibtex, citation, git_commit, machine, provenance,
                                      provenance_line, read_citation)

# Citation File Format 1.2.0: the keys its schema allows at the top level and in a reference.
CFF_KEYS = {"abstract", "authors", "cff-version", "commit", "contact", "date-released", "doi", "identifiers",
            "keywords", "license", "license-url", "message", "preferred-citation", "references", "repository",
            "repository-artifact", "repository-code", "title", "type", "url", "version"}
CFF_REQUIRED = {"cff-version", "message", "title", "authors"}
REFERENCE_TYPES = {"article", "book", "conference-paper", "generic", "proceedings", "report", "software", "thesis"}


def test_citation_cff_is_valid_cff_1_2_0_with_the_paper_preferred():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert CFF_REQUIRED <= set(cff) and set(cff) <= CFF_KEYS, set(cff) - CFF_KEYS
    assert cff["type"] == "software" and str(cff["version"]) == stella.__version__
    ref = cff["preferred-citation"]
    assert ref["type"] in REFERENCE_TYPES and {"type", "title", "authors"} <= set(ref)
    for person in [*cff["authors"], *ref["authors"]]:
        assert "name" in person or {"family-names", "given-names"} <= set(person), person
    assert ref["year"] == 2024 and "Spatio-Temporal Localized Alignment" in ref["title"]
    assert [a["family-names"] for a in ref["authors"]] == ["Lee", "Yoon", "Kim", "Kim", "Hwang"]


def test_bibtex_has_both_entries_from_the_file():
    text = bibtex(read_citation())
    assert text.count("@") == 2 and "@inproceedings{lee2024stella" in text and "@software{stella_book" in text
    assert "Lee, Jaewoo and Yoon, Jaehong and Kim, Wonjae and Kim, Yunji and Hwang, Sung Ju" in text
    assert f"version = {{{stella.__version__}}}" in text and "author = {{stella-book contributors}}" in text
    assert "```bibtex" in citation()


def test_read_citation_names_a_missing_file(tmp_path):
    with pytest.raises(ValueError, match="CITATION.cff: missing"):
        read_citation(tmp_path)


def test_provenance_states_commit_versions_preset_and_date():
    when = dt.datetime(2026, 12, 3, 21, 30, tzinfo=dt.timezone.utc)
    info = provenance("cpu", now=when)
    assert info["stella"] == stella.__version__ and info["preset"] == "cpu"
    assert info["built"] == "2026-12-03 21:30 UTC"
    assert info["torch"].split("+")[0][0].isdigit() and info["jupyter-book"] != ""
    line = provenance_line(info)
    for value in info.values():
        assert value in line


def test_commit_without_git_or_outside_a_repository_is_unknown(tmp_path, monkeypatch):
    assert git_commit(tmp_path) == UNKNOWN_COMMIT              # not a git checkout
    monkeypatch.setenv("PATH", str(tmp_path))                    # no git at all
    assert git_commit(REPO) == UNKNOWN_COMMIT
    assert provenance("smoke", root=tmp_path)["commit"] == UNKNOWN_COMMIT


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_commit_is_the_checkout_head_and_says_when_it_is_dirty(tmp_path):
    run = lambda *a: subprocess.run(["git", "-C", str(tmp_path), *a], check=True, capture_output=True, text=True)
    run("init", "-q")
    (tmp_path / "f.txt").write_text("a")
    run("add", "f.txt")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = run("rev-parse", "--short=12", "HEAD").stdout.strip()
    assert git_commit(tmp_path) == head
    (tmp_path / "f.txt").write_text("b")
    assert git_commit(tmp_path) == f"{head} + uncommitted changes"


def test_provenance_names_torchs_cpu_kernels_and_the_preset_threads():
    info = provenance("cpu")
    assert info["cpu kernels"] == torch.backends.cpu.get_cpu_capability() != ""
    assert info["threads"] == "1 torch thread per run"             # cpu pins run and stage to 1 thread
    line = provenance_line(info)
    assert f"torch's {info['cpu kernels']} CPU kernels with 1 torch thread per run." in line
    assert "within seed noise" in line and "edge of significance" in line
    assert machine("smoke")["threads"] == (f"torch's default thread count ({torch.get_num_threads()} "
                                          f"here) per run")


def test_stage_threads_are_named_when_they_differ_from_the_runs(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text(yaml.safe_dump({"pretrain": {"source": "synthetic", "num_threads": 2},
                                      "run": {"num_threads": 1}}))
    assert machine(str(preset))["threads"] == "1 torch thread per run, 2 torch threads for the pre-training stage"
    preset.write_text(yaml.safe_dump({"pretrain": {"source": "none", "num_threads": 2}, "run": {"num_threads": 1}}))
    assert machine(str(preset))["threads"] == "1 torch thread per run"   # no stage to compute


def test_the_line_follows_aten_cpu_capability():
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", "from stella.report.provenance import machine; "
                          "print(machine('cpu')['cpu kernels'])"], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout.strip()
    assert out == "DEFAULT"
