"""Chapter 04b's measurements on its runs beyond A and F: the sparsity levels, RCA against the ground truth, the
overwriting pairs' forgetting and the AVM's localisation against negative audio.

* :func:`sparsity_levels`, :func:`sparsity_scores`: each level of :data:`controls.SPARSITY` (its own pre-training
  stage) measured on the first task's evaluation clips, and STELLA, Random and the Oracle trained at it.
* :func:`diagnosis`, :func:`query_similarity_table`: RCA's C (Eq. 4) over every patch and over the judged ones only
  (:mod:`stella.eval.diagnosis`), the kept shares, and the cosine between pooled queries of different classes.
* :func:`overwriting_forgetting`: per run, the forgetting of the past classes whose visual object a later task
  reuses with a new sound (:mod:`stella.eval.class_forgetting`) beside the other past classes'; compared over
  seeds by :func:`overwriting_comparisons` (STELLA against LPIS only and DER++).
* :func:`localisation`: the AVM map with the clip's sound, silence, noise and another class's sound, beside a
  brightness, a motion and a random map (:mod:`stella.eval.sound_dependence`), for the pre-training stage's AVM
  (unseen classes, bootstrap over clips) and STELLA's final AVM (every task's evaluation clips, paired over seeds:
  :func:`localisation_comparisons`).

Every derived table is kept beside the run (or stage) it measures (:func:`stella.report.runs.cached_frame`).
"""
from __future__ import annotations

import pandas as pd
from torch.utils.data import ConcatDataset

from stella import __version__
from stella.config import load_config
from stella.continual.pretrain import ensure_pretrained, pretrained_models
from stella.data import build_benchmark, sounding_share, sparsity, unseen_tasks
from stella.eval.class_forgetting import class_forgetting, class_recall, forgetting_split, overwritten_classes
from stella.eval.diagnosis import memory_queries, pooled_query_bank, rca_frame, rca_summary, similarity_frame
from stella.eval.retrieval import extract_embeddings
from stella.eval.sound_dependence import sound_dependence_frame, sound_dependence_summary
from stella.report import paper_numbers as paper
from stella.report.chapter import Setup
from stella.report.chapters.controls import CHAPTER, ROWS, SPARSITY_ROWS, levels_for, rows_for, run_of, scores
from stella.report.claims import Comparison, row
from stella.report.display import show
from stella.report.runs import cached_frame, load_trained, quiet, run_config
from stella.report.stats import paired_stats

NEGATIVES = {"avm:silence": "silence", "avm:noise": "noise", "avm:mismatched": "another class's sound",
             "brightness": "brightness map"}     # what "the AVM localises because of the sound" must beat
MAP_NAMES = {"avm:matched": "AVM, the clip's sound", **{k: f"AVM, {v}" for k, v in NEGATIVES.items() if k.startswith("avm")},
             "brightness": "brightness (hears nothing)", "motion": "motion (hears nothing)", "random": "random map"}


# --------------------------------------------------------------------------- sparsity
def sparsity_levels(preset: str) -> pd.DataFrame:
    """Per level: its overrides and the measured sparsity of the first task's evaluation clips: the share of video
    patches showing the sounding object while it sounds, the share on the object in any frame, the active audio."""
    rows = []
    for level, ov in levels_for(preset).items():
        cfg = load_config(preset, list(ov))
        ds, p = build_benchmark(cfg).tasks[0].eval, cfg.model.patch_size
        sp = sparsity(ds, p)
        rows.append({"level": level, "settings": ", ".join(ov) or "the preset's benchmark",
                     "sounding video patches": sounding_share(ds, p), "video patches on the object": sp["video_patches"],
                     "active audio frames": sp["audio_frames"]})
    return pd.DataFrame(rows)


def sparsity_scores(nb: Setup) -> pd.DataFrame:
    """:func:`controls.scores` of STELLA, Random and the Oracle at every level, with a ``level`` column."""
    return pd.concat([scores(nb, SPARSITY_ROWS, lambda _: nb.options["sparsity_seeds"], ov).assign(level=level)
                      for level, ov in levels_for(nb.preset).items()], ignore_index=True)


# --------------------------------------------------------------------------- RCA diagnosis
DIAGNOSIS = {"C_sounding_judged": "C judged: sounding video", "C_other_video_judged": "C judged: other video",
             "C_active_judged": "C judged: active audio", "C_silent_audio_judged": "C judged: silent audio",
             "C_sounding": "C all: sounding video", "C_other_video": "C all: other video",
             "kept_sounding_rca": "sounding kept: RCA", "kept_sounding_stella": "sounding kept: STELLA",
             "kept_sounding_lpis": "sounding kept: LPIS", "kept_sounding_random": "sounding kept: random"}
RCA_RUNS = ("STELLA (selected)", "RCA only (selected)")


def diagnosis(nb: Setup) -> pd.DataFrame:
    """RCA against the ground truth (:func:`stella.eval.diagnosis.rca_summary`) for the STELLA and RCA-only runs of
    the first seed, on the last task's evaluation clips, with no past query and with the run's final memory, under
    both temperatures: C averaged over the judged patches (Eq. 3's kappa) and over every patch, and the share of the
    sounding patches each selection keeps; cached beside each run."""
    frames = []
    for label in [k for k in RCA_RUNS if k in rows_for(nb.preset)]:
        with quiet():
            rd = run_of(nb, ROWS[label], nb.seeds[0])

        def compute():
            model, avm = load_trained(rd)
            ds = build_benchmark(rd.config).tasks[-1].eval
            frame = rca_frame(model, avm, ds, rd.config, past={"none": None, "memory": memory_queries(rd.path)},
                              seed=nb.seeds[0])
            return rca_summary(frame)

        frames.append(cached_frame(rd, "rca-diagnosis-judged", {"seed": nb.seeds[0], "split": "last eval",
                                                                 "version": __version__}, compute)
                      .assign(run=paper.label(rd.config.continual.method)))
    out = pd.concat(frames, ignore_index=True)
    out["past"] = out["past"].map({"none": "none", "memory": "the run's memory"})
    return out[["run", "past", "temperature", *DIAGNOSIS]].rename(columns=DIAGNOSIS)


def diagnosis_tables(diag: pd.DataFrame) -> list:
    """:func:`diagnosis` as the page shows it, two tables on the same rows: C (judged, then every patch), and the
    share of the sounding patches each selection keeps."""
    keys = ["run", "past", "temperature"]
    return [show(diag[keys + [c for c in diag.columns if c.startswith("C ")]], digits=3, caption="Mean C on the "
                 "sounding object's video patches, on the other video patches and on active and silent audio: over "
                 "the judged patches, then over every patch."),
            show(diag[keys + [c for c in diag.columns if c.startswith("sounding kept")]], digits=3, caption="The "
                 "share of the sounding object's video patches each selection keeps, on the same clips.")]


def query_similarity_table(nb: Setup) -> pd.DataFrame:
    """How alike the pooled queries (Eq. 3) of different classes are, for the STELLA run of the first seed: its
    memory's queries (no labels: every pair of items) and the queries of every task's evaluation clips under its
    final weights, split into pairs of one class and of two (:func:`stella.eval.diagnosis.similarity_frame`)."""
    with quiet():
        rd = run_of(nb, ROWS["STELLA (selected)"], nb.seeds[0])

    def compute():
        model, avm = load_trained(rd)
        clips = ConcatDataset([t.eval for t in build_benchmark(rd.config).tasks])
        return similarity_frame({"the run's memory": memory_queries(rd.path),
                                 "every task's evaluation clips": pooled_query_bank(model, avm, clips, rd.config,
                                                                                    labels=True)})

    return cached_frame(rd, "query-similarity", {"seed": nb.seeds[0], "version": __version__}, compute)


# --------------------------------------------------------------------------- overwriting pairs
OVERWRITING = {"STELLA": "STELLA (selected)", "LPIS only": "LPIS only (selected)", "DER++": "DER++"}


def class_forgetting_frame(rd, bench=None) -> pd.DataFrame:
    """:func:`class_forgetting` of a run, every class learned before the last task, with an ``overwritten`` column
    (its visual object reused by a later class); the models after each task are the run's own files. ``bench``: the
    run's benchmark when the caller has built it (runs of one data config share it), else built here."""
    def compute():
        b = bench or build_benchmark(rd.config)
        rows = []
        for t in range(1, rd.last_task() + 1):
            model, _ = load_trained(rd, after_task=t)
            emb = {task.index: extract_embeddings(model, task.eval) for task in b.tasks}
            rows.append(class_recall(emb).assign(after_task=t - 1))
        f = class_forgetting(pd.concat(rows, ignore_index=True))
        return f.assign(overwritten=f["label"].isin(overwritten_classes(b.info.get("reused", {}))))

    return cached_frame(rd, "class-forgetting", {"version": __version__}, compute)


def overwriting_forgetting(nb: Setup) -> pd.DataFrame:
    """One row per method of :data:`OVERWRITING`, seed and direction: mean F of the overwritten past classes and of
    the other past classes (``overwritten``, ``other``)."""
    out, bench = [], build_benchmark(run_config(nb.preset, "stella"))       # the rows share the data config
    with quiet():
        for name, label in OVERWRITING.items():
            if label not in rows_for(nb.preset):
                continue
            for s in nb.seeds:
                f = class_forgetting_frame(run_of(nb, ROWS[label], s), bench)
                split = forgetting_split(f, f.loc[f["overwritten"], "label"].unique().tolist())
                out.append(split.assign(method=name, seed=s))
    return pd.concat(out, ignore_index=True)[["method", "seed", "direction", "overwritten", "other"]]


def overwriting_comparisons(of: pd.DataFrame) -> list[Comparison]:
    """On the overwritten classes' F, per direction, paired over seeds: STELLA forgets less than LPIS only (RCA's
    share) and than DER++; and, for each method, the overwritten classes forget more than the other past classes
    (the scenario bites). Keys "controls.overwriting.<direction>/<member>" and
    "controls.overwriting-bites.<direction>/<method>"."""
    out = []
    for d in paper.DIRECTIONS:
        part = of[of["direction"] == d]
        t = part.pivot_table(index="seed", columns="method", values="overwritten")
        fam = f"RCA's scenario: forgetting of the classes whose object a later task reuses ({d})"
        for other, key in (("LPIS only", "stella-lpis"), ("DER++", "stella-derpp")):
            if {"STELLA", other} <= set(t.columns):
                p = t[["STELLA", other]].dropna()
                out.append(Comparison(f"STELLA forgets the overwritten classes less than {other} (F, {d})", CHAPTER, fam,
                                      p["STELLA"], p[other], -1, paper="Fig. 3, a control", unit="%p of F",
                                      ours_text=f"STELLA {p['STELLA'].mean():.2f} vs {other} {p[other].mean():.2f}",
                                      key=f"controls.overwriting.{d}/{key}"))
        fam = f"The overwriting scenario bites: overwritten past classes forget more than the others ({d})"
        for m, g in part.groupby("method", sort=False):
            g = g.set_index("seed")[["overwritten", "other"]].dropna()
            out.append(Comparison(f"{m}: the overwritten classes forget more than the other past classes (F, {d})",
                                  CHAPTER, fam, g["overwritten"], g["other"], 1, paper="a control", unit="%p of F",
                                  ours_text=f"{g['overwritten'].mean():.2f} vs {g['other'].mean():.2f}",
                                  key=f"controls.overwriting-bites.{d}/{m}"))
    return out


# --------------------------------------------------------------------------- localisation needs the sound
def stage_sound_frame(cfg, results_dir: str) -> pd.DataFrame:
    """:func:`sound_dependence_frame` of ``cfg``'s pre-training stage's AVM on one unseen task's clips (train and
    eval), the classes no run learns; kept in the stage's directory (benchmarks/bench_calibrate.py reads it too)."""
    with quiet():
        where = ensure_pretrained(cfg, results_dir).parent
        model, avm = pretrained_models(cfg, results_dir)
    bench, unseen = unseen_tasks(cfg, 1)
    clips = ConcatDataset([d for t in unseen for d in (t.train, t.eval)])
    params = {"clips": "unseen classes", "n": len(clips), "version": __version__}
    return cached_frame(where, "sound-dependence", params,
                        lambda: sound_dependence_frame(model, avm, clips, cfg, bench.audio_norm))


def stage_localisation(preset: str, results_dir: str) -> pd.DataFrame:
    """:func:`sound_dependence_summary` of the preset's pre-training stage (:func:`stage_sound_frame`)."""
    return sound_dependence_summary(stage_sound_frame(run_config(preset, "finetune"), results_dir))


def final_localisation(nb: Setup) -> pd.DataFrame:
    """Per seed of the chapter, :func:`sound_dependence_summary` of STELLA's AVM after the last task on every task's
    evaluation clips (a ``seed`` column); per-clip frames kept beside each run."""
    out, bench = [], build_benchmark(run_config(nb.preset, "stella"))
    clips = ConcatDataset([t.eval for t in bench.tasks])
    for s in nb.seeds:
        with quiet():
            rd = run_of(nb, ROWS["STELLA (selected)"], s)

        def compute():
            model, avm = load_trained(rd)
            return sound_dependence_frame(model, avm, clips, rd.config, bench.audio_norm, seed=s)

        frame = cached_frame(rd, "sound-dependence", {"clips": "every task's evaluation clips", "version": __version__},
                             compute)
        out.append(sound_dependence_summary(frame, seed=s).assign(seed=s))
    return pd.concat(out, ignore_index=True)


def localisation_table(stage: pd.DataFrame, final: pd.DataFrame) -> pd.DataFrame:
    """One row per map: the stage's AUC, pointing and matched − map in AUC (bootstrap over clips), and STELLA's final
    AVM's AUC (mean over seeds) and matched − map (paired t-interval over seeds)."""
    rows = []
    for name in MAP_NAMES:
        st = stage[stage["map"] == name]
        fi = final[final["map"] == name]
        r = {"map": MAP_NAMES[name]}
        if len(st):
            s = st.iloc[0]
            r.update({"stage AUC": s["AUC"], "stage pointing": s["pointing"],
                      "stage: matched − map": "" if name == "avm:matched" else
                      f"{s['d_auc']:+.3f} [{s['d_auc_low']:+.3f}, {s['d_auc_high']:+.3f}]"})
        if len(fi):
            r["STELLA AUC"] = fi["AUC"].mean()
            if name != "avm:matched":
                p = paired_stats(fi["d_auc"].to_numpy())
                r["STELLA: matched − map"] = (f"{p['difference']:+.3f}" + ("" if p["ci_low"] != p["ci_low"] else
                                              f" [{p['ci_low']:+.3f}, {p['ci_high']:+.3f}]"))
        rows.append(r)
    return pd.DataFrame(rows)


def localisation_comparisons(final: pd.DataFrame) -> list[Comparison]:
    """"The AVM localises the sounding object because of the sound", judged only as the matched map beating every
    negative (:data:`NEGATIVES`) in AUC, paired over seeds (STELLA's final AVM). Keys
    "controls.sound-dependence/<map>"."""
    t = final.pivot_table(index="seed", columns="map", values="AUC")
    fam = "The AVM localises the sounding object because of the sound (STELLA's final AVM, AUC)"
    return [Comparison(f"the AVM map with the clip's sound beats the {what} (AUC)", CHAPTER, fam, t["avm:matched"], t[m],
                       1, paper="Fig. 4 / 7, a control", unit="AUC", margin=None,
                       ours_text=f"{t['avm:matched'].mean():.3f} vs {t[m].mean():.3f}",
                       key=f"controls.sound-dependence/{m.replace('avm:', '')}")
            for m, what in NEGATIVES.items() if m in t.columns and "avm:matched" in t.columns]


def _said(r) -> str:
    if r is None or r["difference"] != r["difference"]:
        return "not measured"
    ci = "" if r["ci_low"] != r["ci_low"] else f" [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"
    return f"{r['difference']:+.2f}{ci}, {r['verdict']}"


def overwriting_sentence(judged: pd.DataFrame, direction: str = "A→V") -> str:
    """RCA's own scenario in one sentence, from :func:`overwriting_comparisons` judged."""
    get = lambda k: row(judged, f"controls.overwriting.{direction}/{k}")   # noqa: E731
    bites = row(judged, f"controls.overwriting-bites.{direction}/DER++")
    if get("stella-lpis") is None and get("stella-derpp") is None:
        return ""
    n = int((get("stella-lpis") if get("stella-lpis") is not None else get("stella-derpp"))["n_seeds"])
    return (f"RCA's own scenario (Fig. 3), the forgetting of the past classes whose visual object a later task reuses "
            f"with a new sound ({direction}, {n} seed{'s' if n != 1 else ''}, %p of F, + = STELLA forgets less): against LPIS only "
            f"{_said(get('stella-lpis'))}; against DER++ {_said(get('stella-derpp'))}. Whether the scenario bites at "
            f"all (DER++'s overwritten classes forget more than its other past classes): {_said(bites)}.")


def localisation_sentence(stage: pd.DataFrame, judged: pd.DataFrame) -> str:
    """Whether "the AVM localises the sounding object" holds, judged only as the matched map beating negative audio
    and the visual-only map: the stage's AVM (bootstrap over clips) and STELLA's final AVM (over seeds)."""
    s = stage.set_index("map")
    part = []
    if set(NEGATIVES) <= set(s.index):
        beats = [k for k in NEGATIVES if s.at[k, "d_auc_low"] > 0]
        part.append("the pre-training stage's AVM beats " + (", ".join(NEGATIVES[k] for k in beats) or "none of them") +
                    f" (AUC with the clip's sound {s.at['avm:matched', 'AUC']:.3f}; brightness map "
                    f"{s.at['brightness', 'AUC']:.3f})")
    fam = judged[judged["key"].str.startswith("controls.sound-dependence/")]
    if len(fam):
        held = fam[fam["verdict"] == "holds"]["key"].str.split("/").str[1].tolist()
        n = int(fam["n_seeds"].min())
        part.append(f"STELLA's final AVM ({n} seed{'s' if n != 1 else ''}) beats " +
                    (", ".join(held) if held else "none of them"))
    if not part:
        return ""
    ok = len(fam) and (fam["verdict"] == "holds").all()
    return ("Does the AVM localise the sounding object because of the sound (matched audio against silence, noise, "
            "another class's sound and a brightness map, intervals above 0)? " + "; ".join(part) + ". So the claim "
            + ("holds for STELLA's final AVM." if ok else "does not hold here: with the clip's own sound the map does no "
               "better than with negative audio or than a map that hears nothing."))
