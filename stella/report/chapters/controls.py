"""Chapter 04b, "Why STELLA wins or loses here": the controls of the verdict on STELLA.

Two readings of how many tokens STELLA's encoder sees (``selection.mask_of``, ../AMBIGUITIES.md):

* **selected** (the cpu preset): the mask ratio (0.5 at cpu) is applied to the rho-selected patches, so
  STELLA (rho 0.5) trains on half the baselines' visible tokens (8 / 16 audio / video per clip at cpu
  against 16 / 32). Table 2's "STELLA uses less memory than Finetune" needs this reading.
* **full** (the authors' code): the mask ratio is of the full length; the visible tokens are drawn from
  the selection. rho = 0.5 would make visible = selected (no random masking left among the kept
  patches: a degenerate MAE), so the control keeps rho = 0.75: 24 / 48 kept, 16 / 32 visible, the
  baselines' count. Table 1's accuracy would be earned under this reading.

The controls (:data:`ROWS`) are each the method reduced or pushed to a limit: the null control
(STELLA at rho = 1 must be DER++ number for number), the baselines at STELLA's budget
(``continual.visible_budget=stella``), the oracle selection (the ground-truth sounding object and
active audio first, :mod:`stella.selection.oracle`) and its reverse, the RCA diagnosis
(:mod:`stella.eval.diagnosis`) and the benchmark's sparsity (:data:`SPARSITY`, each level its own
pre-training stage). The controls are judged with the claims' statistics but are not claims of the
paper; the paper's Table 1 under the full reading is (:func:`reading_claims`, in chapter 09).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from stella.config import load_config
from stella.continual import METHODS
from stella.data import build_benchmark, sparsity
from stella.eval.diagnosis import memory_queries, rca_frame, rca_summary
from stella.report import paper_numbers as paper
from stella.report.chapter import Setup, Traits, chapter, traits
from stella.report.chapters.efficiency import THROUGHPUT_MARGIN, measure_rounds, paper_ratio
from stella.report.chapters.efficiency_table import memory_column, ratio
from stella.report.chapters.retrieval import paper_values
from stella.report.claims import (BASELINES, ClaimContext, Comparison, family, per_seed, register, retrieval_scale, row,
                                  versus)
from stella.report.runs import cached_frame, gallery_classes, get_run, load_trained, quiet, run_config, seed_table
from stella.report.stats import paired_verdict
from stella.selection.budget import visible_tokens

CHAPTER = "04b_controls"
SELECTED = ("selection.mask_of=selected",)    # the cpu preset's own value: the same runs as chapters 02 and 04
EQUAL = ("selection.rho_a=0.75", "selection.rho_v=0.75", "selection.mask_of=full")
BUDGET = ("continual.visible_budget=stella", *SELECTED)
RHO1 = ("selection.rho_a=1.0", "selection.rho_v=1.0")
FULL_READING = "selection.mask_of: full at rho 0.75, the baselines' visible count"
ROWS = {   # label: (method, overrides)
    "DER++": ("derpp", ()),
    "ER": ("er", ()),
    "STELLA (selected)": ("stella", SELECTED),
    "Random (selected)": ("random", SELECTED),
    "RCA only (selected)": ("rca", SELECTED),
    "Oracle (selected)": ("oracle", SELECTED),
    "Anti-oracle (selected)": ("anti-oracle", SELECTED),
    "STELLA, rho = 1": ("stella", RHO1),
    "STELLA (full)": ("stella", EQUAL),
    "Random (full)": ("random", EQUAL),
    "Oracle (full)": ("oracle", EQUAL),
    "DER++ at STELLA's budget": ("derpp", BUDGET),
    "ER at STELLA's budget": ("er", BUDGET),
}
HEADLINE = ("DER++", "STELLA (full)", "Random (full)")    # more seeds: the preset's headline tier
SMOKE_ROWS = ("DER++", "STELLA (selected)", "Random (selected)", "Oracle (selected)", "STELLA, rho = 1",
              "STELLA (full)", "Random (full)")
PAIRS = {   # (family key, family): [(member key, first, second, sign, what the pair tests)]
    ("equal-tokens", "Selection at the baselines' visible count (full reading)"): [
        ("stella-derpp", "STELLA (full)", "DER++", 1, "STELLA has a higher A than DER++ at equal visible tokens"),
        ("stella-random", "STELLA (full)", "Random (full)", 1,
         "STELLA's selection beats random selection at equal visible tokens"),
        ("oracle-random", "Oracle (full)", "Random (full)", 1,
         "the oracle selection beats random selection at equal visible tokens")],
    ("budget", "The token budget itself"): [
        ("stella-gains", "STELLA (full)", "STELLA (selected)", 1, "STELLA gains from the baselines' visible count"),
        ("derpp-loses", "DER++", "DER++ at STELLA's budget", 1, "DER++ loses at STELLA's visible count"),
        ("er-loses", "ER", "ER at STELLA's budget", 1, "ER loses at STELLA's visible count"),
        ("stella-derpp", "STELLA (selected)", "DER++ at STELLA's budget", 1,
         "STELLA beats DER++ at STELLA's visible count")],
    ("room", "Can any selection pay here (selected reading)"): [
        ("oracle-random", "Oracle (selected)", "Random (selected)", 1, "the oracle selection beats random selection"),
        ("oracle-anti", "Oracle (selected)", "Anti-oracle (selected)", 1, "the oracle selection beats its reverse"),
        ("stella-random", "STELLA (selected)", "Random (selected)", 1, "STELLA's selection beats random selection"),
        ("rca-random", "RCA only (selected)", "Random (selected)", 1, "RCA's exclusions beat random selection")],
}


SPARSITY = {   # level: overrides (each its own pre-training stage; "book" is the book's benchmark)
    "dense": ("data.num_distractors=0", "data.object_scale=1.75", "data.active_fraction=1.0"),
    "book": (),
    "sparse": ("data.num_distractors=6", "data.object_scale=0.75", "data.active_fraction=0.25"),
}
SPARSITY_ROWS = {"STELLA": ("stella", ()), "Random": ("random", ()), "Oracle": ("oracle", ())}


def rows_for(preset: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The controls run at ``preset`` (a quick preset: :data:`SMOKE_ROWS`, enough to draw every table)."""
    quick = traits(preset).quick
    return {k: v for k, v in ROWS.items() if not quick or k in SMOKE_ROWS}


def levels_for(preset: str) -> dict[str, tuple[str, ...]]:
    """The sparsity levels run at ``preset`` (a quick preset: the book's benchmark only)."""
    return {"book": ()} if traits(preset).quick else dict(SPARSITY)


def defaults(preset: str, p: dict, book: Traits) -> tuple[list[int], list[str]]:
    seeds = RECORD.seeds_of("controls", preset, p.pop("n_seeds", None))
    p["headline_seeds"] = RECORD.seeds_of("headline", preset, p.pop("n_headline_seeds", None))
    p["sparsity_seeds"] = RECORD.seeds_of("sparsity", preset, p.pop("n_sparsity_seeds", None))
    return seeds, ["derpp", "stella", "random", "oracle"]


def planned_runs(nb: Setup) -> list[tuple[str, int, tuple[str, ...]]]:
    """(method, seed, overrides) of every run the chapter trains (:mod:`stella.report.plan`)."""
    head, sparse = nb.options["headline_seeds"], nb.options["sparsity_seeds"]
    out = [(m, s, ov) for label, (m, ov) in rows_for(nb.preset).items() for s in (head if label in HEADLINE else nb.seeds)]
    return out + [(m, s, (*lv, *ov)) for lv in levels_for(nb.preset).values()
                  for m, ov in SPARSITY_ROWS.values() for s in sparse]


RECORD = chapter(CHAPTER, defaults, seeds={"controls": "main", "headline": "headline", "sparsity": "sweep"},
                 runs=planned_runs, needs=("ground_truth",))


def _run(nb, row: tuple[str, tuple[str, ...]], seed: int, extra: tuple[str, ...] = ()):
    """The stored run of a control ``row`` (method, overrides) at ``seed`` on the notebook's device,
    trained when missing."""
    method, ov = row
    return get_run(nb.preset, method, seed, [*nb.train_overrides, *extra, *ov], nb.results_dir)


def scores(nb, rows: dict, seeds_of, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per (label, seed, direction): avg-recall A and F; runs the store lacks are trained.
    ``seeds_of(label)`` gives each row's seeds."""
    out = []
    with quiet():
        for label, row in rows.items():
            for s in seeds_of(label):
                rd = _run(nb, row, s, extra)
                out += [{"label": label, "seed": s, "direction": r["direction"], "A": r["A"], "F": r["F"]}
                        for r in rd.load_json("summary") if r["metric"] == "avg"]
    return pd.DataFrame(out)


def control_scores(nb) -> pd.DataFrame:
    """:func:`scores` of every control at the chapter's seeds (the headline rows at more seeds)."""
    head = nb.options["headline_seeds"]
    return scores(nb, rows_for(nb.preset), lambda label: head if label in HEADLINE else nb.seeds)


def budget_table(preset: str) -> pd.DataFrame:
    """Visible and kept audio / video tokens per clip of every control (:func:`visible_tokens`)."""
    rows = []
    for label, (m, ov) in ROWS.items():
        v = visible_tokens(run_config(preset, m, None, ov), METHODS[m].strategy)
        rows.append({"run": label, "kept (audio / video)": f"{v['kept_a']} / {v['kept_v']}",
                     "visible (audio / video)": f"{v['visible_a']} / {v['visible_v']}"})
    return pd.DataFrame(rows)


def mean_table(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(means, stds) over seeds: one row per control, columns "A→V A", "A→V F", "V→A A", "V→A F", "seeds"."""
    g = df.groupby(["label", "direction"], sort=False)[["A", "F"]]
    means, stds = (getattr(g, f)().unstack("direction") for f in ("mean", "std"))
    cols = [f"{d} {v}" for d in paper.DIRECTIONS for v in ("A", "F")]
    flat = lambda t: t.set_axis([f"{d} {v}" for v, d in t.columns], axis=1)[cols]
    order = list(dict.fromkeys(df["label"]))
    means, stds = flat(means).reindex(order), flat(stds).reindex(order)
    means["seeds"] = df.groupby("label")["seed"].nunique().reindex(order).map(str)
    return means.rename_axis("run"), stds.rename_axis("run")


def null_control(nb) -> pd.DataFrame:
    """Per seed: does STELLA at rho = 1 write DER++'s summary.json number for number?"""
    summary = lambda label, s: _run(nb, ROWS[label], s).load_json("summary")
    with quiet():
        return pd.DataFrame([{"seed": s, "identical summary": summary("STELLA, rho = 1", s) == summary("DER++", s)}
                             for s in nb.seeds])


def seed_frame(df: pd.DataFrame, value: str, direction: str) -> pd.DataFrame:
    """seed x control label of ``value`` (A or F) in ``direction``, from :func:`scores`."""
    return df[df["direction"] == direction].pivot_table(index="seed", columns="label", values=value)


def control_comparisons(df: pd.DataFrame) -> list[Comparison]:
    """Each pair of :data:`PAIRS` present in ``df``, on A per direction and on F (A→V), paired over the
    seeds both sides have; + is the side the pair names first (lower F for F). Keys:
    "controls.<family key>.<A|F>.<direction>/<member key>"."""
    out = []
    for (fkey, fam), pairs in PAIRS.items():
        for mkey, a, b, sign, what in pairs:
            for value, d, s in (("A", "A→V", sign), ("A", "V→A", sign), ("F", "A→V", -sign)):
                t = seed_frame(df, value, d)
                if a in t.columns and b in t.columns:
                    t = t[[a, b]].dropna()
                    claim = f"{what} ({value}, {d})" if value == "A" else f"{a} forgets less than {b} (F, {d})"
                    out.append(versus(claim, CHAPTER, fam, t, a, b, s, unit="%p" if value == "A" else "%p of F",
                                      paper="a control", key=f"controls.{fkey}.{value}.{d}/{mkey}"))
    return out


# --------------------------------------------------------------------------- sparsity
def sparsity_levels(preset: str) -> pd.DataFrame:
    """Per level: its overrides and the measured sparsity of the first task's evaluation clips."""
    rows = []
    for level, ov in levels_for(preset).items():
        cfg = load_config(preset, list(ov))
        sp = sparsity(build_benchmark(cfg).tasks[0].eval, cfg.model.patch_size)
        rows.append({"level": level, "settings": ", ".join(ov) or "the book's benchmark",
                     "video patches on the object": sp["video_patches"], "active audio frames": sp["audio_frames"]})
    return pd.DataFrame(rows)


def sparsity_scores(nb) -> pd.DataFrame:
    """:func:`scores` of STELLA, Random and the Oracle at every level, with a ``level`` column."""
    return pd.concat([scores(nb, SPARSITY_ROWS, lambda _: nb.options["sparsity_seeds"], ov).assign(level=level)
                      for level, ov in levels_for(nb.preset).items()], ignore_index=True)


def sparsity_gains(sp: pd.DataFrame) -> pd.DataFrame:
    """Per level, direction and method (STELLA, Oracle): the paired A difference against Random over seeds,
    with its 95 % interval (columns ``level, direction, versus, difference, ci_low, ci_high, n``)."""
    rows = []
    for (level, d), part in sp.groupby(["level", "direction"], sort=False):
        t = part.pivot_table(index="seed", columns="label", values="A")
        for m in ("STELLA", "Oracle"):
            v = paired_verdict(t[m].to_numpy(), t["Random"].to_numpy())
            rows.append({"level": level, "direction": d, "versus": f"{m} − Random", "difference": v["difference"],
                         "ci_low": v["ci_low"], "ci_high": v["ci_high"], "n": len(t)})
    return pd.DataFrame(rows)


def plot_sparsity(gains: pd.DataFrame, levels: pd.DataFrame) -> None:
    x = dict(zip(levels["level"], levels["video patches on the object"]))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, (d, part) in zip(axes, gains.groupby("direction", sort=False)):
        for (name, g), mk in zip(part.groupby("versus", sort=False), "os"):
            xs = g["level"].map(x)
            ax.errorbar(xs, g["difference"], yerr=[g["difference"] - g["ci_low"], g["ci_high"] - g["difference"]],
                        marker=mk, capsize=3, label=name)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xlabel("share of video patches on the sounding object")
        ax.set_title(f"{d}: A gain over random selection", fontsize=9)
    axes[0].set_ylabel("paired difference in A (%p)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    plt.show()


# --------------------------------------------------------------------------- RCA diagnosis
DIAGNOSIS = {"C_sounding": "C: sounding video", "C_other_video": "C: other video", "C_active": "C: active audio",
             "C_silent_audio": "C: silent audio", "kept_sounding_rca": "sounding kept: RCA",
             "kept_sounding_stella": "sounding kept: STELLA", "kept_sounding_random": "sounding kept: random"}


def diagnosis(nb) -> pd.DataFrame:
    """RCA against the ground truth (:func:`stella.eval.diagnosis.rca_summary`) for the STELLA and RCA-only
    runs of the first seed (those of :func:`rows_for`), on the last task's evaluation clips, with no past query and with the run's
    final memory, under both temperatures; cached beside each run."""
    frames = []
    for label in [k for k in ("STELLA (selected)", "RCA only (selected)") if k in rows_for(nb.preset)]:
        with quiet():
            rd = _run(nb, ROWS[label], nb.seeds[0])

        def compute():
            model, avm = load_trained(rd)
            ds = build_benchmark(rd.config).tasks[-1].eval
            frame = rca_frame(model, avm, ds, rd.config, past={"none": None, "memory": memory_queries(rd.path)},
                              seed=nb.seeds[0])
            return rca_summary(frame)

        frames.append(cached_frame(rd, "rca-diagnosis", {"seed": nb.seeds[0], "split": "last eval"}, compute)
                      .assign(run=paper.label(rd.config.continual.method)))
    out = pd.concat(frames, ignore_index=True)
    out["past"] = out["past"].map({"none": "none", "memory": "the run's memory"})
    return out[["run", "past", "temperature", *DIAGNOSIS]].rename(columns=DIAGNOSIS)


# --------------------------------------------------------------------------- the paper's claims, full reading
@register(CHAPTER)
def reading_claims(ctx: ClaimContext) -> list[Comparison]:
    """Table 1's "STELLA outperforms every baseline" (A) and "forgets less" (F), and Table 3's STELLA above
    Random, judged under the full reading (STELLA at the baselines' visible count): the same claims
    chapter 02 and 04 judge under the preset's selected reading."""
    nb = ctx.setup(CHAPTER, seeds=False)
    head = nb.options["headline_seeds"]
    seeds = {b: (head if b == "derpp" else nb.seeds) for b in BASELINES}
    runs = [seed_table(ctx.preset, [b], s, ctx.results_dir, overrides=nb.train_overrides) for b, s in seeds.items()]
    runs.append(seed_table(ctx.preset, ["stella", "random"], head, ctx.results_dir,
                           overrides=[*nb.train_overrides, *EQUAL]))
    runs = pd.concat(runs, ignore_index=True)
    scale = retrieval_scale(gallery_classes(ctx.preset))
    kw = {"chance": scale["chance"], "ceiling": scale["ceiling"], "reading": FULL_READING}
    t3 = paper.table3().set_index("method")
    out = []
    for d in paper.DIRECTIONS:
        a, f = per_seed(runs, "A", d), per_seed(runs, "F", d)
        pa, pf = paper_values("default", d, "A"), paper_values("default", d, "F")
        fam = f"Table 1, full reading: STELLA outperforms every baseline (A, {d})"
        out += [versus(f"STELLA (full reading) has a higher A than {paper.label(b)} ({d})", CHAPTER, fam,
                       a[["stella", b]].dropna(), "stella", b, 1, pa["stella"], pa[b], paper.label, **kw,
                       key=f"table1-full.outperforms.stella.{d}/{b}") for b in BASELINES]
        fam = f"Table 1, full reading: STELLA forgets less than every baseline (F, {d})"
        out += [versus(f"STELLA (full reading) has a lower F than {paper.label(b)} ({d})", CHAPTER, fam,
                       f[["stella", b]].dropna(), "stella", b, -1, pf["stella"], pf[b], paper.label,
                       unit="%p of F", reading=FULL_READING, key=f"table1-full.forgets-less.{d}/{b}") for b in BASELINES]
        out.append(versus(f"STELLA (full reading) has a higher A than Random (full reading) ({d})", CHAPTER,
                          f"Table 3, full reading: STELLA above random selection (A, {d})", a, "stella", "random", 1,
                          t3.at["stella", f"{d} A"], t3.at["random", f"{d} A"], paper.label, **kw,
                          key=f"table3-full.stella-above.{d}/random"))
    return out


# --------------------------------------------------------------------------- sentences from the numbers
def _said(r: pd.Series) -> str:
    if r["ci_low"] != r["ci_low"]:
        return f"{r['difference']:+.2f} %p (one seed: no interval)"
    return f"{r['difference']:+.2f} %p [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}], {r['verdict']}"


def reading_sentence(claims: pd.DataFrame) -> str:
    """How the reading turns "STELLA outperforms every baseline" (Table 1, A): the verdicts of chapter 02's
    family (the preset's selected reading) beside this chapter's (full reading), and STELLA − DER++ (A→V)
    under each; "" when the claims frame lacks either."""
    sel, full = family(claims, "table1.outperforms.stella."), family(claims, "table1-full.outperforms.stella.")
    if sel.empty or full.empty:
        return ""
    count = lambda part: ", ".join(f"{int((part['verdict'] == v).sum())} {v}" for v in
                                   ("holds", "contradicted", "equivalent", "inconclusive") if (part["verdict"] == v).any())
    a, b = row(claims, "table1.outperforms.stella.A→V/derpp"), row(claims, "table1-full.outperforms.stella.A→V/derpp")
    derpp = "" if a is None or b is None else (f" STELLA − DER++ (A→V): {_said(a)} under the first, "
                                               f"{_said(b)} at equal visible tokens.")
    return (f"Whether STELLA outperforms every baseline (Table 1, A) depends on how many tokens it sees: under "
            f"{sel['reading'].iloc[0] or 'the preset'} its {len(sel)} comparisons give {count(sel)}; under "
            f"{full['reading'].iloc[0] or 'the full reading'} (chapter 04b) its {len(full)} give {count(full)}.{derpp}")


def control_sentences(controls: pd.DataFrame, null: pd.DataFrame) -> list[str]:
    """The chapter's summary: the null control, the oracle's room, STELLA at equal budget, the budget's own effect."""
    out = [f"Null control: STELLA at rho = 1 writes DER++'s results number for number in {int(null['identical summary'].sum())} "
           f"of {len(null)} seeds."]
    for key, text in (
            ("controls.room.A.A→V/oracle-random", "Oracle − Random at the preset's budget (A→V)"),
            ("controls.room.A.A→V/oracle-anti", "Oracle − anti-oracle (A→V)"),
            ("controls.equal-tokens.A.A→V/stella-random", "STELLA − Random at equal visible tokens (A→V)"),
            ("controls.equal-tokens.A.A→V/stella-derpp", "STELLA − DER++ at equal visible tokens (A→V)"),
            ("controls.budget.A.A→V/derpp-loses", "DER++ − DER++ at STELLA's visible count (A→V)")):
        r = row(controls, key)
        if r is not None and r["difference"] == r["difference"]:
            power = "" if r["detectable"] != r["detectable"] else f", detectable {r['detectable']:.2f} %p"
            out.append(f"{text}: {_said(r)} (n = {int(r['n_seeds'])}{power}).")
    return out


@register(CHAPTER)
def table2_full_reading_claims(ctx: ClaimContext) -> list[Comparison]:
    """Table 2's memory and throughput claims on STELLA and STELLA+, measured (as chapter 03 measures them,
    5 interleaved rounds at the paper's batch 9) with every method under the full reading; chapter 03
    judges them under the preset's, and counts both readings at the paper's geometry."""
    if not ctx.efficiency:
        return []
    nb = ctx.setup("03_efficiency", seeds=False)
    batch = paper.TABLE2_BATCH["default"]
    batch = batch if batch in nb.options["efficiency_batches"] else nb.options["own_batch"]   # chapter 03's batches
    r = measure_rounds(nb, batch, methods=["finetune", "derpp", "stella", "stella+"], overrides=EQUAL)
    where = f"batch {batch}, full reading"
    kw = {"unit": "ratio", "test": f"paired over {r['round'].nunique()} rounds", "reading": FULL_READING, "margin": None}
    out = []
    for a, b in (("stella", "finetune"), ("stella", "derpp"), ("stella+", "derpp")):
        pr, share = paper_ratio("gpu_mem_gb", a, b), ratio(r, memory_column(r), a, b)
        out.append(Comparison(f"{paper.label(a)}'s training memory / {paper.label(b)}'s is below 1 ({where})", CHAPTER,
                              "Table 2, full reading: STELLA and STELLA+ use less memory", share, 1.0, -1,
                              paper=f"{pr:.2f}", paper_difference=1 - pr, ours_text=f"{share.mean():.3f}",
                              key=f"table2-full.memory/{a}-{b}", **kw))
    pr, share = paper_ratio("throughput", "stella", "derpp"), ratio(r, "throughput", "stella", "derpp")
    out.append(Comparison(f"STELLA's throughput is within ±{THROUGHPUT_MARGIN:.0%} of DER++'s ({where})", CHAPTER,
                          "Table 2, full reading: STELLA's throughput is comparable to DER++'s", share, 1.0, 1,
                          kind="equivalence", paper=f"{pr:.2f}", paper_difference=pr - 1, ours_text=f"{share.mean():.3f}",
                          key="table2-full.throughput-comparable/stella", **{**kw, "margin": THROUGHPUT_MARGIN}))
    pr, share = paper_ratio("throughput", "stella+", "derpp"), ratio(r, "throughput", "stella+", "derpp")
    out.append(Comparison(f"STELLA+'s throughput / DER++'s is above 1 ({where})", CHAPTER,
                          "Table 2, full reading: STELLA+ has a higher throughput than DER++", share, 1.0, 1,
                          paper=f"{pr:.2f}", paper_difference=pr - 1, ours_text=f"{share.mean():.3f}",
                          key="table2-full.throughput-plus/stella+", **kw))
    return out


def selection_room_sentence(controls: pd.DataFrame) -> str:
    """Whether the benchmark rewards selection at all: the oracle against random selection (both readings) and
    against its reverse, read from the judged controls."""
    best = [r for r in (row(controls, "controls.room.A.A→V/oracle-random"),
                        row(controls, "controls.equal-tokens.A.A→V/oracle-random"))
            if r is not None and r["difference"] == r["difference"]]
    worst = row(controls, "controls.room.A.A→V/oracle-anti")
    if not best or worst is None or worst["difference"] != worst["difference"]:
        return ""
    if all(r["verdict"] == "holds" for r in best):
        return "The oracle beats random selection under both readings: the benchmark rewards a better selection."
    return ("The oracle does not beat random selection at these seeds (" + "; ".join(_said(r) for r in best) +
            f"), while it beats the anti-oracle by {worst['difference']:+.2f} %p: on this benchmark a selection is "
            "punished for dropping the sounding object but a better one buys at most a few %p, so STELLA's selection "
            "cannot be shown better than random here.")


def sparsity_sentence(gains: pd.DataFrame, direction: str = "A→V") -> str:
    """STELLA − Random and Oracle − Random (A, ``direction``) per sparsity level, from dense to sparse."""
    part = gains[gains["direction"] == direction]
    if part.empty:
        return ""
    say = lambda who: ", ".join(f"{r.level} {r.difference:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
                                for r in part[part["versus"] == who].itertuples())
    n = int(part["n"].min())
    return (f"From the densest level to the sparsest ({direction}, {n} seeds per level, 95 % intervals): Oracle − Random "
            f"{say('Oracle − Random')}; STELLA − Random {say('STELLA − Random')}.")
