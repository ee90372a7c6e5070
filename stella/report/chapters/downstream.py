"""Chapter 08, downstream tasks: each method's final model on downstream tasks (Table 4 a/b, Table 8 b).

Classification (an MLP probe) and event localisation (a linear per-time-step probe) on frozen
features over all tasks' clips; retrieval after fine-tuning on a held-out benchmark of classes
never trained on (:func:`stella.data.unseen_tasks`, the MSR-VTT role). Every probe's
result is kept in its run's directory (:func:`cached_frame`), so a rebuilt book reads it back.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd
import torch
from torch.utils.data import ConcatDataset

from stella.data import build_benchmark, unseen_tasks
from stella.eval import classification_probe, event_localization_probe, retrieval_finetune
from stella.report import paper_numbers as paper
from stella.report.chapter import Traits, chapter
from stella.report.claims import (ClaimContext, Comparison, chance_status, continual, not_tested, register,
                                  retrieval_scale, versus)
from stella.report.runs import cached_frame, dataset_labels, get_run, load_trained, run_config
from stella.report.tables import aggregate, display_frame, mark_frame, side_by_side, wide, wide_mean_std

CHAPTER = "08_downstream"
RECALLS = ("R@1", "R@5", "R@10")


def defaults(preset: str, p: dict, book: Traits) -> tuple[list[int], list[str]]:
    methods = p.pop("methods", None) or list(paper.TABLE1)
    if book.quick:
        methods = [m for m in methods if m in ("finetune", "derpp", "stella", "stella+", "multitask")]
    p["probe_epochs"] = p.get("probe_epochs") or (20 if book.quick else 100)
    p["finetune_steps"] = p.get("finetune_steps") or (2 if book.quick else 20)
    p.setdefault("extra_tasks", 1)
    return RECORD.seeds_of("probes", preset, p.pop("n_seeds", None)), methods


RECORD = chapter(CHAPTER, defaults, seeds={"probes": "main"}, needs=("ground_truth", "generated_classes"),
                 runs=lambda nb: [(m, s, ()) for m in nb.methods for s in nb.seeds])


@dataclass
class ProbeData:
    """All tasks' clips for the probes and the unseen classes' clips for retrieval fine-tuning."""

    train_all: ConcatDataset
    eval_all: ConcatDataset
    unseen_train: ConcatDataset
    unseen_eval: ConcatDataset
    description: str


def probe_data(nb) -> ProbeData:
    """The probes' data at the notebook's preset (the benchmark of its first method and seed)."""
    cfg0 = run_config(nb.preset, nb.methods[0], seed=nb.seeds[0], task_order=nb.task_order)
    bench = build_benchmark(cfg0)
    _, unseen = unseen_tasks(cfg0, nb.options["extra_tasks"])
    data = [ConcatDataset([getattr(t, split) for t in tasks]) for tasks in (bench.tasks, unseen)
            for split in ("train", "eval")]
    classes = sorted({c for t in bench.tasks for c in t.classes})
    text = (f"probe data: {len(data[0])} train / {len(data[1])} eval clips over {len(classes)} classes; unseen: "
            f"{[t.name for t in unseen]} with classes {[t.classes for t in unseen]}, {len(data[2])} train / "
            f"{len(data[3])} test clips")
    return ProbeData(*data, text)


def probe_results(nb, data: ProbeData) -> dict[str, pd.DataFrame]:
    """Per method and seed: ``classification`` and ``events`` (accuracy, chance) and ``retrieval``
    (stage, direction, metric, value) rows, each with ``method`` and ``seed`` columns."""
    out = {"classification": [], "events": [], "retrieval": []}
    dev, epochs, steps = nb.device, nb.options["probe_epochs"], nb.options["finetune_steps"]
    for m in nb.methods:
        for s in nb.seeds:
            rd = get_run(nb.preset, m, seed=s, overrides=nb.train_overrides, results_dir=nb.results_dir,
                         task_order=nb.task_order)
            model, _ = load_trained(rd, device=dev)
            key = {"seed": s, "device": dev, "task_order": nb.task_order}
            runs = {
                "classification": ("probe_classification", {**key, "epochs": epochs}, lambda g: classification_probe(
                    model, data.train_all, data.eval_all, g, device=dev, epochs=epochs)),
                "events": ("probe_events", {**key, "epochs": epochs}, lambda g: event_localization_probe(
                    model, data.train_all, data.eval_all, g, device=dev, epochs=epochs)),
                "retrieval": ("probe_retrieval_finetune", {**key, "steps": steps, "extra_tasks": nb.options["extra_tasks"]},
                              lambda g: retrieval_finetune(model, data.unseen_train, data.unseen_eval, g, device=dev,
                                                           steps=steps))}
            for what, (name, params, probe) in runs.items():
                df = cached_frame(rd, name, params, lambda p=probe: p(torch.Generator().manual_seed(s)))
                out[what].append(df.assign(method=m, seed=s))
    return {k: pd.concat(v, ignore_index=True) for k, v in out.items()}


def per_seed_scores(results: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Rows ``method, seed, value`` per downstream score: classification and event localisation
    accuracy, and the mean fine-tuned recall (R@1/5/10, both directions) on the unseen classes."""
    ret = results["retrieval"]
    ft = ret[(ret.stage == "fine-tuned") & ret.metric.isin(RECALLS)]
    return {"classification": results["classification"].rename(columns={"test_accuracy": "value"}),
            "event localisation": results["events"].rename(columns={"test_accuracy": "value"}),
            "unseen retrieval": ft.groupby(["method", "seed"], sort=False)["value"].mean().reset_index()}


def paper_scores() -> dict[str, pd.Series]:
    """The paper's Table 4 (b), Table 8 (b) and the mean of Table 4 (a)'s recalls, per method."""
    t4a = paper.table4("a").groupby("method", sort=False)["value"].mean()
    return {"classification": paper.table4("b").set_index("method")["value"],
            "event localisation": paper.table8("b").set_index("method")["value"], "unseen retrieval": t4a}


def probe_table(rows: pd.DataFrame, paper_rows: pd.DataFrame, methods, preset: str):
    """One probe's accuracy (mean ± std over seeds) and majority-class chance beside the paper's:
    (display frame, marks) for :func:`stella.report.display.show`."""
    a = aggregate(rows.rename(columns={"test_accuracy": "v"}), ["method"], ("v", "chance")).set_index("method")
    a = a.reindex(methods)
    ours_m = pd.DataFrame({"accuracy": a["v_mean"], "chance": a["chance_mean"]})
    ours_s = pd.DataFrame({"accuracy": a["v_std"], "chance": float("nan")}, index=a.index)
    theirs = paper_rows.set_index("method")["value"].reindex(methods).to_frame("accuracy")
    nums = side_by_side(ours_m, theirs, f"ours ({preset})", "paper")
    shown = side_by_side(display_frame(ours_m, ours_s), display_frame(theirs), f"ours ({preset})", "paper")
    marks = mark_frame(nums, exclude=["multitask"])
    marks[("chance", f"ours ({preset})")] = ""
    return shown, marks


def retrieval_tables(results: dict[str, pd.DataFrame], methods, preset: str, chance: float):
    """Table 4 (a) after fine-tuning beside the paper's (display frame, marks), our mean recall per
    method (for the figure), and the zero-shot vs fine-tuned mean recall per method with where the
    fine-tuned recall sits against ``chance`` (the gallery's mean recall of a random ranking; "at chance":
    chance inside its 95 % interval over seeds)."""
    ret = results["retrieval"]
    ft = ret[(ret.stage == "fine-tuned") & ret.metric.isin(RECALLS)]
    orders = {"direction": list(paper.DIRECTIONS), "metric": list(RECALLS)}
    agg = aggregate(ft.rename(columns={"value": "R"}), ["method", "direction", "metric"], ("R",))
    rm, rs = wide_mean_std(agg, values=("R",), row_order=methods, col_orders=orders)
    p4a = wide(paper.table4("a").rename(columns={"value": "R"}), values=("R",), row_order=methods, col_orders=orders)
    for t in (rm, rs, p4a):
        t.columns = t.columns.droplevel(-1)
    nums = side_by_side(rm, p4a, f"ours ({preset})", "paper T4a")
    shown = side_by_side(display_frame(rm, rs), display_frame(p4a), f"ours ({preset})", "paper T4a")
    stages = ret[ret.metric.isin(RECALLS)].groupby(["method", "stage"])["value"].mean().unstack().reindex(methods)
    per_seed = per_seed_scores(results)["unseen retrieval"].groupby("method")["value"]
    stages[f"fine-tuned vs chance ({chance:.2f} %)"] = [chance_status(per_seed.get_group(m), chance)
                                                       if m in per_seed.groups else "—" for m in stages.index]
    return shown, mark_frame(nums, exclude=["multitask"]), rm.mean(axis=1), stages


def paper_table8a(methods) -> pd.DataFrame:
    """The paper's Table 8 (a) (MSR-VTT after Continual-AS) as a wide frame, for reference."""
    orders = {"direction": list(paper.DIRECTIONS), "metric": list(RECALLS)}
    t = wide(paper.table8("a").rename(columns={"value": "R"}), values=("R",), row_order=methods, col_orders=orders)
    t.columns = t.columns.droplevel(-1)
    return t


def unseen_scale(data: ProbeData) -> dict[str, float]:
    """Chance and ceiling of the mean recall on the unseen classes' gallery."""
    return retrieval_scale(Counter(y for d in data.unseen_eval.datasets for y in dataset_labels(d)))


# --------------------------------------------------------------------------- the chapter's claims
SATURATED = 0.10    # a score every method brings within this share of the room (chance -> ceiling) of its ceiling


def saturated(table: pd.DataFrame, chance: float, ceiling: float) -> bool:
    """Whether every method's mean (columns of a seed x method ``table``) lies within :data:`SATURATED`
    of the room between ``chance`` and ``ceiling`` below the ceiling: such a score cannot order methods."""
    room = ceiling - chance
    return bool(room > 0 and ((ceiling - table.mean()) / room < SATURATED).all())


@register(CHAPTER)
def downstream_claims(ctx: ClaimContext) -> list[Comparison]:
    """Tables 4 and 8 per score: STELLA and STELLA+ each above every baseline ("our methods
    consistently outperform the baselines"), Multitask above every continual method where the paper
    reports Multitask. A saturated score (:func:`saturated`) makes its claims "not tested"."""
    nb = ctx.setup(CHAPTER)
    data = probe_data(nb)
    scores, theirs = per_seed_scores(probe_results(nb, data)), paper_scores()
    scales = {w: {"chance": float(scores[w]["chance"].mean()), "ceiling": 100.0}
              for w in ("classification", "event localisation")}
    scales["unseen retrieval"] = {k: v for k, v in unseen_scale(data).items() if k in ("chance", "ceiling")}
    out = []
    for what, rows in scores.items():
        table = rows.pivot_table(index="seed", columns="method", values="value", aggfunc="mean")
        pv, sc = theirs[what], scales[what]
        full = saturated(table, sc["chance"], sc["ceiling"])
        why = (f"saturated: every method within {SATURATED:.0%} of the room between chance ({sc['chance']:.1f} %) and "
               f"the ceiling ({sc['ceiling']:.1f} %)")
        pairs = [(m, b, f"{paper.label(m)} outperforms every baseline ({what})", f"{m}-outperforms") for m in paper.OURS
                 for b in paper.BASELINES]
        if pv.get("multitask", float("nan")) == pv.get("multitask"):
            pairs += [("multitask", m, f"Multitask is the upper bound ({what})", "multitask-upper")
                      for m in continual(table.columns)]
        for a, b, fam, fkey in pairs:
            key = f"downstream.{what.replace(' ', '-')}.{fkey}/{b}"
            if a not in table.columns or b not in table.columns:
                continue
            claim = f"{paper.label(a)} has a higher {what} score than {paper.label(b)}"
            if full:
                out.append(not_tested(claim, CHAPTER, fam, why, paper=f"{paper.label(a)} {pv.get(a, float('nan')):.2f} "
                                      f"vs {paper.label(b)} {pv.get(b, float('nan')):.2f}", key=key,
                                      ours_text=f"{paper.label(a)} {table[a].mean():.2f} vs {paper.label(b)} "
                                                f"{table[b].mean():.2f}", **sc))
            else:
                out.append(versus(claim, CHAPTER, fam, table, a, b, 1, float(pv.get(a, float("nan"))),
                                  float(pv.get(b, float("nan"))), paper.label, key=key, **sc))
    return out
