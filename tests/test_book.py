"""Smoke tier: every notebook executes with papermill at the smoke preset and the book builds."""
import json
from pathlib import Path

import pytest

from stella.book import BookBuildError, build_book, notebook_paths

REPO = Path(__file__).resolve().parent.parent
TABLES_ONLY = {"09_what_reproduced"}   # a chapter of verdict tables, no figure


def test_notebooks_are_committed_clean_with_one_parameters_cell():
    paths = notebook_paths(REPO)
    assert len(paths) >= 9
    for p in paths:
        nb = json.loads(p.read_text())
        tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{p.name}: needs exactly one cell tagged 'parameters'"
        assert "preset" in "".join(tagged[0]["source"]) and "results_dir" in "".join(tagged[0]["source"])
        for c in nb["cells"]:
            if c["cell_type"] == "code":
                assert not c.get("outputs") and c.get("execution_count") is None, f"{p.name}: committed with outputs"


def test_toc_lists_every_notebook():
    toc = (REPO / "_toc.yml").read_text()
    for p in notebook_paths(REPO):
        assert f"book/notebooks/{p.stem}" in toc, f"_toc.yml misses {p.stem}"


def test_failing_notebook_is_named(tmp_path):
    with pytest.raises(BookBuildError, match="no notebook matches"):
        build_book("smoke", stage=tmp_path, only=["does-not-exist"])


@pytest.mark.smoke
def test_smoke_book_builds(tmp_path):
    index = build_book("smoke", stage=tmp_path / "stage", results_dir=tmp_path / "results", progress=False)
    assert index.exists()
    html = index.parent
    for p in notebook_paths(REPO):
        page = html / "book" / "notebooks" / f"{p.stem}.html"
        assert page.exists(), f"{page} missing"
        executed = json.loads((tmp_path / "stage" / "book" / "notebooks" / p.name).read_text())
        outputs = [o for c in executed["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
        kinds = {k for o in outputs for k in o.get("data", {})}
        has_table = any("<table" in "".join(o.get("data", {}).get("text/html", "")) for o in outputs)
        if p.stem in TABLES_ONLY:
            assert has_table, f"{p.name}: no HTML table in its outputs"
        else:
            assert "image/png" in kinds, f"{p.name}: no figure in its outputs"
        assert not any(o.get("output_type") == "error" for o in outputs)
        streams = "".join(o["text"] if isinstance(o["text"], str) else "".join(o["text"])
                          for o in outputs if o.get("output_type") == "stream")
        assert "it/s]" not in streams and "TqdmWarning" not in streams, f"{p.name}: progress bars in the book"
    for page in html.rglob("*.html"):
        text = page.read_text(errors="ignore")
        for img in __import__("re").findall(r'<img[^>]+src="([^"]+)"', text):
            if not img.startswith(("data:", "http")):
                assert (page.parent / img).exists(), f"{page}: missing image {img}"


def test_strip_progress_keeps_results_and_drops_bars():
    from stella.book import collapse_carriage_returns, strip_progress

    assert collapse_carriage_returns("a\rb\rc\nd") == "c\nd"
    bar = "derpp task 1/4 t1:  40%|████      | 2/5 [00:01<00:01,  2.0it/s]"
    done = "derpp task 1/4 t1: 100%|██████████| 5/5 [00:02<00:00,  2.1it/s]"
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "stream", "name": "stderr", "text": [f"\r{bar}", f"\r{done}\n"]},
        {"output_type": "stream", "name": "stdout", "text": "33 runs loaded\n100% of the clips | 3/4 kept\n"},
        {"output_type": "display_data", "data": {"text/plain": "x"}}]}, {"cell_type": "markdown", "source": ""}]}
    assert strip_progress(nb) == 1
    outs = nb["cells"][0]["outputs"]
    assert [o["output_type"] for o in outs] == ["stream", "display_data"]
    assert outs[0]["text"] == "33 runs loaded\n100% of the clips | 3/4 kept\n"
