"""stella.report.signal_tables: chapter 01's pre-training table, the kept-share / AUC / audio-attention
tables of chapters 01 and 07 with their intervals, and the sentences computed from them."""
import math

import numpy as np
import pandas as pd

from stella.config import load_config
from stella.report import signal_tables as S
from stella.report.runs import cached_frame


def _clips(n: int, rng: np.random.Generator, sounding: float, model: str = "pre-trained start", seed: int = 0,
           attention_sounding: float = 0.6) -> pd.DataFrame:
    """A per-clip frame with the columns of stella.eval.signal.signal_frame; STELLA keeps ``sounding`` of
    the sounding object's patches, a random half 0.5 (plus noise)."""
    noise = lambda: rng.normal(0, 0.02, n)
    f = {"label": np.arange(n), "object_patches": np.full(n, 0.25), "active_tokens": np.full(n, 0.375)}
    for name, v in (("stella", sounding), ("topk", sounding), ("random", 0.5)):
        f[f"kept_sounding_{name}"] = v + noise()
        f[f"kept_sounding_area_{name}"] = v + noise()
        f[f"kept_object_{name}"] = 0.5 + noise()
        f[f"kept_active_{name}"] = (0.6 if name != "random" else 0.5) + noise()
    f["audio_attention_active"] = 0.39 + noise()
    for name in ("stella", "topk", "random"):
        f[f"kept_sounding_majority_{name}"] = f[f"kept_sounding_{name}"] + noise()
    f["audio_attention_active_sounding_queries"] = attention_sounding + noise()
    for rule in ("", "_median"):
        for gt in ("object", "sounding"):
            f[f"iou_avm_{gt}{rule}"] = np.clip(0.4 + noise(), 0, 1)
            f[f"iou_random_{gt}{rule}"] = np.clip(0.05 + noise(), 0, 1)
    return pd.DataFrame(f).assign(clips="unseen classes", model=model, seed=seed)


def test_selection_map_and_audio_tables_one_model_and_several_seeds():
    rng = np.random.default_rng(0)
    sig = pd.concat([_clips(40, rng, 0.8)] + [_clips(40, rng, 0.7 + 0.01 * s, "STELLA", s) for s in range(3)])
    sel = S.selection_table(sig, "unseen classes")
    assert sel["model"].tolist() == ["pre-trained start", "STELLA", "pre-trained start, top-κ rule",
                                     "a random selection (chance)", "target"]
    assert sel.iloc[0]["±"] == "95 % CI over 40 clips" and sel.iloc[1]["±"] == "std over 3 seeds"
    start = sel.iloc[0][S.KEPT["kept_sounding"]]
    assert abs(float(start.split(" ± ")[0]) - 80.0) < 1.0 and float(start.split(" ± ")[1]) < 1.0
    stella = sel.iloc[1][S.KEPT["kept_sounding"]]             # mean of 70, 71, 72 (+ noise) ± their std
    assert abs(float(stella.split(" ± ")[0]) - 71.0) < 1.0 and abs(float(stella.split(" ± ")[1]) - 1.0) < 0.5
    assert sel.iloc[-1][S.KEPT["kept_sounding"]] == "≥ 75" and sel.iloc[-1][S.KEPT["kept_object"]] == ""
    maps = S.map_table(sig, "unseen classes")
    assert maps["model"].tolist()[-2:] == ["a random map (chance)", "target"]
    assert float(maps.iloc[0].iloc[1].split(" ± ")[0]) > 0.3
    audio = S.audio_attention_table(sig, "unseen classes")
    assert audio.iloc[0]["chance: active patches' share"].startswith("37.5")


def test_signal_sentences_follow_the_numbers():
    rng = np.random.default_rng(1)
    good = S.signal_sentences(_clips(60, rng, 0.8), "pre-trained start", "unseen classes")
    text = " ".join(good)
    assert "above chance" in text and "target 75 %: reached" in text and "points at the object while it sounds" in text
    assert "has learned when the sound is on" in text and "dilution" in text   # sounding queries 60 %, all 39 %, chance 37.5 %
    flat = S.signal_sentences(_clips(60, rng, 0.5, attention_sounding=0.375), "pre-trained start", "unseen classes")
    text = " ".join(flat)
    assert "not distinguishable from chance" in text and "missed" in text and "points at" not in text
    assert "has not (measurably) learned when the sound is on" in text
    # the reading follows the interval, not the distance: 39 % against a chance of 37.5 % over 60 clips is above it
    near = " ".join(S.signal_sentences(_clips(60, rng, 0.5, attention_sounding=0.39), "pre-trained start", "unseen classes"))
    assert "has learned when the sound is on" in near
    below = S.signal_sentences(_clips(60, rng, 0.5, attention_sounding=0.30), "pre-trained start", "unseen classes")
    assert "points away from the sound" in below[-1]
    no_audio = _clips(20, rng, 0.8).assign(active_tokens=0.75)
    assert "not measured" in S.signal_sentences(no_audio, "pre-trained start", "unseen classes")[-1]


def test_pretrain_table_and_note():
    cfg = load_config("cpu")
    summary = {"clips": 768, "seconds": 294.0, "weights_bytes": 3 * 2**20, "joint_rec_a": 0.4, "joint_rec_v": 0.5,
               "joint_contrastive": 1.41, "avm_avm": 0.22, "avm_avm_acc": 0.93}
    t = S.pretrain_table(summary, cfg).set_index("quantity")
    assert t.loc["contrastive loss (Eq. 9)", "chance level"].startswith(f"{math.log(cfg.pretrain.batch_size):.3f}")
    assert t.loc["AVM matching accuracy (%)", "reached"] == "93.0"
    assert "checkpoint" in S.stage_note(load_config("paper"))
    assert S.pretrain_stage(load_config("paper"), "unused") is None


def test_cached_frame_in_a_directory(tmp_path):
    calls = []
    compute = lambda: calls.append(1) or pd.DataFrame({"a": [1.0, float("nan")]})
    first = cached_frame(tmp_path, "signal", {"k": 1}, compute)
    again = cached_frame(tmp_path, "signal", {"k": 1}, compute)
    assert len(calls) == 1 and first.equals(again) and len(list(tmp_path.glob("signal-*.json"))) == 1
    cached_frame(tmp_path, "signal", {"k": 2}, compute)
    assert len(calls) == 2


def test_pretrained_signal_at_smoke_is_kept_with_the_stage(tmp_path, one_thread):
    from stella.report.runs import run_config

    cfg = run_config("smoke", "stella")
    log, summary = S.pretrain_stage(cfg, tmp_path)
    assert len(log) == cfg.pretrain.steps + cfg.pretrain.avm_steps and summary["clips"] == 8
    clips = S.clip_sets(cfg, continual=False)
    sig = S.pretrained_signal(cfg, tmp_path, clips)
    assert set(sig["clips"]) == {"unseen classes"} and len(sig) == len(clips["unseen classes"])
    assert len(list((tmp_path / "pretrain").glob("*/signal-*.json"))) == 1
    pd.testing.assert_frame_equal(sig, S.pretrained_signal(cfg, tmp_path, clips), check_dtype=False)
