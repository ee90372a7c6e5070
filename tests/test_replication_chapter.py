"""Chapter 08b, "Does it replicate?": its settings and runs, the verdict per row, the sentences."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stella.continual.pretrain import pretrain_key
from stella.data.stamps import StampsStatus
from stella.report import claims as C
from stella.report.chapters import replication as R
from stella.report.chapters.controls import levels_for
from stella.report.parameters import notebook_setup
from stella.report.plan import book_runs
from stella.report.runs import run_config

PRESENT, ABSENT = StampsStatus(True, "", "1"), StampsStatus(False, "no Debian package tool on this machine", "")


def test_the_settings_each_change_what_they_name(monkeypatch):
    monkeypatch.setattr(R, "stamps", lambda root=None: PRESENT)
    s = R.settings_for("cpu")
    assert list(s) == [R.MAIN, "second draw", "tuxpaint", "shuffled order"] and s[R.MAIN] == ()
    main, draw, tux = (run_config("cpu", "stella", 2021, s[k]) for k in (R.MAIN, "second draw", "tuxpaint"))
    assert draw.data.seed == main.data.seed + 1 and pretrain_key(draw) != pretrain_key(main)   # its own stage
    assert tux.data.dataset == "tuxpaint" and tux.pretrain.source == "tuxpaint" and pretrain_key(tux) != pretrain_key(main)
    assert tux.video_grid == main.video_grid and tux.audio_grid == main.audio_grid           # the same token grid
    assert tux.data.image_size == 2 * main.data.image_size and tux.model.patch_size == 2 * main.model.patch_size
    shuffled = run_config("cpu", "stella", 2021, s["shuffled order"])
    assert shuffled.digest() == run_config("cpu", "stella", 2021, task_order="shuffled").digest()   # Table 7's runs
    monkeypatch.setattr(R, "stamps", lambda root=None: ABSENT)
    assert "tuxpaint" not in R.settings_for("cpu") and "tuxpaint rows are missing" in R.stamps_line()
    assert "GPL-2.0-or-later" in R.stamps_line()


def test_the_cpu_chapter_trains_every_setting_at_the_headline_seeds(monkeypatch):
    monkeypatch.setattr(R, "stamps", lambda root=None: PRESENT)
    nb = notebook_setup("08b_replication", "cpu")
    assert len(nb.seeds) == 5 and set(nb.methods) == set(R.METHODS.values())
    req = R.planned_runs(nb)
    assert len(req) == sum(len(R.methods_for(name)) for name in R.settings_for("cpu")) * 5
    assert {m for m, s, ov in req if ov == ("data.task_order=shuffled",)} == {"stella", "derpp"}
    plan = book_runs("cpu").set_index("key")
    assert all(run_config("cpu", m, s, ov).digest() in plan.index for m, s, ov in req)
    main = {run_config("cpu", m, s).digest() for m, s, ov in req if ov == ()}
    assert not (plan.loc[list(main), "chapter"] == "08b_replication").any()      # chapters 02 and 04 trained them


@pytest.mark.parametrize("main, here, word", [
    ({"verdict": "holds", "difference": 8.0, "ci_low": 6.0, "ci_high": 10.0},
     {"verdict": "holds", "difference": 5.0, "ci_low": 1.0, "ci_high": 9.0}, "replicates"),
    ({"verdict": "holds", "difference": 8.0, "ci_low": 6.0, "ci_high": 10.0},
     {"verdict": "contradicted", "difference": -5.0, "ci_low": -9.0, "ci_high": -1.0}, "does not"),
    ({"verdict": "holds", "difference": 8.0, "ci_low": 6.0, "ci_high": 10.0},
     {"verdict": "inconclusive", "difference": 1.0, "ci_low": -2.0, "ci_high": 4.0}, "does not"),
    ({"verdict": "holds", "difference": 8.0, "ci_low": 6.0, "ci_high": 10.0},
     {"verdict": "inconclusive", "difference": 4.0, "ci_low": -2.0, "ci_high": 10.0, "detectable": 9.0}, "cannot tell"),
    ({"verdict": "inconclusive", "difference": 1.0, "ci_low": -2.0, "ci_high": 4.0},
     {"verdict": "holds", "difference": 5.0, "ci_low": 1.0, "ci_high": 9.0}, "cannot tell"),   # nothing to replicate
    ({"verdict": "inconclusive", "difference": 1.0, "ci_low": -2.0, "ci_high": 4.0},
     {"verdict": "equivalent", "difference": 0.1, "ci_low": -0.5, "ci_high": 0.7, "detectable": 1.2}, "cannot tell"),
])
def test_the_word_per_row(main, here, word):
    got, why = R.replication_word(main, here)
    assert got == word and why
    if word == "cannot tell" and "detectable" in here:
        assert f"{here['detectable']:.1f} %p" in why


def test_e_is_judged_by_its_interval():
    main = {"difference": 0.4, "ci_low": 0.1, "ci_high": 0.7}
    assert R.replication_word(main, {"difference": 0.3, "ci_low": 0.05, "ci_high": 0.6}, judged=False)[0] == "replicates"
    assert R.replication_word(main, {"difference": -0.5, "ci_low": -0.9, "ci_high": -0.1}, judged=False)[0] == "does not"


def _scores(oracle_gain: dict[str, float]) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for setting, gain in oracle_gain.items():
        for s in range(5):
            for d in ("A→V", "V→A"):
                for label, g in (("DER++", 2.0), ("Random", 0.0), ("Oracle", gain), ("STELLA", gain / 2), ("LPIS only", 0.0)):
                    rows.append({"label": label, "seed": s, "direction": d, "A": 10 + g + rng.normal(0, 0.4), "F": 0.0,
                                 "setting": setting})
    return pd.DataFrame(rows)


def test_the_table_and_the_sentences_follow_the_numbers(monkeypatch):
    df = _scores({R.MAIN: 8.0, "second draw": 8.0, "tuxpaint": -6.0, "shuffled order": 8.0})
    judged, eff = C.judge(R.comparisons(df)), R.efficiencies(df)
    assert C.row(judged, "replication.second-draw.A→V/oracle-random")["verdict"] == "holds"
    table = R.replication_table(judged, eff)
    assert list(dict.fromkeys(table["setting"])) == ["second draw", "tuxpaint", "shuffled order"]
    assert len(table) == 3 * 2 * (len(R.PAIRS) + len(R.SELECTIONS))
    words = table.set_index(["setting", "comparison", "direction"])["verdict"]
    assert words[("second draw", "Oracle − Random", "A→V")] == "replicates"
    assert words[("tuxpaint", "Oracle − Random", "V→A")] == "does not"
    assert words[("second draw", "STELLA's E", "A→V")] == "replicates"
    said = R.row_sentences(table)
    assert len(said) == len(table) and said[0].startswith("second draw, Oracle − Random (A→V): +8.")
    assert "does not replicate (decided on the other side)" in " ".join(said)
    counts = R.verdict_counts(table)
    assert counts.startswith("second draw: ") and " of 8 replicate" in counts
    monkeypatch.setattr(R, "replication_scores", lambda own: df)
    monkeypatch.setattr(R, "stamps", lambda root=None: ABSENT)
    landing = R.landing_replication(notebook_setup("08b_replication", "smoke"))
    assert counts in landing and "not tested on the machine that built this page" in landing


def test_the_plan_counts_the_stages_its_runs_start_from(monkeypatch):
    from stella.report.plan import book_stages

    monkeypatch.setattr(R, "stamps", lambda root=None: PRESENT)
    plan = book_runs("smoke")
    stages = book_stages("smoke", plan)
    want = {pretrain_key(run_config("smoke", "stella", None, ov))
            for ov in [*R.settings_for("smoke").values(), *levels_for("smoke").values()]}
    assert set(stages) == want and len(stages) == 3           # the book's, the second draw's and the stamps'


def test_a_setting_of_two_methods_keeps_its_rows():
    """The shuffled order trains STELLA and DER++ only: no E there, but its STELLA − DER++ rows stay in the table."""
    df = _scores({R.MAIN: 8.0, "second draw": 8.0, "shuffled order": 8.0})
    df = df[(df["setting"] != "shuffled order") | df["label"].isin(R.SETTING_METHODS["shuffled order"])]
    judged, eff = C.judge(R.comparisons(df)), R.efficiencies(df)
    table = R.replication_table(judged, eff)
    shuffled = table[table["setting"] == "shuffled order"]
    assert set(shuffled["comparison"]) == {"STELLA − DER++"} and len(shuffled) == 2
    assert "shuffled order" not in set(eff["setting"])
