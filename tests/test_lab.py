"""The lab page (stella.report.chapters.lab, notebooks/lab.ipynb): exercises as data, outcomes computed from runs."""
import json
import shlex
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

from stella.report.chapters import lab as L
from stella.report.parameters import ParameterError, notebook_setup

REPO = Path(__file__).resolve().parent.parent


def test_the_exercises_cover_what_the_lab_promises():
    keys = [e.key for e in L.EXERCISES]
    assert 4 <= len(keys) <= 6 and len(set(keys)) == len(keys)
    methods = lambda k: [a.method for a in L.BY_KEY[k].arms]
    assert methods("forgetting")[0] == "finetune" and {"er", "derpp"} <= set(methods("forgetting"))
    assert L.BY_KEY["forgetting"].value == "F"
    sizes = [a.memory_size("cpu") for a in L.BY_KEY["memory"].arms if a.method == "er"]
    assert sizes == [16, 64]                                # a quarter of the cpu preset's memory, and all of it
    assert methods("selection") == ["random", "stella"] and L.BY_KEY["selection"].signal == "selection"
    assert L.BY_KEY["attention"].signal == "map" and not L.BY_KEY["attention"].arms
    for e in L.EXERCISES:
        assert e.command() == f"papermill notebooks/lab.ipynb lab-{e.key}.ipynb -p exercise {e.key}"
        assert (REPO / "notebooks" / f"{e.chapter}.ipynb").exists()
        assert "{" not in e.ask("cpu") and e.ask("cpu").rstrip().endswith("?")
        assert all(0 <= i < len(e.arms) and 0 <= j < len(e.arms) for i, j in e.contrasts)
    assert "memory of 64 clips" in L.BY_KEY["forgetting"].ask("cpu")
    assert "memory of 8 clips" in L.BY_KEY["forgetting"].ask("smoke")


def test_setup_runs_every_exercise_over_the_book_seeds_or_one_over_one_seed():
    book = notebook_setup("lab", "cpu")
    assert book.options["exercises"] == [e.key for e in L.EXERCISES] and book.n == 5
    one = notebook_setup("lab", "cpu", exercise="memory")
    assert one.options["exercises"] == ["memory"] and one.seeds == book.seeds[:1] and one.methods == ["finetune", "er"]
    assert notebook_setup("lab", "cpu", exercise="memory", n_seeds=3).seeds == book.seeds[:3]
    with pytest.raises(ParameterError, match="notebook parameter exercise: must be one of attention"):
        notebook_setup("lab", "cpu", exercise="forget")


def test_the_plan_trains_the_lab_runs_no_chapter_asks_for():
    from stella.report.plan import book_runs

    plan = book_runs("cpu")
    new = plan[plan["chapter"] == "lab"]
    assert set(new["method"]) == {"er"} and set(new["overrides"]) == {"continual.memory_size=16"} and len(new) == 5
    for e in L.EXERCISES:             # every other run an exercise reads is one the chapters train anyway
        for method, seed, overrides in e.runs("cpu", notebook_setup("lab", "cpu").seeds):
            assert ((plan["method"] == method) & (plan["seed"] == seed) & (plan["overrides"] == ", ".join(overrides))).any()


def _fake_table(values):
    """seed_table stand-in: values[(method, memory override or None)] -> per-seed list of (A, F)."""
    def table(preset, methods, seeds, overrides=(), **kw):
        key = (methods[0], next((o for o in overrides if "memory_size" in o), None))
        return pd.DataFrame([{"method": methods[0], "seed": s, "direction": d, "metric": m, "A": a, "F": f}
                             for s, (a, f) in zip(seeds, values[key]) for d in ("A→V", "V→A")
                             for m in ("avg", "R@1")])
    return table


def test_outcome_sentences_state_the_numbers_they_are_computed_from(monkeypatch):
    ex = L.BY_KEY["forgetting"]
    values = {("finetune", None): [(10, 20.0), (11, 18.0), (12, 22.0)], ("er", None): [(20, 5.0), (21, 6.0), (19, 4.0)],
              ("derpp", None): [(22, 6.0), (23, 9.0), (20, 6.0)]}
    monkeypatch.setattr(L, "seed_table", _fake_table(values))
    out = L.run_outcome(ex, "cpu", [1, 2, 3], {"results_dir": "x"})
    assert out.sentences[0].startswith("Finetune F = 20.0 % (18.0 to 22.0 over 3 seeds); ER F = 5.0 %")
    assert out.sentences[1].startswith("Finetune minus ER: +15.0 %p per seed (from +12.0 to +18.0; 95 % interval [+7.5, +22.5]")
    assert "Holm over the exercise's 2 contrast(s), p = 0.026: above zero)" in out.sentences[1]
    values[("finetune", None)][0] = (10, 2.0)             # change one number: the sentences follow it
    changed = L.run_outcome(ex, "cpu", [1, 2, 3], {"results_dir": "x"})
    assert changed.sentences[0].startswith("Finetune F = 14.0 % (2.0 to 22.0 over 3 seeds)")
    assert changed.sentences[1].endswith(": not distinguishable from zero)")
    assert changed.sentences[3] == ("Finetune A = 11.0 % (10.0 to 12.0 over 3 seeds); ER A = 20.0 % (19.0 to 21.0 "
                                    "over 3 seeds); DER++ A = 21.7 % (20.0 to 23.0 over 3 seeds) (A→V avg recall, "
                                    "mean over seeds).")
    assert changed.sentences[4].startswith("A, Finetune minus ER: -9.0 %p per seed")
    one = L.run_outcome(ex, "cpu", [1], {"results_dir": "x"})
    assert "over 1 seed(s): not tested (fewer than two seeds)" in one.sentences[1] and len(one.sentences) == 6


def test_memory_outcome_names_the_sizes_it_compares(monkeypatch):
    values = {("finetune", None): [(10, 0.0)], ("er", "continual.memory_size=16"): [(15, 0.0)], ("er", None): [(19, 0.0)]}
    monkeypatch.setattr(L, "seed_table", _fake_table(values))
    out = L.run_outcome(L.BY_KEY["memory"], "cpu", [1], {"results_dir": "x"})
    assert "ER, 1/4 memory (16 clips) A = 15.0 %" in out.sentences[0]
    assert out.sentences[1:] == [
        "ER, 1/4 memory minus no memory (Finetune): +5.0 %p over 1 seed(s): not tested (fewer than two seeds)",
        "ER, full memory minus ER, 1/4 memory: +4.0 %p over 1 seed(s): not tested (fewer than two seeds)"]
    text = L.exercises_markdown([out], "cpu", 1)
    assert ":::{dropdown} Expected outcome (cpu preset, 1 seed of the runs)" in text and out.sentences[1] in text
    fig = L.outcome_figure([out])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][0] == "no memory\n(Finetune)"


def test_lab_notebook_is_thin_and_listed():
    nb = json.loads((REPO / "notebooks" / "lab.ipynb").read_text())
    params = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1 and 'exercise = None' in "".join(params[0]["source"])
    assert "book/notebooks/lab" in (REPO / "_toc.yml").read_text()


@pytest.mark.smoke
def test_every_exercise_command_runs_at_the_smoke_preset(tmp_path):
    """Each exercise's papermill command as the page prints it, with the smoke preset and a fresh store."""
    for e in L.EXERCISES:
        args = shlex.split(e.command())
        assert args[:2] == ["papermill", "notebooks/lab.ipynb"]
        out = tmp_path / args[2]
        proc = subprocess.run([sys.executable, "-m", "papermill", args[1], str(out), *args[3:], "-p", "preset", "smoke",
                               "-p", "results_dir", str(tmp_path / "results"), "--cwd", str(REPO), "--no-progress-bar"],
                              cwd=REPO, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{e.key}: {proc.stderr[-2000:]}"
        executed = json.loads(out.read_text())
        outputs = [o for c in executed["cells"] for o in c.get("outputs", [])]
        shown = "".join("".join(o.get("data", {}).get("text/markdown", "")) for o in outputs)
        assert f"Exercise {L.number(e)}: {e.title}" in shown and "Expected outcome (smoke preset, " in shown
        assert any("image/png" in o.get("data", {}) for o in outputs)
        assert not any(o.get("output_type") == "error" for o in outputs)


def test_signal_outcomes_are_computed_from_the_per_clip_measurements(monkeypatch):
    clips = pd.DataFrame({"clips": L.SIGNAL_CLIPS, "kept_sounding_stella": [0.8, 0.7, 0.9, np.nan],
                          "kept_sounding_random": [0.5, 0.4, 0.6, 0.5], "iou_avm_sounding": [0.5, 0.4, 0.6, 0.3],
                          "iou_random_sounding": [0.1, 0.2, 0.1, 0.2]})
    monkeypatch.setattr(L, "clip_sets", lambda cfg, continual=True: {})
    monkeypatch.setattr(L, "pretrained_signal", lambda *a, **k: clips)
    sel = L.signal_outcome(L.BY_KEY["selection"], "cpu", "x")
    assert sel.sentences[0].startswith("On 3 clips of unseen classes, STELLA's kept half of the video patches holds "
                                       "80.0 % of the sounding object's patches while it sounds, a random half 50.0 %: "
                                       "+30.0 %p per clip")
    assert list(sel.signal["ours"]) == pytest.approx([80.0, 70.0, 90.0])
    from stella.eval.localization import iou_auc
    ratio = iou_auc(clips["iou_avm_sounding"].to_numpy()) / iou_auc(clips["iou_random_sounding"].to_numpy())
    amap = L.signal_outcome(L.BY_KEY["attention"], "cpu", "x")
    assert f": {ratio:.1f}x (95 % bootstrap interval over clips" in amap.sentences[0] and "On 4 clips" in amap.sentences[0]
    clips.loc[0, "iou_avm_sounding"] = 0.0                 # change one clip: the sentence follows it
    assert L.signal_outcome(L.BY_KEY["attention"], "cpu", "x").sentences[0] != amap.sentences[0]


def test_exercises_are_numbered_as_on_the_page_and_timed():
    assert [L.number(e) for e in L.EXERCISES] == list(range(1, len(L.EXERCISES) + 1))
    assert L.duration(12) == "12 s" and L.duration(81) == "1.4 min"
    assert all(0 < e.seconds < 5 * 60 for e in L.EXERCISES)   # "a few minutes on a 2-core laptop"


def test_a_contrast_a_chapter_judges_takes_the_chapters_verdict(monkeypatch):
    """The lab's Finetune − ER (A) is chapter 02's Table 1 comparison: the same difference, interval and Holm-corrected
    verdict (over the chapter's family), oriented as the lab states it."""
    import stella.report.claims as C

    ex = L.BY_KEY["forgetting"]
    values = {("finetune", None): [(10, 20.0), (11, 18.0), (12, 22.0)], ("er", None): [(20, 5.0), (21, 6.0), (19, 4.0)],
              ("derpp", None): [(22, 6.0), (23, 9.0), (20, 6.0)]}
    monkeypatch.setattr(L, "seed_table", _fake_table(values))
    judged = C.Comparison("Finetune has a lower A than ER (A→V)", "02_retrieval", "Table 1: Finetune is the lower bound",
                          pd.Series([10.0, 11.0, 12.0]), pd.Series([20.0, 21.0, 19.0]), -1, key="table1.finetune-lower.A→V/er")
    others = [C.Comparison(f"m{k}", "02_retrieval", "Table 1: Finetune is the lower bound", pd.Series([10.0, 11.0, 12.0]),
                           pd.Series([10.5, 11.2, 12.1]), -1, key=f"table1.finetune-lower.A→V/m{k}") for k in range(8)]
    monkeypatch.setitem(L.DECLARATIONS, "table1", lambda ctx: [judged, *others,
                                                               C.Comparison("d", "02_retrieval", "Table 1: Finetune is the lower bound",
                                                                            pd.Series([10.0, 11.0, 12.0]), pd.Series([22.0, 23.0, 20.0]),
                                                                            -1, key="table1.finetune-lower.A→V/derpp")])
    out = L.run_outcome(ex, "cpu", [1, 2, 3], {"results_dir": "x"}, C.ClaimContext("cpu"))
    chapter = C.judge(L.DECLARATIONS["table1"](None))
    r = C.row(chapter, "table1.finetune-lower.A→V/er")
    sentence = next(s for s in out.sentences if s.startswith("A, Finetune minus ER"))
    assert f"[{-r['ci_high']:+.1f}, {-r['ci_low']:+.1f}]" in sentence and "chapter 02's family of 10" in sentence
    assert sentence.endswith({"holds": "below zero)", "inconclusive": "not distinguishable from zero)"}[r["verdict"]])
