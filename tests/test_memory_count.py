"""Training memory counted under FakeTensorMode equals a real step's, part by part (smoke geometry);
the paper-geometry frame of chapter 03 has its ratios and the paper's GB."""
import pytest

from stella.config import load_config
from stella.continual.memory_count import count_step


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


@pytest.mark.parametrize("method,sets", [("finetune", []), ("derpp", []), ("stella", ["selection.mask_of=selected"]),
                                         ("stella", ["selection.mask_of=full"]), ("stella++", []), ("clser", []),
                                         ("esmer", []), ("mir", [])])
def test_fake_count_equals_a_real_step(method, sets):
    cfg = load_config("smoke", [f"continual.method={method}", *sets])
    real, fake = count_step(cfg, fake=False), count_step(cfg, fake=True)
    assert fake == real
    assert real["saved_bytes"] > 0 and real["grad_bytes"] > 0 and 0 <= real["optimizer_bytes"] - 2 * real["grad_bytes"] < 4096   # two moments + step counters
    assert (real["rehearsal_batch_bytes"] > 0) == (method != "finetune")


def test_count_scales_with_the_batch_and_the_masking_reading():
    small = count_step(load_config("smoke", ["continual.method=derpp", "continual.batch_size=4"]))
    large = count_step(load_config("smoke", ["continual.method=derpp", "continual.batch_size=8"]))
    assert large["saved_bytes"] > 1.8 * small["saved_bytes"] and large["param_bytes"] == small["param_bytes"]
    sel = count_step(load_config("smoke", ["continual.method=stella", "selection.mask_of=selected"]))
    full = count_step(load_config("smoke", ["continual.method=stella", "selection.mask_of=full"]))
    assert sel["saved_bytes"] < full["saved_bytes"]                # fewer visible tokens after selection


def test_paper_geometry_frame_at_smoke(tmp_path):
    from stella.report.chapters.efficiency_table import paper_geometry_memory, paper_memory_view

    df = paper_geometry_memory(["finetune", "derpp", "stella"], results_dir=tmp_path, preset="smoke", batch_size=4)
    assert list(df["method"]) == ["finetune", "derpp", "stella", "stella"]
    assert list(df["reading"]) == ["-", "-", "selected", "full"]
    d = df.set_index(["method", "reading"])
    assert d.loc[("derpp", "-"), "/ DER++"] == 1.0 and d.loc[("finetune", "-"), "/ Finetune"] == 1.0
    assert d.loc[("derpp", "-"), "paper_gb"] == 30.95 and d.loc[("derpp", "-"), "paper / DER++"] == 1.0
    assert (df["total_bytes"] == df[[c for c in df.columns if c.endswith("_bytes") and c != "total_bytes"]]
            .sum(axis=1)).all()
    again = paper_geometry_memory(["finetune", "derpp", "stella"], results_dir=tmp_path, preset="smoke", batch_size=4)
    assert again.drop(columns="torch").equals(df.drop(columns="torch"))     # read back from the store
    assert list(paper_memory_view(df).index) == ["Finetune (B=4)", "DER++ (B=4)", "STELLA (selected, B=4)", "STELLA (full, B=4)"]
