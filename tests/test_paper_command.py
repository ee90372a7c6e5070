"""``stella paper`` end to end on the CPU: real mp4 clips written with PyAV, a CAV-MAE-layout checkpoint at the
smoke geometry; the dry run prints the plan and trains nothing, two shard processes on one store train every
run of the plan once, then the command without a shard trains nothing and executes the chapter's page."""
import json
import os
import re
import shlex
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from stella.builder.paper import Shard, real_data_skips, run_paper, train_command
from stella.config import load_config
from stella.report.plan import book_runs
from test_convert_cavmae import cavmae_state

REPO = Path(__file__).resolve().parent.parent
LABELS = {"playing badminton": 6, "playing table tennis": 6, "playing accordion": 6, "playing acoustic guitar": 6,
          "hammering nails": 6, "chopping wood": 6, "not a vggsound class": 4}   # sports, music, others_part1, outside
MICRO = dict(dim=32, dec=32, p=8, mel=16, frames=32, image=16, depth=1, shared=1, dec_depth=1)   # the smoke geometry


def write_clip(path: Path, seed: int, seconds: float = 0.6, fps: int = 10, size: int = 24, sr: int = 16000) -> None:
    """h264 video (a noise image drifting sideways) + aac mono audio (a sine), written with PyAV."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width = vs.height = size
        vs.pix_fmt = "yuv420p"
        ast = c.add_stream("aac", rate=sr)
        ast.layout = "mono"
        base = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        for i in range(int(seconds * fps)):
            for p in vs.encode(av.VideoFrame.from_ndarray(np.roll(base, i, axis=1), format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        wave = (0.5 * np.sin(2 * np.pi * (200 + 40 * seed) * np.arange(int(seconds * sr)) / sr)).astype(np.float32)
        for k in range(0, wave.size, 1024):
            f = av.AudioFrame.from_ndarray(wave[None, k:k + 1024], format="fltp", layout="mono")
            f.sample_rate, f.pts, f.time_base = sr, k, Fraction(1, sr)
            for p in ast.encode(f):
                c.mux(p)
        for p in ast.encode():
            c.mux(p)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    rows = []
    for i, (label, n) in enumerate(LABELS.items()):
        for k in range(n):
            write_clip(root / f"c{i}_{k}.mp4", 10 * i + k)
            rows.append({"video_id": f"c{i}_{k}", "video_path": f"c{i}_{k}.mp4", "labels": label})
    (root / "train.json").write_text(json.dumps({"data": rows}))
    torch.save(cavmae_state(seed=4, **MICRO), root / "audio_model.21.pth")
    return root / "train.json", root / "audio_model.21.pth"


def test_shards_split_the_plan_and_commands_name_the_runs_keys():
    plan = book_runs("smoke")
    parts = [Shard.parse(f"{i}/3").rows(plan) for i in (1, 2, 3)]
    assert sorted(k for p in parts for k in p["key"]) == sorted(plan["key"])
    assert [len(p) for p in parts] == [len(range(i, len(plan), 3)) for i in range(3)]     # positions k mod 3
    for bad in ("0/2", "3/2", "two", "1/2/3"):
        with pytest.raises(ValueError, match="--shard"):
            Shard.parse(bad)
    from stella.cli import build_parser
    from stella.continual import resolve_method_config

    for row in plan.iloc[[0, 12, 25]].itertuples():
        a = build_parser().parse_args(shlex.split(train_command("smoke", row, Path("results")))[1:])
        cfg = load_config(a.preset, [f"continual.method={a.method}", *a.set, f"run.seed={a.seed}"])
        assert resolve_method_config(cfg).digest() == row.key


def test_real_clips_leave_out_the_ground_truth_and_generator_runs():
    import pandas as pd

    rows = [("stella", ""), ("oracle", "selection.mask_of=selected"), ("anti-oracle", ""),
            ("random", "data.num_distractors=0, data.object_scale=1.75"), ("derpp", "continual.memory_size=4")]
    plan = pd.DataFrame([{"chapter": "c", "method": m, "seed": 1, "overrides": o, "key": str(i)}
                         for i, (m, o) in enumerate(rows)])
    kept, out = real_data_skips(plan, load_config("smoke", ["data.dataset=manifest", "data.manifest=m.json"]))
    assert list(kept["method"]) == ["stella", "derpp"]
    assert dict(zip(out["method"], out["reason"])) == {
        "oracle": "selects by the synthetic benchmark's ground truth",
        "anti-oracle": "selects by the synthetic benchmark's ground truth",
        "random": "varies the synthetic benchmark's generator"}
    assert len(real_data_skips(plan, load_config("smoke"))[0]) == len(plan)      # the synthetic benchmark keeps all


def test_estimate_counts_clips_steps_and_flops(inputs):
    from stella.builder.estimate import count_flops, measure_seconds, run_steps, task_clips
    from stella.report.runs import run_config

    manifest, _ = inputs
    sets = ["data.dataset=manifest", f"data.manifest={manifest}"]
    clips = task_clips(run_config("smoke", "finetune", overrides=sets))
    assert clips == [("sports", 8, 4), ("music", 8, 4)]       # 2 classes of 6 clips: 2 for evaluation, 4 to train
    steps = {m: run_steps(run_config("smoke", m, overrides=sets), clips) for m in ("finetune", "multitask", "stella++")}
    assert steps == {"finetune": 4, "multitask": 4, "stella++": 2}   # batch 4; one joint task of 16; batch 7
    flops = {m: count_flops(load_config("smoke", [f"continual.method={m}"])) for m in ("finetune", "er")}
    assert flops["er"]["train"] == pytest.approx(2 * flops["finetune"]["train"], rel=0.05)   # the replayed batch
    assert flops["er"]["embed"] == flops["finetune"]["embed"] > 0
    assert measure_seconds(load_config("smoke", ["continual.method=er"]), torch.device("cpu"), steps=1) > 0


def _store(results: Path) -> dict[str, float]:
    return {str(p.relative_to(results)): p.stat().st_mtime for p in results.glob("**/COMPLETE")}


@pytest.mark.slow
def test_paper_command_from_manifest_and_checkpoint_to_a_page(inputs, tmp_path):
    manifest, checkpoint = inputs
    results = tmp_path / "results"
    args = dict(preset="smoke", manifest=str(manifest), checkpoint=str(checkpoint), results=str(results), avm_epochs=2)
    lines: list[str] = []
    assert run_paper(**args, dry_run=True, write=lambda s: lines.append(str(s))) is None
    text = "\n".join(lines)
    preset = re.search(r"== 4\. the plan at (\S+): (\d+) runs, (\d+) to train", text)
    kept, _ = real_data_skips(book_runs(preset.group(1)), load_config(preset.group(1)))
    assert int(preset.group(2)) == int(preset.group(3)) == len(kept)
    assert "sports 12, music 12" in text and "to compute (2 AVM epoch(s) on up to 4 clips" in text
    assert f"all: {len(kept)} runs" in text and "oracle" not in set(book_runs(preset.group(1))["method"])   # 04b left out
    assert not list(results.glob("*/COMPLETE")) and not (results / "pretrain").exists()       # the dry run trains nothing

    cmd = [sys.executable, "-m", "stella.cli", "paper", "--preset", "smoke", "--manifest", str(manifest),
           "--checkpoint", str(checkpoint), "--results", str(results), "--avm-epochs", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = [subprocess.Popen([*cmd, "--shard", f"{i}/2"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for i in (1, 2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    trained = [set(re.findall(r"^  trained ([0-9a-f]{16})$", o, re.M)) for o in outs]
    assert not trained[0] & trained[1] and trained[0] | trained[1] == set(kept["key"])    # every run once
    assert [trained[i - 1] == set(Shard(i, 2).rows(kept)["key"]) for i in (1, 2)] == [True, True]   # its own part
    assert sorted(o.count("converted start computed") for o in outs) == [0, 1]            # the stage once too
    assert all((results / k / "COMPLETE").exists() for k in kept["key"])

    before = _store(results)
    lines.clear()
    page = run_paper(**args, only=["02_retrieval"], stage=str(tmp_path / "stage"), write=lambda s: lines.append(str(s)))
    assert "== 6. trained 0 run(s) here" in lines and _store(results) == before           # trains nothing
    nb = json.loads((page / "02_retrieval.ipynb").read_text())
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    html = "".join("".join(v) for c in nb["cells"] for o in c.get("outputs", []) for k, v in o.get("data", {}).items()
                   if k.endswith("text/html"))
    assert not errors and "STELLA" in html and "DER++" in html
