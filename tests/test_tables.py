"""Unit tests of stella.report.tables, stella.report.paper_numbers and (at the smoke preset) stella.report.chapters.efficiency_table."""
import math

import numpy as np
import pandas as pd
import pytest

from stella.report import paper_numbers as P
from stella.report import tables as T
from stella.report.display import show, show_claims


def test_paper_table1_shape_and_spot_values():
    for fn in (P.table1, P.table7):
        df = fn("continual-vs")
        assert len(df) == 11 * 2 * 4
        assert set(df.method) == set(P.TABLE1)
        assert (df.source == "paper").all()
        assert df[df.method == "multitask"]["F"].isna().all()
        assert df[df.method != "multitask"][["A", "F"]].notna().all().all()
    t1 = P.table1(None).set_index(["benchmark", "method", "direction", "metric"])
    assert t1.loc[("continual-vs", "stella", "A→V", "avg"), "A"] == 14.16
    assert t1.loc[("continual-vs", "stella+", "V→A", "avg"), "F"] == 3.89
    assert t1.loc[("continual-as", "stella+", "A→V", "avg"), "A"] == 15.26
    assert t1.loc[("continual-as", "multitask", "V→A", "R@10"), "A"] == 35.60
    t7 = P.table7("continual-vs").set_index(["method", "direction", "metric"])
    assert t7.loc[("stella+", "A→V", "avg"), "A"] == 14.94
    assert P.retrieval_table("shuffled").equals(P.table7())
    with pytest.raises(ValueError):
        P.retrieval_table("sideways")


def test_paper_claims_consistent_with_tables():
    t1 = P.table1().set_index(["method", "direction", "metric"])["A"]
    base = ["er", "mir", "derpp", "gmed", "clser", "lump", "esmer"]
    for d, gain in P.CLAIMS["vs_gain_stella"].items():
        best = max(t1[(m, d, "avg")] for m in base)
        assert t1[("stella", d, "avg")] - best == pytest.approx(gain, abs=0.011)
    t2 = P.table2().set_index("method")
    assert t2.at["stella", "gpu_mem_gb"] / t2.at["derpp", "gpu_mem_gb"] == pytest.approx(P.CLAIMS["memory_ratio_stella_derpp"])
    assert math.isnan(t2.at["stella++", "throughput"])
    # Table 2's A/F are Table 1's avg columns.
    assert t2.at["esmer", "A→V A"] == t1[("esmer", "A→V", "avg")]


def test_paper_other_tables():
    assert list(P.table3().method) == ["random", "mats", "derpp", "lpis", "rca", "stella"]
    assert len(P.table4("a")) == 10 * 2 * 3 and len(P.table8("a")) == 10 * 2 * 3
    assert P.table4("b").set_index("method").at["multitask", "value"] == 59.94
    assert P.table8("b").set_index("method").at["finetune", "value"] == 52.56
    t9 = P.table9()
    assert len(t9) == 6 and set(t9.ratio) == {"rho_a", "rho_v"}
    assert list(P.table10().beta) == [0.1, 0.4, 0.5]
    assert list(P.fig9b().audio_mode) == ["frequency", "none", "time"]
    for df in (P.table3(), P.table9(), P.table10(), P.fig9b(), P.table4("c")):
        assert (df.source == "paper").all()
    with pytest.raises(ValueError):
        P.table4("d")
    assert P.label("derpp") == "DER++" and P.label("unknown") == "unknown"


def _long():
    rows = []
    for m, base in (("a", 10.0), ("b", 20.0), ("c", 15.0)):
        for seed, off in ((1, 0.0), (2, 2.0)):
            for d in ("A→V", "V→A"):
                rows.append({"method": m, "seed": seed, "direction": d, "metric": "avg", "A": base + off, "F": 5 - off})
    return pd.DataFrame(rows)


def test_aggregate_and_wide():
    agg = T.aggregate(_long(), ["method", "direction", "metric"])
    r = agg[(agg.method == "a") & (agg.direction == "A→V")].iloc[0]
    assert r.A_mean == 11.0 and r.A_std == pytest.approx(math.sqrt(2)) and r.n == 2
    means, stds = T.wide_mean_std(agg, row_order=["c", "a", "b"], col_orders={"direction": ["V→A", "A→V"]})
    assert list(means.index) == ["c", "a", "b"]
    assert means.columns[0] == ("V→A", "avg", "A")
    assert means.at["b", ("A→V", "avg", "F")] == 4.0
    with pytest.raises(KeyError):
        T.aggregate(_long(), ["nope"])


def test_rank_marks_and_style():
    s = pd.Series({"x": 1.0, "y": 3.0, "z": 2.0, "w": np.nan, "mt": 9.0})
    assert T.rank_marks(s, exclude=["mt"]).to_dict() == {"x": "", "y": "best", "z": "second", "w": "", "mt": ""}
    assert T.rank_marks(s, higher_is_better=False, exclude=["mt"])["x"] == "best"
    ties = T.rank_marks(pd.Series([2.0, 2.0, 1.0]))
    assert list(ties) == ["best", "best", "second"]
    means = pd.DataFrame({"A": [1.0, 2.0, 3.0], "F": [1.0, 2.0, 3.0]}, index=list("abc"))
    marks = T.mark_frame(means)
    assert marks.at["c", "A"] == "best" and marks.at["a", "F"] == "best" and marks.at["b", "F"] == "second"
    html = show(means, stds=means * 0.1, marks=True, caption="cap").to_html()
    assert "font-weight: bold" in html and "text-decoration: underline" in html and "cap" in html
    assert "3.00 ± 0.30" in html


def test_show_hides_the_index_fixes_decimals_and_labels_columns():
    df = pd.DataFrame({"A→V A": [1.23456, 2.0], "throughput": [3.0, 4.5]}, index=["stella", "derpp"])
    html = show(df, digits=1).to_html()
    assert "STELLA" in html and "DER++" in html and "1.2<" in html and "1.23" not in html
    assert "A→V A (%)" in html and "throughput (samples/s)" in html
    assert "row_heading" not in html and ">0<" not in html          # no pandas index column
    swept = pd.DataFrame({"A": [1.0, 2.0]}, index=pd.Index([0.375, 0.5], name="rho_a"))
    assert ">0.375<" in show(swept).to_html()                      # a swept value is not rounded
    from stella.report import claims as C

    claims = C.judge([C.Comparison("x beats y", "02_retrieval", "Table 1: x beats every baseline", pd.Series([2.0, 2.5, 2.2]),
                                   pd.Series([1.0, 1.0, 1.0]), chance=4.0, ceiling=49.0, key="t1/y"),
                      C.Comparison("x beats z", "02_retrieval", "Table 1: x beats every baseline", pd.Series([2.0, 2.5, 2.2]),
                                   pd.Series([2.0, 2.4, 2.3]), chance=4.0, ceiling=49.0, key="t1/z")])
    html = show_claims(claims, "Cap.").data
    assert '+1.23<br><span class="stella-std">[' in html and "holds" in html and "equivalent" in html
    assert "Table 1: x beats every baseline" in html and html.count("Table 1: x beats every baseline") == 1  # grouped
    assert "n = 3; unit: %p; chance 4.00 %; ceiling 49.00 %." in html and "Holm" in html and html.count(">3<") == 0


def test_af_table_is_the_per_seed_mean_and_std():
    means, stds = T.af_table(_long().assign(variant=None))
    assert list(means.columns) == list(T.AF_COLUMNS) and list(means.index) == ["a", "b", "c"]
    assert means.at["a", "A→V A"] == 11.0 and stds.at["a", "V→A F"] == pytest.approx(math.sqrt(2))


def test_reference_rows_under_a_retrieval_table():
    from stella.report import claims as C

    refs = C.reference_recalls({c: 8 for c in range(16)})           # gallery 128: chance R@1 = 100/128
    assert list(refs.index) == list(C.REFERENCE_ROWS) and refs.at[C.REFERENCE_ROWS[0], "R@1"] == pytest.approx(100 / 128)
    assert refs.at[C.REFERENCE_ROWS[1], "R@10"] == 100.0
    agg = T.aggregate(_long(), ["method", "direction", "metric"])
    means, stds = T.wide_mean_std(agg, col_orders={"direction": ["A→V", "V→A"]})
    m, s = T.with_references(means["A→V"], stds["A→V"], refs)
    assert list(m.index[-2:]) == list(C.REFERENCE_ROWS) and m.shape[1] == means["A→V"].shape[1]
    assert m.at[C.REFERENCE_ROWS[0], ("avg", "A")] == pytest.approx(refs.at[C.REFERENCE_ROWS[0], "avg"])
    assert np.isnan(m.at[C.REFERENCE_ROWS[0], ("avg", "F")]) and s.loc[list(C.REFERENCE_ROWS)].isna().all().all()
    am, astd = T.af_table(_long().assign(variant=None))
    m2, _ = T.with_references(am, astd, refs)
    assert m2.at[C.REFERENCE_ROWS[1], "V→A A"] == pytest.approx(refs.at[C.REFERENCE_ROWS[1], "avg"])
    assert np.isnan(m2.at[C.REFERENCE_ROWS[1], "V→A F"])
    assert "ceiling" in C.scale_note(C.retrieval_scale({c: 8 for c in range(16)}))


def test_format_and_side_by_side():
    assert T.format_mean_std(1.234, 0.05) == "1.23 ± 0.05"
    assert T.format_mean_std(1.234, float("nan")) == "1.23"
    assert T.format_mean_std(float("nan")) == "—"
    ours = pd.DataFrame({"A": [1.0, 2.0]}, index=["a", "b"])
    paper = pd.DataFrame({"A": [3.0], "G": [4.0]}, index=["b"])
    sbs = T.side_by_side(ours, paper)
    assert list(sbs.columns) == [("A", "ours"), ("A", "paper"), ("G", "paper")]
    assert np.isnan(sbs.at["a", ("A", "paper")]) and sbs.at["b", ("A", "paper")] == 3.0
    assert T.fmt_bytes(3 * 2**20) == "3.00 MiB"


def test_efficiency_table_smoke(monkeypatch):
    from stella.continual import pretrain
    from stella.report.chapters.efficiency_table import measure_methods, ratios

    def no_stage(*a, **k):
        raise AssertionError("an efficiency measurement computed a pre-training stage")

    monkeypatch.setattr(pretrain, "run_pretraining", no_stage)
    df = measure_methods("smoke", ["derpp", "stella", "stella+", "stella++", "clser"], steps=1, prefill=1)
    t = df.set_index("method")
    assert (t.throughput > 0).all() and (t.peak_bytes > 0).all()
    assert (t.peak_bytes == t.saved_bytes + t.param_bytes + t.optimizer_bytes + t.extra_bytes).all()
    assert t.at["clser", "extra_bytes"] > 0 and t.at["derpp", "extra_bytes"] == 0
    assert t.at["stella++", "batch_size"] > t.at["stella", "batch_size"]
    # STELLA+ keeps more instances in (at most) the same bytes as DER++'s raw clips.
    assert t.at["stella+", "memory_capacity"] > t.at["derpp", "memory_capacity"]
    assert t.at["stella+", "memory_capacity"] * t.at["stella+", "item_bytes"] <= t.at["derpp", "memory_capacity"] * 4 * (32 * 16 + 2 * 3 * 16 * 16)
    r = ratios(df)
    assert r["memory"] > 0 and r["throughput"] > 0
    with pytest.raises(KeyError):
        ratios(df, "esmer")


def test_unseen_tasks_have_new_classes():
    from stella.data import unseen_tasks
    from stella.report.runs import run_config

    cfg = run_config("smoke", "stella")
    bench, unseen = unseen_tasks(cfg)
    seen = {c for t in bench.tasks for c in t.classes}
    assert len(unseen) == 1 and not (set(unseen[0].classes) & seen)
    assert len(unseen[0].train) > 0 and len(unseen[0].eval) > 0
    assert unseen[0].train[0]["audio"].shape == bench.tasks[0].train[0]["audio"].shape


def test_lower_is_better_columns():
    assert T.lower_is_better(("A→V", "avg", "F")) and T.lower_is_better(("A→V", "MdR"))
    assert T.lower_is_better("peak_mb") and T.lower_is_better("R@1 F")
    assert not T.lower_is_better(("A→V", "avg", "A")) and not T.lower_is_better("throughput")


def test_verdict_colours_cover_every_verdict_in_order():
    from stella.report.claims import VERDICTS
    from stella.report.display import VERDICT_CSS

    assert tuple(VERDICT_CSS) == VERDICTS          # show_families counts the verdicts in this order


def test_markup_planted_in_a_complete_runs_summary_reaches_the_page_as_text(tmp_path, monkeypatch):
    """Chapter 02's path from the store to Table 1 (seed_table, aggregate, wide_mean_std, show), with the
    store's summary schema check switched off so the planted markup gets as far as the page."""
    import stella.store as S
    from stella.report.runs import run_config, seed_table

    markup = '<img src=x onerror="alert(1)">'
    cfg = run_config("smoke", "er", 2021)
    rows = [{"direction": d, "metric": markup if m == "R@1" else m, "A": 50.0, "F": 1.0}
            for d in P.DIRECTIONS for m in P.METRICS]
    S.RunStore(tmp_path).run(cfg, lambda rd: [rd.save_json(n, rows if n == "summary" else {})
                                              for n in ("summary", "results", "meta")])
    monkeypatch.setattr(S, "_summary_problems", lambda d: [])
    runs = seed_table("smoke", ["er"], [2021], results_dir=tmp_path)
    assert markup in set(runs["metric"])
    agg = T.aggregate(runs, ["method", "direction", "metric"])
    means, stds = T.wide_mean_std(agg, row_order=["er"], col_orders={"direction": list(P.DIRECTIONS),
                                                                      "metric": [markup, *P.METRICS[1:]]})
    page = show(means, caption=f"Table 1 {markup}", stds=stds).to_html()
    planted = pd.DataFrame({markup: [markup, "1.0 ± 0.5"]}, index=pd.Index([markup, "er"], name="method"))
    page += show(planted).to_html()
    assert "<img" not in page and page.count("&lt;img src=x onerror=") == 6, page
