"""Chapter 08b, "Does it replicate?": the book's headline comparisons again, on other draws of what they rest on.

Every verdict of the book comes from one draw of one procedural benchmark. This chapter trains DER++, Random, the
Oracle and STELLA (:data:`METHODS`) at the preset's calibrated setting and the main tables' reading on
(:func:`settings_for`):

* ``second draw``: the synthetic benchmark of the next ``data.seed``: other classes, other sounds, its own
  pre-training stage (its reserved classes are drawn from that seed too);
* ``tuxpaint``: real photo cut-outs and their recorded sounds (Debian's ``tuxpaint-stamps-default``, composed with
  the same knobs, :mod:`stella.data.tuxpaint`), tasks from the stamps' super-categories, its own stage on the stamps
  no task uses (``pretrain.source: tuxpaint``), at twice the preset's frame, patch and fbank size
  (:func:`tuxpaint_overrides`: the same token grid, so the same model; book/model.md says why); left out, with
  one line, where the stamps are absent;
* ``shuffled order``: the tasks in the benchmark's shuffled order, STELLA and DER++ only (chapter 02's Table 7
  runs, :data:`SETTING_METHODS`): the same clips, so only STELLA − DER++ asks a new question there.

For each setting, beside the main benchmark's (the same methods and seeds, the runs of chapters 02 and 04): Oracle −
Random, STELLA − Random, STELLA − DER++ in A (paired over seeds, Holm over the three per setting and direction) and
the selection efficiency E of STELLA, and per row one verdict (:func:`replication_word`): replicates, does not, or
cannot tell (with the difference the seeds detect). Seeds: the preset's headline tier. LPIS only and the shuffled
order's Oracle and Random are left out to keep the cpu book within its hour (25 runs fewer).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from stella.data.stamps import licence_line, stamps_status
from stella.data.tuxpaint import DEFAULT_DIR, build_tuxpaint
from stella.eval.attention import denormalize_video
from stella.report import claims as C
from stella.report.chapter import Setup, Traits, chapter, setup
from stella.report.chapters.controls import scores
from stella.report.paper_numbers import DIRECTIONS
from stella.report.runs import run_config
from stella.report.stats import efficiency

CHAPTER = "08b_replication"
METHODS = {"DER++": "derpp", "Random": "random", "Oracle": "oracle", "STELLA": "stella"}
SETTING_METHODS = {"shuffled order": ("DER++", "STELLA")}    # a setting that trains fewer than all of METHODS
PAIRS = {"oracle-random": ("Oracle", "Random"), "stella-random": ("STELLA", "Random"), "stella-derpp": ("STELLA", "DER++")}
SELECTIONS = ("STELLA",)                      # E is measured for these
E_RANGE = (-2.0, 3.0)                         # E's axis in the figure (0: random, 1: the oracle)
MAIN = "main benchmark"
SETTING_KEYS = {MAIN: "main", "second draw": "second-draw", "tuxpaint": "tuxpaint", "shuffled order": "shuffled"}


def tuxpaint_overrides(preset: str) -> tuple[str, ...]:
    """The stamps at ``preset``: twice its frame size, patch size and fbank length and bins, so the token grid (and
    the model's cost) is the preset's while a stamp spans twice the pixels (book/model.md's choices table)."""
    cfg = run_config(preset, "stella")
    d, p = cfg.data, cfg.model.patch_size
    return ("data.dataset=tuxpaint", "pretrain.source=tuxpaint", f"data.image_size={2 * d.image_size}",
            f"model.patch_size={2 * p}", f"data.audio_frames={2 * d.audio_frames}", f"data.mel_bins={2 * d.mel_bins}")


def stamps(root=DEFAULT_DIR):
    """:func:`stella.data.stamps.stamps_status` of the folder the tuxpaint benchmark reads."""
    return stamps_status(root)


def settings_for(preset: str, root=DEFAULT_DIR) -> dict[str, tuple[str, ...]]:
    """Setting -> overrides on the preset, the main benchmark first. The second draw and the stamps need the
    synthetic benchmark at the preset; the stamps need their folder (:func:`stamps`)."""
    out = {MAIN: ()}
    cfg = run_config(preset, "stella")
    if cfg.data.dataset == "synthetic":
        out["second draw"] = (f"data.seed={cfg.data.seed + 1}",)
        if stamps(root).present:
            out["tuxpaint"] = tuxpaint_overrides(preset)
    out["shuffled order"] = ("data.task_order=shuffled",)
    return out


def methods_for(setting: str) -> dict[str, str]:
    """Label -> method trained at ``setting``."""
    keep = SETTING_METHODS.get(setting, tuple(METHODS))
    return {k: v for k, v in METHODS.items() if k in keep}


def defaults(preset: str, p: dict, book: Traits) -> tuple[list[int], list[str]]:
    return RECORD.seeds_of("replication", preset, p.pop("n_seeds", None)), list(METHODS.values())


def planned_runs(nb: Setup) -> list[tuple[str, int, tuple[str, ...]]]:
    """(method, seed, overrides) of every run the chapter trains (the main benchmark's are chapters 02 and 04's)."""
    return [(m, s, ov) for name, ov in settings_for(nb.preset).items() for m in methods_for(name).values()
            for s in nb.seeds]


RECORD = chapter(CHAPTER, defaults, seeds={"replication": "headline"}, runs=planned_runs,
                 needs=("ground_truth", "generated_classes"))


def replication_scores(nb: Setup) -> pd.DataFrame:
    """:func:`controls.scores` of every method at every setting, with a ``setting`` column."""
    return pd.concat([scores(nb, {k: (m, ()) for k, m in methods_for(name).items()}, lambda _: nb.seeds, ov)
                      .assign(setting=name)
                      for name, ov in settings_for(nb.preset).items()], ignore_index=True)


def comparisons(df: pd.DataFrame) -> list[C.Comparison]:
    """Per setting and direction, the pairs of :data:`PAIRS` in A, paired over seeds. Keys
    "replication.<setting>.<direction>/<pair>"; one family per setting and direction."""
    out = []
    for (setting, d), part in df.groupby(["setting", "direction"], sort=False):
        t = part.pivot_table(index="seed", columns="label", values="A")
        for key, (a, b) in PAIRS.items():
            if {a, b} <= set(t.columns):
                p = t[[a, b]].dropna()
                out.append(C.versus(f"{a} − {b} ({setting}, {d})", CHAPTER, f"Replication: {setting} ({d})", p, a, b, 1,
                                    paper="a replication", key=f"replication.{SETTING_KEYS[setting]}.{d}/{key}"))
    return out


def efficiencies(df: pd.DataFrame) -> pd.DataFrame:
    """The E of STELLA per setting and direction (:func:`stella.report.stats.efficiency`):
    ``setting, selection, direction, E, ci_low, ci_high, n``."""
    rows = []
    for (setting, d), part in df.groupby(["setting", "direction"], sort=False):
        t = part.pivot_table(index="seed", columns="label", values="A")
        for x in SELECTIONS:
            if {x, "Random", "Oracle"} <= set(t.columns):
                e = efficiency(t[x], t["Random"], t["Oracle"])
                rows.append({"setting": setting, "selection": x, "direction": d, "E": e["E"], "ci_low": e["ci_low"],
                             "ci_high": e["ci_high"], "n": e["n_seeds"]})
    return pd.DataFrame(rows, columns=["setting", "selection", "direction", "E", "ci_low", "ci_high", "n"])


def _side(verdict: str, lo: float, hi: float, judged: bool) -> int:
    """+1 / -1 / 0: decided above, below, or not (a judged claim's verdict; E's interval)."""
    if judged:
        return {"holds": 1, "contradicted": -1}.get(verdict, 0)
    return 0 if lo != lo else 1 if lo > 0 else -1 if hi < 0 else 0


def replication_word(main: dict, here: dict, judged: bool = True) -> tuple[str, str]:
    """(word, reason) for one comparison: ``main`` and ``here`` hold ``difference``, ``ci_low``, ``ci_high`` and, for
    a judged claim, ``verdict`` and ``detectable``. "replicates": decided on the same side; "does not": decided on the
    other side, or undecided here with an interval that excludes the main benchmark's estimate; "cannot tell":
    undecided here (with the difference its seeds detect), or decided here while the main benchmark is not (no
    finding there to replicate)."""
    m = _side(main.get("verdict", ""), main["ci_low"], main["ci_high"], judged)
    h = _side(here.get("verdict", ""), here["ci_low"], here["ci_high"], judged)
    det = here.get("detectable", float("nan"))
    power = "" if det != det else f"; its seeds detect {det:.1f} %p"
    if m and h == m:
        return "replicates", "decided on the same side in both"
    if m and h == -m:
        return "does not", "decided on the other side"
    if h and not m:
        return "cannot tell", "decided here only: the main benchmark's own comparison is undecided"
    if m and not here["ci_low"] <= main["difference"] <= here["ci_high"]:
        return "does not", f"undecided here, its interval excludes the main benchmark's {main['difference']:+.2f}"
    if here["ci_low"] != here["ci_low"]:
        return "cannot tell", "one seed here: no interval"
    return "cannot tell", ("undecided here" if m else "decided in neither") + power


def _cell(r: dict, fmt: str = "{:+.2f}") -> str:
    if r["difference"] != r["difference"]:
        return "—"
    ci = "" if r["ci_low"] != r["ci_low"] else f" [{fmt.format(r['ci_low'])}, {fmt.format(r['ci_high'])}]"
    return fmt.format(r["difference"]) + ci + (f", {r['verdict']}" if r.get("verdict") else "")


def _settings(judged: pd.DataFrame) -> list[str]:
    """The settings ``judged`` has comparisons of, in :data:`SETTING_KEYS`' order (the main benchmark first)."""
    keys = set(judged["key"])
    return [name for name, k in SETTING_KEYS.items() if any(x.startswith(f"replication.{k}.") for x in keys)]


def replication_table(judged: pd.DataFrame, eff: pd.DataFrame) -> pd.DataFrame:
    """One row per replication setting, comparison and direction: the main benchmark's and this setting's
    difference [95 %] (and verdict), the difference this setting's seeds detect, the word and why."""
    rows = []
    for setting in [s for s in _settings(judged) if s != MAIN]:
        for d in DIRECTIONS:
            for key, (a, b) in PAIRS.items():
                m = C.row(judged, f"replication.main.{d}/{key}")
                h = C.row(judged, f"replication.{SETTING_KEYS[setting]}.{d}/{key}")
                if m is None or h is None:
                    continue
                word, why = replication_word(m.to_dict(), h.to_dict())
                rows.append({"setting": setting, "comparison": f"{a} − {b}", "direction": d, MAIN: _cell(m.to_dict()),
                             "here": _cell(h.to_dict()), "detectable here (%p)": h["detectable"], "verdict": word,
                             "why": why})
            for x in SELECTIONS:
                m, h = (eff[(eff["setting"] == s) & (eff["direction"] == d) & (eff["selection"] == x)]
                        for s in (MAIN, setting))
                if len(m) and len(h):
                    m, h = (r.iloc[0].rename({"E": "difference"}).to_dict() for r in (m, h))
                    word, why = replication_word(m, h, judged=False)
                    rows.append({"setting": setting, "comparison": f"{x}'s E", "direction": d, MAIN: _cell(m, "{:.2f}"),
                                 "here": _cell(h, "{:.2f}"), "detectable here (%p)": float("nan"), "verdict": word,
                                 "why": why})
    return pd.DataFrame(rows, columns=["setting", "comparison", "direction", MAIN, "here", "detectable here (%p)",
                                       "verdict", "why"])


def row_sentences(table: pd.DataFrame) -> list[str]:
    """One sentence per row of :func:`replication_table`."""
    word = {"replicates": "replicates", "does not": "does not replicate", "cannot tell": "cannot tell"}
    return [f"{r['setting']}, {r['comparison']} ({r['direction']}): {r['here']} here, {r[MAIN]} on the main benchmark: "
            f"{word[r['verdict']]} ({r['why']})." for _, r in table.iterrows()]


def verdict_counts(table: pd.DataFrame) -> str:
    """"second draw: 5 of 8 replicate, 1 does not, 2 cannot tell; tuxpaint: ..." per setting of the table."""
    parts = []
    for setting, part in table.groupby("setting", sort=False):
        c = part["verdict"].value_counts()
        parts.append(f"{setting}: {int(c.get('replicates', 0))} of {len(part)} replicate, {int(c.get('does not', 0))} "
                     f"do not, {int(c.get('cannot tell', 0))} cannot tell")
    return "; ".join(parts)


def landing_replication(nb: Setup) -> str:
    """The landing page's sentence: of the headline verdicts (Oracle − Random, STELLA − Random, STELLA − DER++, the E
    of STELLA; both directions), how many replicate on the second draw, on real photos and sounds and on the shuffled order; at
    the settings of ``nb`` (any page's :func:`notebook_setup`), this chapter's seeds. Where the stamps are absent it
    says so."""
    own = setup(CHAPTER, nb.preset, nb.results_dir, device=nb.device)
    df = replication_scores(own)
    table = replication_table(C.judge(comparisons(df)), efficiencies(df))
    if table.empty:
        return ""
    n = len(own.seeds)
    text = (f"Does it replicate ({n} seed{'s' if n != 1 else ''} per setting, chapter 08b)? Of the headline comparisons "
            f"(Oracle − Random, STELLA − Random, STELLA − DER++ and STELLA's E, both directions): "
            f"{verdict_counts(table)}.")
    status = stamps()
    if not status.present:
        text += f" The real photos and sounds were not tested on the machine that built this page: {status.reason}."
    return text


def stamps_line(root=DEFAULT_DIR) -> str:
    """The stamps' licence (:func:`stella.data.stamps.licence_line`), and where they are absent one more line: the
    tuxpaint rows are missing, and why."""
    status = stamps(root)
    return licence_line() + ("" if status.present else f" **The tuxpaint rows are missing on the machine that built "
                                                       f"this page:** {status.reason}; the rest of the page is built "
                                                       "without them.")


def plot_replication(judged: pd.DataFrame, eff: pd.DataFrame) -> None:
    """Per direction (columns) and comparison (rows: Oracle − Random, STELLA − Random, STELLA − DER++, E): each
    setting's estimate with its 95 % interval, the main benchmark's first."""
    panels = [*(f"{a} − {b}" for a, b in PAIRS.values()), "STELLA's E"]
    fig, axes = plt.subplots(len(panels), 2, figsize=(9, 1.1 + 1.15 * len(panels)), sharey=True, squeeze=False)
    settings = _settings(judged)
    for j, d in enumerate(DIRECTIONS):
        for i, name in enumerate(panels):
            ax = axes[i][j]
            for k, setting in enumerate(settings):
                if name == "STELLA's E":
                    r = eff[(eff["setting"] == setting) & (eff["direction"] == d) & (eff["selection"] == "STELLA")]
                    r = None if r.empty else r.iloc[0].rename({"E": "difference"})
                else:
                    key = next(p for p, (a, b) in PAIRS.items() if f"{a} − {b}" == name)
                    r = C.row(judged, f"replication.{SETTING_KEYS[setting]}.{d}/{key}")
                if r is None or r["difference"] != r["difference"]:
                    continue
                x = r["difference"]
                lo, hi = (x if v != v else v for v in (r["ci_low"], r["ci_high"]))
                if name == "STELLA's E":                 # a ratio: its interval is unbounded where the gain is not
                    x, lo, hi = (min(max(v, E_RANGE[0]), E_RANGE[1]) for v in (x, lo, hi))
                ax.errorbar([x], [k], xerr=[[x - lo], [hi - x]], fmt="o", color="k" if setting == MAIN else f"C{k}",
                            capsize=3)
            ax.axvline(0, color="k", lw=0.8)
            if name == "STELLA's E":
                ax.axvline(1, color="k", lw=0.8, ls=":")
                ax.set_xlim(E_RANGE[0] - 0.1, E_RANGE[1] + 0.1)
            ax.set_yticks(range(len(settings)), settings, fontsize=9)
            unit = f", clipped to [{E_RANGE[0]:g}, {E_RANGE[1]:g}]" if name == "STELLA's E" else ", A in %p"
            ax.set_title(f"{name} ({d}{unit})", fontsize=9)
    axes[0][0].invert_yaxis()
    fig.tight_layout()
    plt.show()


def plot_stamp_geometry(preset: str, clips: int = 4, root=DEFAULT_DIR) -> str:
    """The first frame of ``clips`` tuxpaint clips (one per task, then the next clips) at the preset's frame size
    (top) and at this chapter's (:func:`tuxpaint_overrides`, bottom): why the stamps are composed larger. Returns the
    figure's caption; "" (nothing drawn) where the stamps are absent."""
    if not stamps(root).present:
        return ""
    fig, axes = plt.subplots(2, clips, figsize=(1.8 * clips, 3.8), squeeze=False)
    for i, (what, ov) in enumerate((("the preset's frames", ("data.dataset=tuxpaint", "data.augment=false")),
                                    ("this chapter's", (*tuxpaint_overrides(preset), "data.augment=false")))):
        bench = build_tuxpaint(run_config(preset, "stella", None, ov), root)
        tasks = bench.tasks
        for j in range(clips):
            item = tasks[j % len(tasks)].eval[j // len(tasks)]
            axes[i][j].imshow(denormalize_video(item["video"])[0].clamp(0, 1).numpy())
            axes[i][j].set_axis_off()
            axes[i][j].set_title(f"{what}, {item['video'].shape[-1]} px" if j == 0 else "", fontsize=8, loc="left")
    fig.tight_layout()
    plt.show()
    cfg = run_config(preset, "stella", None, tuxpaint_overrides(preset))
    g = cfg.data.image_size // cfg.model.patch_size
    return (f"The first frame of {clips} tuxpaint clips at the preset's frame size (top) and at this chapter's "
            f"(bottom): the same {g} x {g} patch grid, each patch twice as many pixels wide. Tasks: "
            f"{', '.join(bench.task_names)}.")
