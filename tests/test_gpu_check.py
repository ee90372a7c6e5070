"""benchmarks/paper_gpu.sh's Table 2 for chapter 03: read with its device and date, or nothing to show."""
import json

import pytest

from stella.report.gpu_check import gpu_table2

TABLE2 = """== 2. Table 2 at batch 9 (STELLA++ 1.66x), one method at a time (10:00:00)
preset paper data.dataset=synthetic data.manifest= pretrain.source=none continual.batch_size=9, device cuda, 6 timed steps per method (median), one method at a time
  method  batch_size  throughput   peak_mb  saved_mb  extra_mb  memory_items  rehearsal_mb  cuda_peak_mb
finetune           9   31.500000  9000.00   6000.00      0.00             0          0.00      10500.00
   derpp           9   18.250000 14000.00  11000.00      0.00          2000       5600.00      16800.00
  stella           9   17.750000  9500.00   6200.00      0.00          2000       5700.00      11000.00
STELLA / DER++ memory 0.679 (paper 0.564), throughput 0.973 (paper 0.972)
preset paper data.dataset=synthetic data.manifest= pretrain.source=none continual.batch_size=9 selection.mask_of=selected, device cuda, 6 timed steps per method (median), one method at a time
  method  batch_size  throughput  peak_mb  saved_mb  extra_mb  memory_items  rehearsal_mb  cuda_peak_mb
  stella           9   19.000000 7000.00   3900.00      0.00          2000       5700.00       8100.00
"""
RUN = {"script": "benchmarks/paper_gpu.sh", "started": "2026-12-01T10:00:00Z", "preset": "paper", "device": "cuda",
       "gpu": "NVIDIA H100 80GB HBM3", "torch": "2.14.1+cu130", "cuda": "13.0", "steps": 6, "batch": 9,
       "status": {"backbone": 0, "table2": 0, "table2_selected": 0, "train": 0}}


def _write(d, run=RUN, table2=TABLE2):
    d.mkdir(exist_ok=True)
    (d / "run.json").write_text(json.dumps(run))
    (d / "table2.txt").write_text(table2)
    return d


def test_both_readings_with_the_device_and_date(tmp_path):
    df = gpu_table2(_write(tmp_path / "gpu-check"))
    assert list(df["method"]) == ["finetune", "derpp", "stella", "stella"]
    assert list(df["reading"]) == ["-", "-", "full", "selected"]          # the paper preset reads mask_of: full
    assert df["cuda_peak_mb"].tolist() == [10500.0, 16800.0, 11000.0, 8100.0]
    assert set(df["device"]) == {"NVIDIA H100 80GB HBM3"} and set(df["date"]) == {"2026-12-01T10:00:00Z"}
    assert df["throughput"].iloc[1] == pytest.approx(18.25)


def test_nothing_to_show(tmp_path):
    assert gpu_table2(tmp_path / "absent") is None
    cpu = _write(tmp_path / "cpu", {**RUN, "device": "cpu", "gpu": None})
    assert gpu_table2(cpu) is None                                        # a CPU run is not a GPU's figures
    assert gpu_table2(cpu, require_gpu=False)["device"].eq("cpu").all()
    assert gpu_table2(_write(tmp_path / "cut", {**RUN, "status": {**RUN["status"], "table2": 124}})) is None
    assert gpu_table2(_write(tmp_path / "empty", table2="== 2. Table 2\nTraceback ...\n")) is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text("{")
    (tmp_path / "bad" / "table2.txt").write_text(TABLE2)
    with pytest.raises(ValueError, match=r"bad/run\.json: not the JSON"):
        gpu_table2(tmp_path / "bad")
