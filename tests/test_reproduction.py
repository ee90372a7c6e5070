"""The claim checks of the "What reproduced" chapter, on hand-made aggregates."""
import pandas as pd

from stella.report.reproduction import BASELINES, TABLE1, ablation_claims, efficiency_claims, retrieval_claims


def _agg(values: dict[str, float], f: dict[str, float] | None = None) -> pd.DataFrame:
    rows = []
    for m, a in values.items():
        for d in ("A→V", "V→A"):
            rows.append({"method": m, "direction": d, "A_mean": a, "F_mean": (f or {}).get(m, 1.0)})
    return pd.DataFrame(rows)


def test_retrieval_claims_follow_the_numbers():
    vals = {m: 10.0 for m in TABLE1}
    vals.update(finetune=2.0, stella=12.0, multitask=20.0, esmer=11.0)
    vals["stella+"] = 9.0
    out = retrieval_claims(_agg(vals, f={"stella": 0.5, "derpp": 2.0})).set_index("claim")["reproduced"]
    assert out["STELLA has a higher A (avg, A→V) than every baseline"] == "yes"
    assert out["STELLA+ has a higher A (avg, A→V) than every baseline"] == "no"
    assert out["STELLA forgets less than DER++ (F avg, V→A)"] == "yes"
    assert out["Multitask is the upper bound (A avg, A→V)"] == "yes"
    assert out["Finetune is the lower bound (A avg, V→A)"] == "yes"
    assert len(BASELINES) == 7


def test_ablation_and_efficiency_claims():
    out = ablation_claims(_agg({"derpp": 5, "lpis": 6, "rca": 7, "stella": 6.5, "random": 6.5}))
    assert set(out["reproduced"]) == {"no"}
    eff = pd.DataFrame([{"method": "derpp", "peak_bytes": 100, "throughput": 10.0},
                        {"method": "stella", "peak_bytes": 50, "throughput": 9.0}])
    e = efficiency_claims(eff).set_index("claim")["reproduced"]
    assert e["STELLA's training memory / DER++'s"] == "yes" and e["STELLA's throughput / DER++'s"] == "no"
    labelled = efficiency_claims(eff, "batch 48")["claim"].tolist()
    assert labelled == ["STELLA's training memory / DER++'s (batch 48)", "STELLA's throughput / DER++'s (batch 48)"]


def test_chance_context_subtracts_the_random_ranking():
    from stella.report.reproduction import chance_context

    agg = pd.DataFrame({"method": ["er", "stella"], "direction": ["A→V", "A→V"], "A_mean": [10.0, 4.0],
                        "A_std": [1.0, 0.5], "F_mean": [0.0, 0.0]})
    out = chance_context(agg, 128)
    chance = (1 + 5 + 10) * 100 / 128 / 3
    assert list(out.columns) == ["method", "direction", "A_mean", "chance", "above_chance", "A_std"]
    assert out["above_chance"].tolist() == [10.0 - chance, 4.0 - chance]
