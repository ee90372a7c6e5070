"""stella.report.claims: the paired statistics, the ceiling, and the claim rows on made-up seed values."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from stella.report import claims as C
from stella.report.defaults import TABLE1


def test_paired_verdict_holds_contradicted_inconclusive():
    ours, other = [12.0, 13.0, 12.5], [10.0, 10.5, 10.2]
    r = C.paired_verdict(ours, other, sign=1)
    d = np.subtract(ours, other)
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
    assert r["verdict"] == "holds" and r["n_seeds"] == 3
    assert r["difference"] == pytest.approx(d.mean())
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert C.paired_verdict(ours, other, sign=-1)["verdict"] == "contradicted"   # the paper said "lower"
    assert C.paired_verdict(other, ours, sign=-1)["verdict"] == "holds"
    # a mean difference inside the seed noise gets no verdict
    noisy = C.paired_verdict([12.0, 9.0, 13.0], [10.0, 11.0, 10.5], sign=1)
    assert noisy["difference"] > 0 and noisy["ci_low"] < 0 < noisy["ci_high"] and noisy["verdict"] == "inconclusive"


def test_paired_verdict_pairs_by_seed_not_by_pooled_spread():
    # Seeds shift both methods alike: an unpaired comparison would see overlap, the paired one does not.
    base = np.array([5.0, 15.0, 25.0, 35.0])
    assert C.paired_verdict(base + 1.0 + [0.1, -0.1, 0.05, 0.0], base, 1)["verdict"] == "holds"


def test_one_seed_or_missing_values_are_inconclusive():
    one = C.paired_verdict([20.0], [10.0], 1)
    assert one["verdict"] == "inconclusive" and one["n_seeds"] == 1 and math.isnan(one["ci_low"])
    assert one["difference"] == 10.0
    nan = C.paired_verdict([20.0, float("nan")], [10.0, 11.0], 1)
    assert nan["n_seeds"] == 1 and nan["verdict"] == "inconclusive"
    with pytest.raises(ValueError):
        C.paired_verdict([1.0], [1.0], 0)


def test_ceiling_from_class_composition():
    # 16 classes of 8 clips: a query's match is among its 8 same-class clips, in random order.
    rec = C.ceiling_recall({c: 8 for c in range(16)})
    assert rec["R@1"] == pytest.approx(100 / 8) and rec["R@5"] == pytest.approx(500 / 8) and rec["R@10"] == 100.0
    assert rec["avg"] == pytest.approx((12.5 + 62.5 + 100) / 3)
    # unequal classes: a singleton class is always found first
    assert C.ceiling_recall([1, 3])["R@1"] == pytest.approx(100 * (1 + 1) / 4)
    s = C.retrieval_scale(pd.Series({0: 8, 1: 8}).to_dict())
    assert s["gallery"] == 16 and s["chance"] < s["ceiling"]


def _runs(values: dict[str, list[float]], f: dict[str, list[float]] | None = None) -> pd.DataFrame:
    rows = []
    for m, per_seed in values.items():
        for s, a in enumerate(per_seed):
            for d in ("A→V", "V→A"):
                rows.append({"method": m, "variant": None, "seed": s, "direction": d, "metric": "avg", "A": a,
                             "F": (f or {}).get(m, [1.0] * len(per_seed))[s]})
    return pd.DataFrame(rows)


def test_retrieval_claims_judge_each_ordering():
    vals = {m: [10.0, 11.0, 10.5] for m in TABLE1}
    vals.update(finetune=[2.0, 2.5, 2.2], stella=[12.0, 13.1, 12.4], multitask=[20.0, 21.0, 20.5],
                esmer=[11.0, 11.9, 11.6])
    vals["stella+"] = [9.0, 12.0, 10.0]
    out = C.retrieval_claims(_runs(vals, f={"stella": [0.5, 0.4, 0.6], "derpp": [2.0, 2.1, 1.9]}),
                             {"chance": 4.0, "ceiling": 50.0}).set_index("claim")
    assert list(out.columns) == [c for c in C.COLUMNS if c != "claim"]
    assert out.at["STELLA has a higher A than the best baseline (A→V)", "verdict"] == "holds"
    assert out.at["STELLA has a higher A than the best baseline (A→V)", "ours"].endswith("ESMER 11.50")
    assert out.at["STELLA+ has a higher A than the best baseline (A→V)", "verdict"] == "inconclusive"
    assert out.at["STELLA forgets less than DER++ (F, V→A)", "verdict"] == "holds"
    assert out.at["Multitask is the upper bound (A, A→V)", "verdict"] == "holds"
    assert out.at["Finetune is the lower bound (A, V→A)", "verdict"] == "holds"
    assert (out["chapter"] == "02_retrieval").all() and (out["ceiling"] == 50.0).all() and (out["n_seeds"] == 3).all()
    assert out.at["STELLA has a higher A than the best baseline (A→V)", "paper"] == "STELLA 14.16 vs ESMER 13.58"
    assert len(C.BASELINES) == 7 and "finetune" not in C.BASELINES


def test_ablation_memory_and_sweep_claims():
    out = C.ablation_claims(_runs({"derpp": [5.0, 5.1], "lpis": [6.0, 6.2], "rca": [7.0, 7.1], "stella": [4.0, 4.1],
                                   "random": [6.5, 6.4], "mats": [6.0, 6.1]}))
    stella = out[out["claim"].str.startswith("STELLA")]
    assert set(stella["verdict"]) == {"contradicted"} and len(out) == 12
    assert "RCA only" in stella[stella["claim"].str.contains("better single")]["ours"].iloc[0]
    runs = _runs({"stella": [10.0, 10.2, 10.1]}).assign(variant=0.4)
    runs = pd.concat([runs, _runs({"stella": [8.0, 8.1, 8.3]}).assign(variant=0.1)])
    from stella.report import paper_numbers as P
    sw = C.sweep_claim(runs, 0.4, "beta", P.table10().set_index("beta"))
    assert sw["verdict"].item() == "holds" and sw["paper"].item().startswith("0.4: 14.12 vs 0.1")
    mem = pd.concat([_runs({"er": [5.0, 5.0], "stella": [6.0, 6.1]}).assign(variant=32),
                     _runs({"er": [7.0, 7.2], "stella": [8.0, 8.1]}).assign(variant=64)])
    m = C.memory_claims(mem).set_index("claim")["verdict"]
    assert m["STELLA: memory 64 gives a higher A than 32 (mean of both directions)"] == "holds"


def test_downstream_and_efficiency_claims():
    vals = pd.DataFrame([{"method": m, "seed": s, "value": v} for m, vs in
                         {"derpp": [50, 51], "esmer": [52, 52.5], "stella": [60, 61], "multitask": [55, 56]}.items()
                         for s, v in enumerate(vs)])
    from stella.report.downstream import paper_scores
    out = C.downstream_claims(vals, paper_scores()["classification"], "classification").set_index("claim")["verdict"]
    assert out["STELLA has a higher classification than the best baseline"] == "holds"
    assert out["Multitask is the upper bound (classification)"] == "contradicted"
    no_mt = C.downstream_claims(vals, paper_scores()["unseen retrieval"], "unseen retrieval")
    assert not no_mt["claim"].str.startswith("Multitask").any()      # Table 4 (a) has no Multitask row
    eff = pd.DataFrame([{"method": "derpp", "peak_bytes": 100, "throughput": 10.0},
                        {"method": "stella", "peak_bytes": 50, "throughput": 8.0}])
    e = C.efficiency_claims(eff, "batch 48")
    assert e["verdict"].tolist() == ["holds", "contradicted"] and (e["n_seeds"] == 1).all()
    assert e["claim"].str.endswith("(batch 48)").all() and e["test"].str.contains("one measurement").all()


def test_chance_context_and_summary():
    means = pd.DataFrame({"A→V A": [10.0, 4.0], "V→A A": [8.0, 5.0]}, index=["er", "stella"])
    stds = means * 0.1
    ctx = C.chance_context(means, stds, {"gallery": 128, "chance": 4.17, "ceiling": 49.0})
    assert ctx.at["er", "A→V above chance (%p)"] == pytest.approx(10.0 - 4.17)
    assert ctx.at["stella", "V→A below ceiling (%p)"] == pytest.approx(44.0)
    assert "ER A→V" in C.scale_sentence(ctx, {"gallery": 128, "chance": 4.17, "ceiling": 49.0})
    claims = pd.DataFrame({"verdict": ["holds", "inconclusive", "inconclusive"]})
    assert C.summary_line(claims) == "3 claims: 1 hold, 0 contradicted, 2 inconclusive"
