"""The accuracy matrix drawn (stella.report.chapters.retrieval_matrices), on small synthetic matrices."""
import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest

from stella.eval.metrics import average_accuracy, forgetting
from stella.report.chapters import retrieval_matrices as M

ACC = np.array([[40.0, 5.0, 6.0],
                [30.0, 50.0, 4.0],
                [20.0, 35.0, 45.0]])


def test_read_off_names_the_entries_a_and_f_use():
    r = M.read_off(ACC)
    assert r["A"] == pytest.approx((20 + 35 + 45) / 3) == average_accuracy(ACC)
    assert list(r["best"]) == [0, 1]                        # column 0 peaks after task 1, column 1 after task 2
    assert list(r["drops"]) == [20.0, 15.0]
    assert r["F"] == pytest.approx(17.5) == forgetting(ACC)
    assert list(r["last"]) == [20.0, 35.0, 45.0]


def test_mean_matrix_f_is_at_most_the_tables_f():
    b = np.array([[20.0, 0, 0], [60.0, 50.0, 0], [20.0, 35.0, 45.0]])   # task 1 peaks later in this seed
    stack = np.stack([ACC, b])
    table_f = M.table_forgetting({"R@1": {"finetune": stack}, "R@5": {"finetune": stack + np.eye(3)[None] * 10}})
    # per seed and metric: ACC 17.5 and 27.5 (R@5 peaks 10 higher on the diagonal), b 27.5 and 32.5
    assert table_f["finetune"] == pytest.approx(((17.5 + 27.5) / 2 + (27.5 + 32.5) / 2) / 2)
    row = M.af_read_off({"finetune": stack}, table_f).iloc[0]
    assert row["A (mean matrix)"] == pytest.approx(row["A (tables)"])
    assert row["F (mean matrix)"] == pytest.approx(20.0) and row["F (mean matrix)"] < row["F (tables)"]
    assert np.isnan(M.af_read_off({"finetune": stack}).iloc[0]["F (tables)"])


def test_run_matrix_pivots_results_rows():
    rows = [{"after_task": t, "task": i, "direction": d, "metric": m, "value": ACC[t, i] + (d == "V→A")}
            for t in range(3) for i in range(3) for d in ("A→V", "V→A") for m in ("R@1", "avg")]
    rows += [{"after_task": 0, "task": 0, "direction": "gap", "metric": "gap", "value": 0.3}]
    assert np.array_equal(M.run_matrix(rows), ACC)
    assert np.array_equal(M.run_matrix(rows, "V→A"), ACC + 1)
    with pytest.raises(ValueError, match="R@5"):
        M.run_matrix(rows, metric="R@5")


def test_heatmaps_title_each_method_with_what_is_read_off_its_mean_matrix():
    mats = {"finetune": np.stack([ACC, ACC + 2]), "derpp": np.stack([ACC * 0 + 30, ACC * 0 + 32])}
    fig = M.accuracy_heatmaps(mats)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [f"Finetune\nA = {average_accuracy(ACC + 1):.1f}, F = 17.5", "DER++\nA = 31.0, F = 0.0"]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts[:3] == ["41", "6", "7"] and len(texts) == 9
    with pytest.raises(ValueError):
        M.accuracy_heatmaps({})


def test_forgetting_curves_draw_each_earlier_column_from_the_row_it_was_learned():
    stack = np.stack([ACC, ACC + 2])
    fig = M.forgetting_curves({"er": stack}, reference={"chance": 4.0})
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["recall on task 1", "recall on task 2"]
    line = panels[1].get_lines()[0]
    assert list(line.get_xdata()) == [2, 3] and list(line.get_ydata()) == [51.0, 36.0]
    assert M.curve_sentence({"er": stack}) == ("Task 1's recall (mean over seeds): ER 41.0 % right after learning it, "
                                               "21.0 % at the end (-20.0 %p from its best).")


def test_heatmap_caption_states_both_forgetting_values():
    b = np.array([[20.0, 0, 0], [60.0, 50.0, 0], [20.0, 35.0, 45.0]])
    text = M.heatmap_caption(M.af_read_off({"finetune": np.stack([ACC, b])}, {"finetune": 22.5}))
    assert "(Finetune 20.0 against 22.5)" in text and "A→V avg recall" in text
