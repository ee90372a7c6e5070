"""The book driver: notebooks prepared for the reader, offline pages, progress in the terminal; the
smoke tier executes every notebook with papermill at the smoke preset and builds the book."""
import json
import re
import shutil
from pathlib import Path

import pytest

from stella.builder.driver import CHROMIUM, BookBuildError, build_book, execute_notebooks, notebook_paths
from stella.builder.checks import MIN_TEXT_PX, figure_text, leaked_paths, remote_assets
from stella.builder.consistency import book_findings
from stella.builder.pages import collapse_carriage_returns, prepare_page, strip_progress
from stella.progress import ENV, ProgressLines, announce, read_events

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
        assert all("id" in c for c in nb["cells"]), f"{p.name}: a cell without an id (nbformat 4.5 needs one)"
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


def _code_cells(nb: dict, tag: str) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code" and tag in c.get("metadata", {}).get("tags", [])]


# One papermill override per notebook, as a reader reruns a chapter (README: "Rerun one notebook with other
# parameters"): each changes what the page computes without asking for a run the book's plan lacks. The
# pages whose only parameters are seed counts and the device get a seed count equal to the smoke default: their
# injection path runs, and tests/test_notebook_parameters.py runs every parameter's non-default value.
OVERRIDES = {"00_method_walkthrough": {"clip": 1}, "01_benchmark": {"clips_per_task": 2},
             "02_retrieval": {"methods": "finetune,er,derpp,stella,multitask"}, "03_efficiency": {"steps": 3},
             "04_ablations": {"beta_values": "0.5"}, "04b_controls": {"n_sweep_seeds": 1},
             "05_memory_size": {"memory_sizes": "8"}, "06_modality_gap": {"umap_task": 2},
             "07_attention_localization": {"n_clips": 1}, "08_downstream": {"probe_epochs": 5}, "08b_replication": {"n_seeds": 1},
             "09_what_reproduced": {"n_seeds": 1}, "index": {"n_seeds": 1}, "lab": {"exercise": "forgetting"}}


@pytest.mark.smoke
def test_smoke_book_builds(tmp_path, capsys):
    index = build_book("smoke", stage=tmp_path / "stage", results_dir=tmp_path / "results", progress=False,
                       print_view=True, jobs=2, overrides=OVERRIDES)
    assert index.exists() and set(OVERRIDES) == {p.stem for p in notebook_paths(REPO)}
    # the book trained exactly the runs its plan lists (stella.report.plan: the README's budget counts them),
    # all of them in the two prefetch processes before the notebooks ran
    from stella.report.plan import book_runs
    plan = book_runs("smoke")
    trained = {d.name for d in (tmp_path / "results").iterdir() if (d / "COMPLETE").exists()}
    assert trained == set(plan["key"])
    out = capsys.readouterr().out
    assert f"training the book's {len(plan)} missing runs of {len(plan)} with 2 processes" in out
    assert out.count("  runs  ") == len(plan) and "runs trained in" in out and "failed" not in out
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
        # results first: plumbing folded, the parameters visible, the injected cell only what differs
        code = [c for c in executed["cells"] if c["cell_type"] == "code"]
        params, injected = _code_cells(executed, "parameters"), _code_cells(executed, "injected-parameters")
        assert len(params) == 1 and len(injected) == 1, p.name
        assert "".join(injected[0]["source"]).splitlines()[1:] == [
            'preset = "smoke"', "# results_dir: a path outside the repository, not shown",
            *(f"{k} = {v!r}".replace("'", '"') for k, v in OVERRIDES[p.stem].items())], p.name
        assert len(_code_cells(executed, "hide-input")) == len(code) - 2 - len(_code_cells(executed, "show-input"))
        text = page.read_text()
        assert text.count('class="cell tag_parameters') == 1
        after = text.split('class="cell tag_parameters', 1)[1].lstrip(' docutils container">\n')
        assert after.startswith('<div class="cell_input'), f"{page.name}: the parameters cell is folded"
        assert "Rerun this page" in text
        if p.stem[:1].isdigit():    # results first: the chapter's first table or figure comes before the parameters
            top = text.split('class="cell tag_parameters', 1)[0]
            assert "<table" in top or "<img" in top, f"{page.name}: no table or figure before the parameters"
        # the executed notebook is offered for download and exists
        assert f'href="../../_sources/book/notebooks/{p.name}"' in text
        assert (html / "_sources" / "book" / "notebooks" / p.name).exists()
    targets = _check_landing_page(html, tmp_path / "stage" / "book" / "notebooks")
    for page in html.rglob("*.html"):
        text = page.read_text(errors="ignore")
        for img in re.findall(r'<img[^>]+src="([^"]+)"', text):
            if not img.startswith(("data:", "http")):
                assert (page.parent / img).exists(), f"{page}: missing image {img}"
    # offline: MathJax from the book's own _static, no remote script, stylesheet or font
    assert 'src="../../_static/mathjax/tex-chtml.js"' in (html / "book/notebooks/02_retrieval.html").read_text()
    assert (html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    assert remote_assets(html) == []
    # no trace of the building machine in a page, the search index or a downloadable notebook
    machine = [str(tmp_path), str(tmp_path.resolve()), str(REPO), f"{Path.home()}/"]
    assert leaked_paths(html, machine) == []
    # the print view: one page whose assets resolve
    single = html.parent / "singlehtml" / "index.html"
    text = single.read_text()
    assert text.count('class="cell ') > 10 and remote_assets(single.parent) == []
    for ref in re.findall(r'(?:src|href)="(_static/[^"?#]+|_images/[^"?#]+)', text):
        assert (single.parent / ref).exists(), f"print view: missing {ref}"
    assert text.index("comparisons were tested") < text.index('id="document-book/notebooks/00_method_walkthrough"')
    for stem in targets:   # the landing page's claim links point into the one page
        assert f'href="#document-book/notebooks/{stem}"' in text and f'id="document-book/notebooks/{stem}"' in text
    assert leaked_paths(single.parent, machine) == []
    pdf = html.parent / "pdf" / "stella-book.pdf"
    if any(shutil.which(name) for name in CHROMIUM):
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 100_000
    else:
        assert not pdf.exists()
    # every computed sentence agrees with the tables beside it, every figure's text is readable as shown (issue 29)
    findings = book_findings(html)
    assert findings == [], f"{len(findings)} sentence(s) their tables do not support:\n" + "\n".join(map(str, findings))
    if any(shutil.which(name) for name in CHROMIUM):
        small = [f for f in figure_text(html) if f["px"] is None or f["px"] < MIN_TEXT_PX]
        assert small == [], "figure text under 9 px as shown:\n" + "\n".join(
            f"{f['page']}: {f['figure']}: {f['px'] and round(f['px'], 1)} px" for f in small)


def _check_landing_page(html: Path, executed: Path) -> set[str]:
    """The root is the landing page: its summary and figure come before any code, its claims are chapter 09's,
    and each claim links to an existing chapter page. Returns the linked chapter stems."""
    assert 'url=book/notebooks/index.html"' in (html / "index.html").read_text()
    page = html / "book" / "notebooks" / "index.html"
    text = page.read_text()
    first = text.split('class="cell tag_parameters', 1)[0]
    assert "comparisons were tested" in first and re.search(r'<img[^>]+src="[^"]+\.png"', first), "summary not first"
    assert first.index("comparisons were tested") < first.index("<img") < first.index("<strong>Figure.</strong>")
    glued = {o["metadata"]["scrapbook"]["name"]: o["data"]
             for c in json.loads((executed / "index.ipynb").read_text())["cells"] for o in c.get("outputs", [])
             if "scrapbook" in o.get("metadata", {})}
    assert set(glued) == {"headline", "forest", "caption", "claims", "controls"} and "image/png" in glued["forest"]
    rows = "".join(glued["claims"]["text/markdown"]).splitlines()[2:]
    stems = [re.search(r"\]\((\w+)\.ipynb\)", r).group(1) for r in rows]
    table = text[text.index("<table"):text.index("</table>")]
    assert re.findall(r'<a class="reference internal" href="(\w+)\.html">', table) == stems
    for stem in set(stems):
        assert (page.parent / f"{stem}.html").exists(), f"landing page links to a missing {stem}.html"
    # the same verdicts as chapter 09 (one claims frame, computed once)
    ours = re.search(r"(\d+) of the paper's comparisons were tested over [^:]*: (\d+) hold, (\d+) are contradicted, "
                     r"(\d+) are equivalent within the margin and (\d+) are inconclusive",
                     "".join(glued["headline"]["text/markdown"]))
    nb09 = json.loads((executed / "09_what_reproduced.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in nb09["cells"] for o in c.get("outputs", []))
    theirs = re.search(r"(\d+) claims tested: (\d+) hold, (\d+) contradicted, (\d+) equivalent, (\d+) inconclusive; "
                       r"\d+ not tested; (\d+) families", printed)
    assert ours and theirs and len(rows) == int(theirs[6])
    assert ours.groups() == theirs.groups()[:5]
    return set(stems)


def test_strip_progress_keeps_results_and_drops_bars():
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


def _notebook(*cells) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"id": f"c{i}", "cell_type": t, "metadata": {"tags": tags}, "source": src,
         **({"outputs": outs, "execution_count": i} if t == "code" else {})}
        for i, (t, tags, src, outs) in enumerate(cells)]}


def test_prepare_page_folds_plumbing_and_shows_how_to_rerun(tmp_path):
    root, stage, results = tmp_path / "repo", tmp_path / "stage", tmp_path / "elsewhere" / "results"
    nb = _notebook(
        ("markdown", [], "# Title", None),
        ("code", ["parameters"], 'preset = "cpu"\nresults_dir = "results"\nn_seeds = None  # None: 1', []),
        ("code", ["injected-parameters"], f'# Parameters\npreset = "smoke"\nresults_dir = "{results}"\n', []),
        ("code", [], "import pandas as pd", []),
        ("code", ["show-input"], "table(x)", []),
        ("code", [], "print(rd.path)", [{"output_type": "stream", "name": "stdout",
                                           "text": f"{results}/abc\n{root}/stella/x.py:3: Warning\n"}]))
    nb["metadata"]["papermill"] = {"input_path": str(root / "notebooks/x.ipynb"), "parameters": {"results_dir": str(results)}}
    out = prepare_page(nb, "02_x", {"preset": "smoke", "results_dir": str(results)}, root, stage, results)
    kinds = [(c["cell_type"], c["metadata"].get("tags")) for c in out["cells"]]
    assert kinds == [("markdown", []), ("markdown", None), ("code", ["parameters"]), ("code", ["injected-parameters"]),
                     ("code", ["hide-input"]), ("code", ["show-input"]), ("code", ["hide-input"])]
    assert "Rerun this page" in out["cells"][1]["source"] and "--only 02_x" in out["cells"][1]["source"]
    injected = out["cells"][3]["source"]
    assert 'preset = "smoke"' in injected and "results_dir =" not in injected and str(tmp_path) not in injected
    dump = json.dumps(out)
    assert str(tmp_path) not in dump
    assert "<results_dir>/abc" in dump and "stella/x.py:3" in dump
    assert out["metadata"]["papermill"]["input_path"] == "notebooks/x.ipynb"


def test_injected_cell_goes_when_the_build_used_the_defaults(tmp_path):
    nb = _notebook(("code", ["parameters"], 'preset = "cpu"\nresults_dir = "results"', []),
                   ("code", ["injected-parameters"], '# Parameters\npreset = "cpu"\nresults_dir = "results"\n', []),
                   ("code", [], "x = 1", []))
    out = prepare_page(nb, "01_y", {"preset": "cpu", "results_dir": str(tmp_path / "results")}, tmp_path, tmp_path,
                       tmp_path / "results")
    assert [c["metadata"].get("tags") for c in out["cells"] if c["cell_type"] == "code"] == [["parameters"], ["hide-input"]]
    assert "as this build used them" in out["cells"][0]["source"]


def test_results_first_pastes_the_first_table_or_figure_under_the_title():
    from stella.builder.pages import GLUE_PREFIX, results_first

    fig = [{"output_type": "display_data", "data": {"text/plain": "x"}, "metadata": {}},
           {"output_type": "display_data", "data": {"image/png": "iVBOR"}, "metadata": {}},
           {"output_type": "display_data", "data": {"text/markdown": "**Figure.** What is drawn."}, "metadata": {}}]
    nb = _notebook(("markdown", [], "# Title\n\nThis page reproduces Fig. 2 of the paper. It also explains\nmuch more.", None),
                   ("code", ["parameters"], 'preset = "cpu"', []),
                   ("code", [], "x = load()", []),
                   ("code", [], "plot(x)", fig))
    code_before = [c["source"] for c in nb["cells"] if c["cell_type"] == "code"]
    assert results_first(nb)
    src = [c["source"] for c in nb["cells"]]
    assert src[0] == "# Title\n\nThis page reproduces Fig. 2 of the paper.\n"
    assert src[1] == "```{glue} stella-first-result\n```\n\n```{glue} stella-first-result-caption\n```\n"
    assert src[2] == "## About this chapter\n\nIt also explains\nmuch more.\n"
    assert [c["source"] for c in nb["cells"] if c["cell_type"] == "code"] == code_before   # still runs top to bottom
    outs = nb["cells"][-1]["outputs"]
    assert outs[0]["data"] == {"text/plain": "x"} and GLUE_PREFIX + "image/png" in outs[1]["data"]
    assert outs[1]["metadata"]["scrapbook"]["name"] == "stella-first-result"
    assert outs[2]["metadata"]["scrapbook"]["name"] == "stella-first-result-caption"
    assert not results_first(_notebook(("markdown", [], "# T\n\nNo result below.", None), ("code", [], "x = 1", [])))


def test_remote_assets_and_leaked_paths_find_what_a_page_would_fetch_or_leak(tmp_path):
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "a.css").write_text('@import "https://fonts.example/x.css"; .b{background:url(img/ok.png)}')
    (tmp_path / "_static" / "ok.css").write_text(".c{background:url('../_images/x.png')}")
    (tmp_path / "p.html").write_text(
        '<html><head><script src="_static/local.js"></script><script src="https://cdn.example/m.js"></script>'
        '<link rel="stylesheet" href="//cdn.example/s.css"><link rel="canonical" href="https://book.example/p.html">'
        '<script>const URL = "https://unpkg.example/t.js"</script><style>@font-face{src:url(https://f.example/f.woff2)}</style>'
        '</head><body><a href="https://paper.example">the paper</a><div style="background:url(http://x.example/i.png)"></div>'
        '<p>/home/someone/stella/results/abc</p></body></html>')
    found = remote_assets(tmp_path)
    for url in ("fonts.example/x.css", "cdn.example/m.js", "//cdn.example/s.css", "unpkg.example/t.js",
                "f.example/f.woff2", "x.example/i.png"):
        assert any(url in f for f in found), (url, found)
    assert not any("paper.example" in f or "book.example" in f or "ok.png" in f for f in found)
    assert len(found) == 6
    assert leaked_paths(tmp_path, ["/home/someone/stella"]) == ["p.html: /home/someone/stella"]
    assert leaked_paths(tmp_path, ["/elsewhere"]) == []


def test_announce_is_a_no_op_without_the_progress_file(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    announce("run-start", method="er")
    f = tmp_path / "progress.jsonl"
    monkeypatch.setenv(ENV, str(f))
    announce("plan", runs=3)
    announce("run-start", method="er", seed=1, stored=True)
    events, offset = read_events(f)
    assert [e["event"] for e in events] == ["plan", "run-start"] and offset == f.stat().st_size
    with open(f, "a") as h:
        h.write('{"event": "run-e')   # a line still being written waits for the next read
    assert read_events(f, offset) == ([], offset)


def test_progress_lines_say_which_run_of_how_many_and_group_stored_runs():
    lines = ProgressLines("02_retrieval", t0=100.0)
    out = []
    for i, stored in enumerate([True, True, False, True], 1):
        ev = {"method": "er", "seed": i, "stored": stored}
        out += lines.feed({"event": "run-start", "t": 100.0 + 10 * i, **ev})
        out += lines.feed({"event": "run-end", "t": 105.0 + 10 * i, "seconds": 73.0 if not stored else 0.1, **ev})
    out += lines.flush(200.0)
    assert out == ["  02_retrieval  0:30  runs 1-2: already in the run store",
                   "  02_retrieval  0:30  run 3  er, seed 3: training ...",
                   "  02_retrieval  0:35  run 3  er, seed 3: trained in 1 min 13 s",
                   "  02_retrieval  1:40  run 4: already in the run store"]
    assert lines.summary() == "4 runs (1 trained)"
    planned = ProgressLines("04_ablations", t0=0.0)
    planned.feed({"event": "plan", "runs": 12, "t": 0.0})
    assert planned.feed({"event": "run-start", "t": 61.0, "method": "stella", "seed": 2, "stored": False,
                         "changes": ["selection.beta=0.1"]}) == [
        "  04_ablations  1:01  run 1/12  stella, seed 2, selection.beta=0.1: training ..."]
    for _ in range(11):
        planned.feed({"event": "run-start", "t": 62.0, "method": "er", "seed": 2, "stored": True})
    planned.feed({"event": "plan", "runs": 3, "t": 70.0})   # a second loop: its runs add to the total
    assert planned.feed({"event": "run-start", "t": 71.0, "method": "er", "seed": 3, "stored": False})[-1] == (
        "  04_ablations  1:11  run 13/15  er, seed 3: training ...")


def test_default_jobs_one_per_core_only_for_pinned_threads():
    import os

    from stella.builder.prefetch import default_jobs

    assert default_jobs("cpu") == (os.cpu_count() or 1)    # cpu pins run.num_threads = 1
    assert default_jobs("smoke") == 1                       # torch's default threads: one run at a time


def test_progress_lines_announce_the_pretraining_stage():
    lines = ProgressLines("00_method_walkthrough", t0=0.0)
    lines.feed({"event": "run-start", "t": 1.0, "method": "stella", "seed": 2021, "stored": False})
    assert lines.feed({"event": "pretrain-start", "t": 2.0, "key": "abc", "steps": 2800}) == [
        "  00_method_walkthrough  0:02  pre-training stage abc (2800 steps, computed once, every run starts from it) ..."]
    assert lines.feed({"event": "pretrain-end", "t": 300.0, "key": "abc", "seconds": 298.0}) == [
        "  00_method_walkthrough  5:00  pre-training stage done in 4 min 58 s"]


def test_pretraining_announces_itself_once(tmp_path, monkeypatch):
    from stella.config import load_config
    from stella.continual import pretrain as P

    monkeypatch.setenv(ENV, str(tmp_path / "progress.jsonl"))
    import torch

    # a stage's weights must be a readable torch file, or the next call repairs (recomputes) the stage
    monkeypatch.setattr(P, "run_pretraining", lambda cfg, d, device, progress: torch.save({}, d / "weights.pt"))
    cfg = load_config("smoke")
    for _ in range(2):
        P.ensure_pretrained(cfg, tmp_path / "store")
    events, _ = read_events(tmp_path / "progress.jsonl")
    assert [e["event"] for e in events] == ["pretrain-start", "pretrain-end"]
    assert events[0]["key"] == P.pretrain_key(cfg)


def test_a_run_is_described_by_what_differs_from_its_preset():
    from stella.report.runs import run_config
    from stella.report.runs import changes_from_preset

    assert changes_from_preset(run_config("smoke", "stella+", seed=5)) == []
    assert changes_from_preset(run_config("smoke", "derpp", seed=5, overrides=["continual.memory_size=7"],
                                          task_order="shuffled")) == ["data.task_order=shuffled",
                                                                      "continual.memory_size=7"]


def test_driver_prints_kernel_progress_and_no_transport_warning(tmp_path, capfd):
    nb = _notebook(("code", ["parameters"], 'preset = "cpu"\nresults_dir = "results"', []),
                   ("code", [], "from stella.progress import announce\n"
                                "announce('plan', runs=2)\n"
                                "announce('run-start', method='stella', seed=1, stored=False)\n"
                                "announce('run-end', method='stella', seed=1, stored=False, seconds=2.5)", []))
    for c in nb["cells"]:
        c.pop("execution_count", None) if c["cell_type"] != "code" else c.update(execution_count=None)
    nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src = tmp_path / "notebooks" / "05_tiny.ipynb"
    src.parent.mkdir()
    src.write_text(json.dumps(nb))
    failures, seconds = execute_notebooks([src], tmp_path / "stage" / "book" / "notebooks",
                                          {"preset": "smoke", "results_dir": "results"}, cwd=tmp_path,
                                          results=tmp_path / "results", progress=True)
    assert failures == [] and set(seconds) == {"05_tiny"}
    out, err = capfd.readouterr()
    assert "run 1/2  stella, seed 1: trained in 2.5 s" in out
    assert "[1/1] 05_tiny:" in out and "1 run (1 trained)" in out
    assert "without encryption" not in out + err and "WARNING" not in err


def test_execution_order_longest_first_and_claims_last():
    from stella.builder.driver import execution_order

    paths = [Path(f"{s}.ipynb") for s in ("00_a", "03_efficiency", "05_b", "08_downstream", "09_what_reproduced",
                                          "index", "lab")]
    first = [p.stem for p in execution_order(paths)]
    assert first[:2] == ["03_efficiency", "08_downstream"] and first[-2:] == ["09_what_reproduced", "index"]
    again = [p.stem for p in execution_order(paths, {"05_b": 500.0, "03_efficiency": 100.0, "index": 900.0})]
    assert again[:3] == ["08_downstream", "05_b", "03_efficiency"] and again[-1] == "index"   # no record: heavy


def test_notebooks_execute_side_by_side(tmp_path):
    """Two notebooks, two worker processes: both outputs prepared, seconds per notebook, one failure named."""
    cells = lambda body: _notebook(("code", ["parameters"], 'preset = "cpu"\nresults_dir = "results"', []),
                                   ("code", [], body, []))
    src = tmp_path / "notebooks"
    src.mkdir()
    for name, body in (("01_ok", "import time; time.sleep(1); print('fine')"), ("02_bad", "raise ValueError('boom')")):
        nb = cells(body)
        for c in nb["cells"]:
            c.update(execution_count=None, outputs=[])
        nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        (src / f"{name}.ipynb").write_text(json.dumps(nb))
    out = tmp_path / "stage" / "book" / "notebooks"
    failures, seconds = execute_notebooks(sorted(src.glob("*.ipynb")), out, {"preset": "smoke", "results_dir": "results"},
                                          cwd=tmp_path, results=tmp_path / "results", progress=False, jobs=2)
    assert list(seconds) == ["01_ok", "02_bad"] and all(s >= 0 for s in seconds.values())
    assert [f.notebook for f in failures] == ["02_bad.ipynb"] and "boom" in failures[0].error
    assert "fine" in (out / "01_ok.ipynb").read_text()


def test_papermill_reads_every_parameter_of_every_notebook():
    """A parameter papermill cannot parse (its comment confuses papermill's reader) is injected with a warning
    that the reader sees: "Passed unknown parameter"."""
    import ast

    import nbformat
    from papermill.translators import PythonTranslator

    for p in notebook_paths(REPO):
        cell = next(c for c in nbformat.read(p, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
        names = [t.id for n in ast.parse(cell.source).body if isinstance(n, ast.Assign) for t in n.targets]
        assert [q.name for q in PythonTranslator.inspect(cell)] == names, p.name
