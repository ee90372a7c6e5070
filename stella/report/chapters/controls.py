"""Chapter 04b, "Why STELLA wins or loses here": the controls of the verdict on STELLA.

Two readings of how many tokens STELLA's encoder sees (``selection.mask_of``, ../AMBIGUITIES.md):

* **selected** (the cpu preset): the mask ratio (0.5 at cpu) is applied to the rho-selected patches, so
  STELLA (rho 0.5) trains on half the baselines' visible tokens (8 / 16 audio / video per clip at cpu
  against 16 / 32). Table 2's "STELLA uses less memory than Finetune" needs this reading.
* **full** (the authors' code): the mask ratio is of the full length; the visible tokens are drawn from
  the selection. rho = 0.5 would make visible = selected (no random masking left among the kept
  patches: a degenerate MAE), so the control keeps rho = 0.75: 24 / 48 kept, 16 / 32 visible, the
  baselines' count. Table 1's accuracy would be earned under this reading.

The controls (:data:`ROWS`), each the method reduced or pushed to a limit, with one thing changed:

* the room for selection: Random takes Algorithm 1's audio chunks as STELLA and the oracle do (``random``;
  ``random-patches`` is the all-M-patches audio of the book's first Random, the paper does not say which);
  the oracle (the ground-truth sounding object and active audio first, :mod:`stella.selection.oracle`) and its
  reverse, jointly and per modality (``oracle-video``: ground truth for the video, Random's chunks for the audio;
  ``oracle-audio`` the other way round);
* the selection efficiency E = (X − Random) / (Oracle − Random) of STELLA, LPIS only and RCA only under both
  readings (:mod:`stella.report.chapters.controls_efficiency`, with the sparsity curve);
* the null control (STELLA at rho = 1 must be DER++ number for number) and DER++ at STELLA's budget
  (``continual.visible_budget=stella``);
* RCA's mechanism, its overwriting scenario and the AVM's localisation against negative audio
  (:mod:`stella.report.chapters.controls_mechanism`).

Seeds: the rows E needs (:data:`E_ROWS`) at the main tier; the controls whose effects are large
(:data:`FEW_SEEDS`: the anti-oracles, the per-modality oracles, random-patches, the null control, DER++ at
STELLA's budget) at the sweep tier, the page's power column saying what they resolve; the sparsity levels at the
sweep tier too, where the power computation says more seeds would not resolve them either (the page says how many
would: :func:`controls_efficiency.sparsity_sentence`). The controls are
judged with the claims' statistics but are not claims of the paper; the paper's Table 1 under the full reading
is (:func:`reading_claims`, in chapter 09).
"""
from __future__ import annotations

import pandas as pd

from stella.continual import METHODS
from stella.data.synthetic import TODAY_OVERRIDES
from stella.report import paper_numbers as paper
from stella.report.chapter import Setup, Traits, chapter, setup, traits
from stella.report.chapters.controls_efficiency import efficiency_table, efficiency_text
from stella.report.chapters.efficiency import THROUGHPUT_MARGIN, measure_rounds, paper_ratio
from stella.report.chapters.efficiency_table import memory_column, ratio
from stella.report.chapters.retrieval import paper_values
from stella.report.claims import (
    BASELINES,
    ClaimContext,
    Comparison,
    family,
    per_seed,
    register,
    retrieval_scale,
    row,
    versus,
)
from stella.report.runs import gallery_classes, get_run, quiet, run_config, seed_table
from stella.selection.budget import visible_tokens

CHAPTER = "04b_controls"
SELECTED = ("selection.mask_of=selected",)    # the cpu preset's own value: the same runs as chapters 02 and 04
EQUAL = ("selection.rho_a=0.75", "selection.rho_v=0.75", "selection.mask_of=full")
BUDGET = ("continual.visible_budget=stella", *SELECTED)
RHO1 = ("selection.rho_a=1.0", "selection.rho_v=1.0")
READINGS = {"selected": SELECTED, "full": EQUAL}
FULL_READING = "selection.mask_of: full at rho 0.75, the baselines' visible count"
SELECTORS = {"STELLA": "stella", "LPIS only": "lpis", "RCA only": "rca"}     # E is measured for these
GATE = 10.0     # %p: the calibration's gate on Oracle − Random (benchmarks/bench_calibrate.py's GATE, issue 30 item 3)
REFERENCES = {"Random": "random", "Oracle": "oracle"}


def label_of(name: str, reading: str) -> str:
    """"STELLA (full)": the row of selection ``name`` under ``reading``."""
    return f"{name} ({reading})"


E_ROWS = {"DER++": ("derpp", ()), **{label_of(n, r): (m, ov) for r, ov in READINGS.items()
                                     for n, m in {**SELECTORS, **REFERENCES}.items()}}
FEW_SEEDS = {   # large effects, sweep tier
    "Random, all patches (selected)": ("random-patches", SELECTED),
    "Anti-oracle (selected)": ("anti-oracle", SELECTED),
    "Oracle, video (selected)": ("oracle-video", SELECTED),
    "Anti-oracle, video (selected)": ("anti-oracle-video", SELECTED),
    "Oracle, audio (selected)": ("oracle-audio", SELECTED),
    "Anti-oracle, audio (selected)": ("anti-oracle-audio", SELECTED),
    "STELLA, rho = 1": ("stella", RHO1),
    "DER++ at STELLA's budget": ("derpp", BUDGET),
}
ROWS = {**E_ROWS, **FEW_SEEDS}   # label: (method, overrides)
SMOKE_ROWS = ("DER++", *(label_of(n, "selected") for n in (*SELECTORS, *REFERENCES)),
              *(label_of(n, "full") for n in ("STELLA", *REFERENCES)), "STELLA, rho = 1")
PAIRS = {   # (family key, family): [(member key, first, second, sign, what the pair tests)]
    ("room", "What the ground truth buys (selected reading)"): [
        ("oracle-random", "Oracle (selected)", "Random (selected)", 1, "the oracle selection beats random selection"),
        ("oracle-anti", "Oracle (selected)", "Anti-oracle (selected)", 1, "the oracle selection beats its reverse"),
        ("video-oracle-random", "Oracle, video (selected)", "Random (selected)", 1,
         "the video oracle (random audio chunks) beats random selection"),
        ("audio-oracle-random", "Oracle, audio (selected)", "Random (selected)", 1,
         "the audio oracle (random video patches) beats random selection"),
        ("video-oracle-anti", "Oracle, video (selected)", "Anti-oracle, video (selected)", 1,
         "the video oracle beats its reverse"),
        ("audio-oracle-anti", "Oracle, audio (selected)", "Anti-oracle, audio (selected)", 1,
         "the audio oracle beats its reverse")],
    ("chunks", "Random selection with or without Algorithm 1's audio chunks"): [
        ("random-chunks", "Random (selected)", "Random, all patches (selected)", 1,
         "random selection in Algorithm 1's audio chunks differs from random audio patches")],
    ("selection", "Selection against random selection (selected reading)"): [
        ("stella-random", "STELLA (selected)", "Random (selected)", 1, "STELLA's selection beats random selection"),
        ("lpis-random", "LPIS only (selected)", "Random (selected)", 1, "LPIS alone beats random selection"),
        ("rca-random", "RCA only (selected)", "Random (selected)", 1, "RCA's exclusions beat random selection")],
    ("equal-tokens", "Selection at the baselines' visible count (full reading)"): [
        ("stella-derpp", "STELLA (full)", "DER++", 1, "STELLA has a higher A than DER++ at equal visible tokens"),
        ("stella-random", "STELLA (full)", "Random (full)", 1,
         "STELLA's selection beats random selection at equal visible tokens"),
        ("lpis-random", "LPIS only (full)", "Random (full)", 1, "LPIS alone beats random selection at equal visible tokens"),
        ("rca-random", "RCA only (full)", "Random (full)", 1, "RCA's exclusions beat random selection at equal visible tokens"),
        ("oracle-random", "Oracle (full)", "Random (full)", 1,
         "the oracle selection beats random selection at equal visible tokens")],
    ("budget", "The token budget itself"): [
        ("stella-gains", "STELLA (full)", "STELLA (selected)", 1, "STELLA gains from the baselines' visible count"),
        ("derpp-loses", "DER++", "DER++ at STELLA's budget", 1, "DER++ loses at STELLA's visible count"),
        ("stella-derpp", "STELLA (selected)", "DER++ at STELLA's budget", 1,
         "STELLA beats DER++ at STELLA's visible count")],
}
SPARSITY = {   # level: overrides on the preset (each its own pre-training stage; "default" is the book's benchmark)
    "today": TODAY_OVERRIDES,                    # the benchmark as first built: the class sounds in 1-2 of 4 segments
    "default": (),                               # the calibrated default (cpu: one of 4 segments)
    "smaller object": ("data.object_scale=0.5",),   # one beyond: the sounding object's radius halved
}
SPARSITY_ROWS = {"STELLA": ("stella", ()), "Random": ("random", ()), "Oracle": ("oracle", ())}


def rows_for(preset: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The controls run at ``preset`` (a quick preset: :data:`SMOKE_ROWS`, enough to draw every table)."""
    quick = traits(preset).quick
    return {k: v for k, v in ROWS.items() if not quick or k in SMOKE_ROWS}


def levels_for(preset: str) -> dict[str, tuple[str, ...]]:
    """The sparsity levels run at ``preset`` (a quick preset: the book's benchmark only; a preset whose data are
    not the synthetic benchmark has no levels to turn)."""
    if traits(preset).quick or run_config(preset, "stella").data.dataset != "synthetic":
        return {"default": ()}
    return dict(SPARSITY)


def defaults(preset: str, p: dict, book: Traits) -> tuple[list[int], list[str]]:
    seeds = RECORD.seeds_of("controls", preset, p.pop("n_seeds", None))
    p["sweep_seeds"] = RECORD.seeds_of("large effects", preset, p.pop("n_sweep_seeds", None))
    p["sparsity_seeds"] = RECORD.seeds_of("sparsity", preset, p.pop("n_sparsity_seeds", None))
    return seeds, ["derpp", "stella", "random", "oracle"]


def seeds_of(nb: Setup, label: str) -> list[int]:
    """The seeds of control ``label``: the sweep tier for :data:`FEW_SEEDS`, else the chapter's."""
    return nb.options["sweep_seeds"] if label in FEW_SEEDS else nb.seeds


def planned_runs(nb: Setup) -> list[tuple[str, int, tuple[str, ...]]]:
    """(method, seed, overrides) of every run the chapter trains (:mod:`stella.report.plan`)."""
    out = [(m, s, ov) for label, (m, ov) in rows_for(nb.preset).items() for s in seeds_of(nb, label)]
    return out + [(m, s, (*lv, *ov)) for lv in levels_for(nb.preset).values()
                  for m, ov in SPARSITY_ROWS.values() for s in nb.options["sparsity_seeds"]]


RECORD = chapter(CHAPTER, defaults, seeds={"controls": "main", "large effects": "sweep", "sparsity": "sweep"},
                 runs=planned_runs, needs=("ground_truth",))


def run_of(nb: Setup, row: tuple[str, tuple[str, ...]], seed: int, extra: tuple[str, ...] = ()):
    """The stored run of a control ``row`` (method, overrides) at ``seed`` on the notebook's device, trained when
    missing."""
    method, ov = row
    return get_run(nb.preset, method, seed, [*nb.train_overrides, *extra, *ov], nb.results_dir)


def scores(nb: Setup, rows: dict, seeds_of, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per (label, seed, direction): avg-recall A and F; runs the store lacks are trained.
    ``seeds_of(label)`` gives each row's seeds."""
    out = []
    with quiet():
        for label, r in rows.items():
            for s in seeds_of(label):
                rd = run_of(nb, r, s, extra)
                out += [{"label": label, "seed": s, "direction": x["direction"], "A": x["A"], "F": x["F"]}
                        for x in rd.load_json("summary") if x["metric"] == "avg"]
    return pd.DataFrame(out, columns=["label", "seed", "direction", "A", "F"])


def control_scores(nb: Setup) -> pd.DataFrame:
    """:func:`scores` of every control at its seeds (:func:`seeds_of`)."""
    return scores(nb, rows_for(nb.preset), lambda label: seeds_of(nb, label))


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
    flat = lambda t: t.set_axis([f"{d} {v}" for v, d in t.columns], axis=1)[cols]   # noqa: E731
    order = list(dict.fromkeys(df["label"]))
    means, stds = flat(means).reindex(order), flat(stds).reindex(order)
    means["seeds"] = df.groupby("label")["seed"].nunique().reindex(order).map(str)
    return means.rename_axis("run"), stds.rename_axis("run")


def null_control(nb: Setup) -> pd.DataFrame:
    """Per seed: does STELLA at rho = 1 write DER++'s summary.json number for number?"""
    summary = lambda label, s: run_of(nb, ROWS[label], s).load_json("summary")   # noqa: E731
    with quiet():
        return pd.DataFrame([{"seed": s, "identical summary": summary("STELLA, rho = 1", s) == summary("DER++", s)}
                             for s in seeds_of(nb, "STELLA, rho = 1")])


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


# --------------------------------------------------------------------------- the landing page's E
def efficiency_scores(nb: Setup, reading: str = "selected") -> pd.DataFrame:
    """:func:`scores` of the rows E needs under ``reading`` (STELLA, LPIS only, RCA only, Random, Oracle) at the
    chapter's seeds (those a quick preset runs)."""
    rows = {k: v for k, v in rows_for(nb.preset).items() if k.endswith(f"({reading})")}
    return scores(nb, rows, lambda _: nb.seeds)


def reading_text(preset: str, reading: str) -> str:
    """How ``reading`` masks, in words, with the preset's values (the selected reading's rho is the preset's)."""
    s = run_config(preset, "stella", None, READINGS[reading]).selection
    what = "the mask ratio applied to the selected patches" if s.mask_of == "selected" else \
        "the mask ratio of the full length, visible tokens drawn from the selection"
    return f"reading {reading}: {what}, rho {s.rho_a:g} / {s.rho_v:g}"


def landing_efficiency(nb: Setup, reading: str = "selected") -> str:
    """The landing page's sentence on selection efficiency: "STELLA's selection captures E = x [lo, hi] of the
    oracle's gain over random selection (n seeds, reading ...)", per direction, then LPIS only and RCA only; at the
    settings of ``nb`` (any page's :func:`notebook_setup`: its preset, store and device, this chapter's seeds).
    "" when the preset runs none of the rows."""
    own = setup(CHAPTER, nb.preset, nb.results_dir, device=nb.device)
    table = efficiency_table(efficiency_scores(own, reading))
    return efficiency_text(table[table["reading"] == reading], reading_text(nb.preset, reading))


# --------------------------------------------------------------------------- the paper's claims, full reading
@register(CHAPTER)
def reading_claims(ctx: ClaimContext) -> list[Comparison]:
    """Table 1's "STELLA outperforms every baseline" (A) and "forgets less" (F), and Table 3's STELLA above
    Random, judged under the full reading (STELLA at the baselines' visible count): the same claims
    chapter 02 and 04 judge under the preset's selected reading."""
    nb = ctx.setup(CHAPTER, seeds=False)
    runs = pd.concat([seed_table(ctx.preset, list(BASELINES), nb.seeds, ctx.results_dir, overrides=nb.train_overrides),
                      seed_table(ctx.preset, ["stella", "random"], nb.seeds, ctx.results_dir,
                                 overrides=[*nb.train_overrides, *EQUAL])], ignore_index=True)
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


# --------------------------------------------------------------------------- sentences from the numbers
def said(r: pd.Series) -> str:
    """"+1.23 %p [+0.10, +2.36], holds" of a judged row (one seed: no interval)."""
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
    count = lambda part: ", ".join(f"{int((part['verdict'] == v).sum())} {v}" for v in   # noqa: E731
                                   ("holds", "contradicted", "equivalent", "inconclusive", "not tested")
                                   if (part["verdict"] == v).any())
    a, b = row(claims, "table1.outperforms.stella.A→V/derpp"), row(claims, "table1-full.outperforms.stella.A→V/derpp")
    derpp = "" if a is None or b is None else (f" STELLA − DER++ (A→V): {said(a)} under the first, "
                                               f"{said(b)} at equal visible tokens.")
    return (f"Whether STELLA outperforms every baseline (Table 1, A) depends on how many tokens it sees: under "
            f"{sel['reading'].iloc[0] or 'the preset'} its {len(sel)} comparisons give {count(sel)}; under "
            f"{full['reading'].iloc[0] or 'the full reading'} (chapter 04b) its {len(full)} give {count(full)}.{derpp}")


def control_sentences(controls: pd.DataFrame, null: pd.DataFrame) -> list[str]:
    """The chapter's summary: the null control, the oracle's room (joint and per modality), the chunks, STELLA at
    equal budget, the budget's own effect."""
    out = [f"Null control: STELLA at rho = 1 writes DER++'s results number for number in {int(null['identical summary'].sum())} "
           f"of {len(null)} seeds."]
    for key, text in (
            ("controls.room.A.A→V/oracle-random", "Oracle − Random at the preset's budget (A→V)"),
            ("controls.room.A.A→V/video-oracle-random", "video oracle − Random (A→V)"),
            ("controls.room.A.A→V/audio-oracle-random", "audio oracle − Random (A→V)"),
            ("controls.room.A.A→V/oracle-anti", "Oracle − anti-oracle (A→V)"),
            ("controls.chunks.A.A→V/random-chunks", "Random in audio chunks − Random over all audio patches (A→V)"),
            ("controls.equal-tokens.A.A→V/stella-random", "STELLA − Random at equal visible tokens (A→V)"),
            ("controls.equal-tokens.A.A→V/stella-derpp", "STELLA − DER++ at equal visible tokens (A→V)"),
            ("controls.budget.A.A→V/derpp-loses", "DER++ − DER++ at STELLA's visible count (A→V)")):
        r = row(controls, key)
        if r is not None and r["difference"] == r["difference"]:
            power = "" if r["detectable"] != r["detectable"] else f", detectable {r['detectable']:.2f} %p"
            out.append(f"{text}: {said(r)} (n = {int(r['n_seeds'])}{power}).")
    return out


def selection_room_sentence(controls: pd.DataFrame) -> str:
    """Whether the benchmark rewards selection at all: the oracle against random selection (both readings) and
    against its reverse, read from the judged controls."""
    best = [r for r in (row(controls, "controls.room.A.A→V/oracle-random"),
                        row(controls, "controls.equal-tokens.A.A→V/oracle-random"))
            if r is not None and r["difference"] == r["difference"]]
    worst = row(controls, "controls.room.A.A→V/oracle-anti")
    if not best:
        return ""
    if all(r["verdict"] == "holds" for r in best):
        return ("The oracle beats random selection under both readings (" + "; ".join(said(r) for r in best) +
                "): on this benchmark a better selection buys accuracy, so STELLA's selection can be measured as a "
                "share of that gain (E below).")
    anti = "" if worst is None or worst["difference"] != worst["difference"] else \
        f"; it beats the anti-oracle by {worst['difference']:+.2f} %p"
    wins = [r for r in best if r["verdict"] == "holds"]
    if wins:
        return (f"The oracle's gain over random selection holds under {len(wins)} of the {len(best)} readings at these "
                "seeds (" + "; ".join(said(r) for r in best) + f"){anti}: under a reading where it is not resolved, a "
                "better selection buys no measurable accuracy here, and E there is not resolved either.")
    return ("No reading resolves the oracle's gain over random selection at these seeds (" +
            "; ".join(said(r) for r in best) + f"){anti}: a better selection buys no measurable accuracy here, and E "
            "is not defined.")


def seeds_note(nb: Setup) -> str:
    """Where this page spends its seeds, and where it cut them, from the chapter's settings."""
    few = [k for k in FEW_SEEDS if k in rows_for(nb.preset)]
    n, m, k = len(nb.seeds), len(nb.options["sweep_seeds"]), len(nb.options["sparsity_seeds"])
    text = (f"Seeds: DER++ and the rows E needs (STELLA, LPIS only, RCA only, Random and the Oracle under both readings) "
            f"at {n}; each sparsity level at {k} (the page's sparsity sentence says how many seeds its differences would "
            "need)")
    if few:
        text += (f"; the null control (a check number for number) and the controls whose effects are large "
                 f"({', '.join(f for f in few if f != 'STELLA, rho = 1') or 'none at this preset'}) at {m}: the "
                 f"\"detectable\" column of the controls' table gives the difference {m} seed{'s' if m != 1 else ''} "
                 f"{'resolve' if m != 1 else 'resolves'} with 80 % power, beside each effect")
    return (text + ". Cut from earlier builds: ER and ER at STELLA's budget (DER++ asks the budget question alone) and "
            "the 10 seeds of STELLA, Random and DER++ at equal visible tokens (E now measures the selection, with the "
            "oracle's gain as its scale).")


def gate_sentence(controls: pd.DataFrame) -> str:
    """Whether the benchmark meets the calibration's gate: Oracle − Random >= :data:`GATE` %p in A in both directions
    with the interval above 0, under the reading the main tables use (the selected one), read from the judged
    controls; "" when they lack the pair."""
    rows = {d: row(controls, f"controls.room.A.{d}/oracle-random") for d in paper.DIRECTIONS}
    if any(r is None or r["ci_low"] != r["ci_low"] for r in rows.values()):
        return ""
    met = all(r["difference"] >= GATE and r["ci_low"] > 0 for r in rows.values())
    said_ = "; ".join(f"{said(r)} ({d})" for d, r in rows.items())
    return (f"The calibration's gate (Oracle − Random >= {GATE:g} %p in A in both directions, intervals above 0, "
            f"the main tables' reading) is {'met' if met else 'not met'} at this benchmark: {said_}." +
            ("" if met else " The book says what it measures here, not more."))
