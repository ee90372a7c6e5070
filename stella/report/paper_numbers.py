"""The paper's numbers as data (STELLA, ICML 2024), typed in from the paper's tables.

Every accessor returns a tidy pandas DataFrame with a ``source = "paper"`` column so that a
notebook can never show one of these numbers without the label. Method keys are the registry
names of :mod:`stella.continual.methods` (``finetune``, ``er``, ``mir``, ``derpp``, ``gmed``,
``clser``, ``lump``, ``esmer``, ``stella``, ``stella+``, ``stella++``, ``multitask``, and the
Table 3 ablations ``random``, ``mats``, ``lpis``, ``rca``); :data:`METHOD_LABELS` gives the
paper's display names. Retrieval numbers are percentages; ``None`` is the paper's "—"/"-".

* :func:`table1` / :func:`table7` - zero-shot retrieval A and F, R@1/5/10/avg, both directions,
  Continual-VS and Continual-AS (Table 7: shuffled task order).
* :func:`table2` - A/F of the avg recall, GPU memory (GB) and throughput (samples/s).
* :func:`table3`, :func:`table9`, :func:`table10`, :func:`fig9b` - ablations (Continual-VS).
* :func:`table4` (a MSR-VTT retrieval, b classification, c segmentation), :func:`table8`
  (a MSR-VTT after Continual-AS, b AVE event localisation).
Figure 5 and Fig. 9 (a) are plots without printed values, so they have no entry here.
"""
from __future__ import annotations

import pandas as pd

DIRECTIONS = ("A→V", "V→A")
METRICS = ("R@1", "R@5", "R@10", "avg")
BENCHMARKS = ("continual-vs", "continual-as")

METHOD_LABELS = {
    "finetune": "Finetune", "er": "ER", "mir": "MIR", "derpp": "DER++", "gmed": "GMED", "clser": "CLS-ER",
    "lump": "LUMP", "esmer": "ESMER", "stella": "STELLA", "stella+": "STELLA+", "stella++": "STELLA++",
    "multitask": "Multitask", "random": "Random", "mats": "MATS", "lpis": "LPIS only", "rca": "RCA only",
}
TABLE1 = ("finetune", "er", "mir", "derpp", "gmed", "clser", "lump", "esmer", "stella", "stella+", "multitask")  # rows
TABLE3 = ("random", "mats", "derpp", "lpis", "rca", "stella")                                             # rows

# The paper's baselines of STELLA (Finetune and Multitask are its bounds, claimed separately) and its methods.
BASELINES = ("er", "mir", "derpp", "gmed", "clser", "lump", "esmer")
OURS = ("stella", "stella+")

_ = None  # the paper's "—"

# Row layout of Tables 1 and 7: R@1 A, R@1 F, R@5 A, R@5 F, R@10 A, R@10 F, Avg A, Avg F,
# first the eight Continual-VS columns, then the eight Continual-AS columns.
_TABLE1 = {
    "A→V": {
        "finetune": [0.98, 4.16, 3.75, 11.98, 6.17, 15.35, 3.63, 10.50, 1.48, 2.90, 3.84, 11.34, 5.41, 17.83, 3.58, 10.69],
        "er": [4.09, 3.66, 11.66, 9.17, 17.78, 10.20, 11.18, 7.68, 4.94, 2.97, 12.33, 7.46, 17.60, 11.17, 11.62, 7.20],
        "mir": [4.59, 3.14, 12.26, 8.34, 17.51, 11.17, 11.45, 7.55, 5.21, 2.93, 13.16, 7.10, 18.04, 9.14, 12.14, 6.39],
        "derpp": [4.03, 3.62, 13.74, 6.31, 19.79, 7.11, 12.52, 5.68, 4.51, 3.75, 12.15, 8.42, 16.85, 11.86, 11.17, 8.01],
        "gmed": [4.17, 2.73, 12.01, 6.84, 18.95, 6.33, 11.71, 5.30, 4.71, 2.27, 12.83, 7.45, 18.44, 9.18, 11.99, 6.30],
        "clser": [4.61, 3.20, 14.07, 6.77, 19.54, 8.92, 12.74, 6.30, 4.17, 4.50, 11.28, 11.06, 16.85, 12.55, 10.77, 9.37],
        "lump": [3.56, 2.79, 11.68, 7.65, 17.40, 8.52, 10.88, 6.32, 3.73, 3.03, 13.74, 5.29, 19.50, 8.17, 12.32, 5.50],
        "esmer": [4.51, 3.68, 14.98, 6.22, 21.25, 7.50, 13.58, 5.80, 5.18, 4.92, 14.14, 9.19, 18.69, 12.84, 12.67, 8.98],
        "stella": [5.34, 2.04, 15.04, 5.20, 22.10, 5.90, 14.16, 4.38, 5.22, 2.26, 13.09, 7.95, 18.75, 10.65, 12.35, 6.95],
        "stella+": [5.39, 2.71, 16.76, 5.15, 24.18, 5.99, 15.44, 4.62, 5.36, 4.24, 16.76, 5.54, 23.65, 7.44, 15.26, 5.74],
        "multitask": [6.45, _, 20.19, _, 29.01, _, 18.55, _, 8.28, _, 24.14, _, 33.74, _, 22.05, _],
    },
    "V→A": {
        "finetune": [1.22, 4.47, 4.17, 11.23, 6.95, 14.67, 4.11, 10.12, 1.50, 3.23, 4.08, 10.04, 6.33, 14.43, 3.97, 9.23],
        "er": [3.28, 3.94, 11.30, 8.86, 16.40, 11.37, 10.33, 8.06, 3.70, 4.36, 10.76, 10.34, 15.68, 15.06, 10.05, 9.92],
        "mir": [3.54, 3.47, 11.82, 9.11, 16.69, 12.90, 10.68, 8.49, 4.26, 4.59, 11.29, 9.87, 15.97, 13.73, 10.51, 9.40],
        "derpp": [3.49, 3.86, 13.22, 7.09, 19.03, 9.04, 11.91, 6.66, 4.23, 4.50, 11.66, 10.10, 16.24, 13.97, 10.71, 9.52],
        "gmed": [3.71, 2.61, 11.87, 6.46, 17.20, 9.57, 10.93, 6.21, 3.99, 4.42, 10.65, 10.39, 15.41, 14.78, 10.02, 9.86],
        "clser": [4.09, 3.11, 13.30, 6.96, 19.43, 9.68, 12.27, 6.58, 4.25, 4.58, 9.78, 11.65, 13.45, 17.65, 9.16, 11.29],
        "lump": [3.24, 3.30, 11.02, 7.55, 16.91, 9.13, 10.39, 6.66, 3.13, 3.91, 10.60, 8.63, 16.02, 12.26, 9.92, 8.27],
        "esmer": [4.65, 2.74, 14.54, 6.27, 20.80, 8.36, 13.33, 5.79, 4.39, 4.92, 11.55, 12.16, 16.41, 16.41, 10.78, 11.16],
        "stella": [5.30, 2.40, 15.43, 4.84, 21.47, 6.70, 14.07, 4.65, 4.49, 3.39, 12.08, 9.00, 17.31, 12.75, 11.29, 8.38],
        "stella+": [5.86, 1.56, 17.21, 4.09, 23.53, 6.02, 15.53, 3.89, 5.48, 4.06, 15.65, 7.13, 22.29, 8.92, 14.47, 6.70],
        "multitask": [6.85, _, 21.93, _, 30.63, _, 19.80, _, 8.05, _, 25.81, _, 35.60, _, 23.15, _],
    },
}

# Table 7: shuffled task order (appendix E). Multitask is order-free, the paper repeats Table 1's row.
_TABLE7 = {
    "A→V": {
        "finetune": [0.80, 4.15, 2.96, 12.23, 5.05, 16.91, 2.94, 11.10, 1.50, 4.72, 5.49, 10.41, 9.80, 11.91, 5.60, 9.01],
        "er": [3.89, 3.06, 12.10, 6.55, 18.30, 7.74, 11.43, 5.78, 4.52, 3.16, 12.72, 6.93, 18.83, 8.00, 12.02, 6.03],
        "mir": [4.02, 2.97, 12.54, 6.16, 17.99, 8.09, 11.52, 5.74, 4.69, 2.95, 13.22, 6.50, 18.98, 8.81, 12.30, 6.09],
        "derpp": [4.23, 3.35, 12.92, 7.31, 18.62, 9.45, 11.92, 6.70, 4.32, 4.27, 12.29, 8.46, 18.74, 10.18, 11.78, 7.64],
        "gmed": [3.90, 2.94, 11.51, 7.41, 17.65, 8.87, 11.02, 6.41, 4.70, 2.48, 12.56, 4.55, 18.62, 5.05, 11.96, 4.03],
        "clser": [3.94, 3.35, 12.96, 7.19, 18.09, 10.66, 11.66, 7.07, 5.16, 2.97, 14.33, 6.88, 20.24, 8.74, 13.24, 6.20],
        "lump": [4.06, 2.18, 13.21, 4.66, 19.34, 5.58, 12.20, 4.14, 4.45, 3.40, 13.05, 6.25, 19.45, 7.28, 12.32, 5.64],
        "esmer": [4.38, 3.36, 13.31, 8.28, 19.39, 9.20, 12.36, 6.95, 5.43, 3.85, 15.81, 6.20, 21.40, 8.81, 14.21, 6.29],
        "stella": [4.72, 2.89, 14.17, 5.74, 19.94, 5.74, 12.94, 4.79, 4.97, 3.47, 13.91, 5.59, 20.30, 6.70, 13.06, 5.25],
        "stella+": [4.90, 3.19, 16.42, 4.72, 23.49, 5.89, 14.94, 4.60, 5.77, 3.90, 17.51, 4.49, 23.72, 7.07, 15.67, 5.15],
        "multitask": [6.45, _, 20.19, _, 29.01, _, 18.55, _, 8.28, _, 24.14, _, 33.74, _, 22.05, _],
    },
    "V→A": {
        "finetune": [0.78, 3.77, 3.00, 11.68, 5.21, 15.86, 3.00, 10.44, 1.42, 5.11, 6.54, 10.30, 10.43, 13.48, 6.13, 9.63],
        "er": [3.57, 2.76, 11.66, 7.67, 16.75, 10.76, 10.66, 7.06, 4.01, 4.31, 12.47, 7.27, 19.32, 9.26, 11.93, 6.95],
        "mir": [3.35, 3.15, 11.37, 7.74, 16.62, 10.11, 10.45, 7.00, 4.25, 3.43, 12.92, 6.93, 19.43, 9.78, 12.20, 6.71],
        "derpp": [4.08, 3.10, 12.78, 9.02, 18.77, 11.30, 11.88, 7.81, 4.31, 4.35, 12.60, 9.59, 18.93, 12.27, 11.95, 8.74],
        "gmed": [3.42, 3.80, 11.45, 7.76, 17.06, 9.94, 10.64, 7.17, 4.20, 1.87, 12.97, 6.04, 19.98, 8.11, 12.38, 5.34],
        "clser": [3.49, 3.85, 12.28, 8.05, 17.75, 11.31, 11.17, 7.74, 4.85, 5.48, 13.37, 9.17, 19.69, 11.36, 12.64, 8.67],
        "lump": [3.98, 1.67, 12.44, 5.17, 18.11, 7.27, 11.51, 4.70, 4.23, 4.06, 13.53, 6.09, 19.27, 9.53, 12.34, 6.56],
        "esmer": [4.44, 3.35, 13.32, 8.69, 19.47, 10.27, 12.41, 7.44, 5.12, 5.48, 14.73, 8.79, 20.35, 12.41, 13.40, 8.89],
        "stella": [4.18, 2.54, 13.81, 6.56, 19.90, 8.88, 12.63, 5.99, 4.86, 2.92, 14.20, 6.41, 20.00, 9.82, 13.02, 6.38],
        "stella+": [5.28, 1.81, 15.35, 6.33, 21.97, 8.01, 14.20, 5.38, 5.57, 3.80, 16.67, 6.96, 23.91, 9.28, 15.38, 6.68],
        "multitask": [6.85, _, 21.93, _, 30.63, _, 19.80, _, 8.05, _, 25.81, _, 35.60, _, 23.15, _],
    },
}

# Table 2 (Continual-VS, one V100, batch 9; STELLA++ batch 15): A→V A, A→V F, V→A A, V→A F, GPU M. (GB), T.P.
_TABLE2 = {
    "finetune": [3.63, 10.50, 4.11, 10.12, 18.34, 29.46],
    "er": [11.18, 7.68, 10.33, 8.06, 30.95, 17.70],
    "mir": [11.45, 7.55, 10.68, 8.49, 31.17, 5.73],
    "derpp": [12.52, 5.68, 11.91, 6.66, 30.95, 17.79],
    "gmed": [11.71, 5.30, 10.93, 6.21, 32.03, 5.63],
    "clser": [12.74, 6.30, 12.27, 6.58, 32.50, 15.24],
    "lump": [10.88, 6.32, 10.39, 6.66, 18.36, 26.67],
    "esmer": [13.58, 5.80, 13.33, 5.79, 31.45, 14.88],
    "stella": [14.16, 4.38, 14.07, 4.65, 17.45, 17.29],
    "stella+": [15.44, 4.62, 15.53, 3.89, 17.15, 18.11],
    "stella++": [17.01, 3.20, 16.62, 3.27, 24.69, _],
}
# Section 5.2: rehearsal memory 5.47 GB; STELLA's stored queries/scores +0.16 GB; CLS-ER +1.42 GB, ESMER +0.71 GB.
MEMORY_GB = {"rehearsal_memory": 5.47, "stella_extra": 0.16, "clser_extra": 1.42, "esmer_extra": 0.71}
TABLE2_BATCH = {"default": 9, "stella++": 15}

# Table 3 (Continual-VS): A→V A, A→V F, V→A A, V→A F, GPU M. (GB). The unnamed no-LPIS/no-RCA row is DER++.
_TABLE3 = {
    "random": [12.64, 6.46, 12.55, 6.58, 16.63],
    "mats": [12.91, 6.55, 12.70, 6.80, 21.30],
    "derpp": [12.52, 5.68, 11.91, 6.66, 30.95],
    "lpis": [13.44, 5.50, 13.27, 5.94, 17.48],
    "rca": [13.40, 5.30, 12.94, 5.44, 17.48],
    "stella": [14.16, 4.38, 14.07, 4.65, 17.45],
}
TABLE3_COMPONENTS = {"random": ("—", "—"), "mats": ("—", "—"), "derpp": ("—", "—"), "lpis": ("✓", "—"),
                     "rca": ("—", "✓"), "stella": ("✓", "✓")}

# Table 4 (Continual-VS models). (a) MSR-VTT: A→V R@1, R@5, R@10, V→A R@1, R@5, R@10.
_TABLE4A = {
    "finetune": [1.00, 4.15, 6.44, 1.33, 3.19, 6.15],
    "er": [2.26, 7.89, 13.38, 2.26, 8.78, 13.42],
    "mir": [2.48, 7.59, 11.89, 1.85, 7.37, 11.81],
    "derpp": [1.93, 8.23, 13.75, 2.52, 8.30, 13.42],
    "gmed": [1.67, 6.81, 11.81, 1.44, 6.04, 11.59],
    "clser": [2.15, 8.45, 12.93, 2.15, 7.63, 12.82],
    "lump": [1.78, 7.70, 12.07, 1.59, 7.04, 11.81],
    "esmer": [2.33, 8.37, 13.78, 2.30, 8.48, 13.93],
    "stella": [2.70, 8.70, 13.96, 2.67, 8.81, 14.30],
    "stella+": [2.37, 9.11, 15.07, 2.44, 10.14, 15.62],
}
# (b) audiovisual classification accuracy, (c) AVSBench segmentation mIoU.
_TABLE4B = {"finetune": 57.04, "er": 57.09, "mir": 56.82, "derpp": 57.23, "gmed": 57.34, "clser": 57.23,
            "lump": 57.70, "esmer": 57.72, "stella": 58.20, "stella+": 58.54, "multitask": 59.94}
_TABLE4C = {"finetune": 54.77, "er": 54.64, "mir": 54.69, "derpp": 55.42, "gmed": 55.92, "clser": 55.89,
            "lump": 55.34, "esmer": 55.84, "stella": 56.59, "stella+": 57.26, "multitask": 58.51}

# Table 8 (a): MSR-VTT retrieval with Continual-AS models, same column layout as Table 4 (a).
_TABLE8A = {
    "finetune": [0.52, 2.81, 4.82, 0.67, 2.82, 5.08],
    "er": [1.48, 6.70, 11.48, 1.74, 7.19, 12.07],
    "mir": [1.56, 5.97, 10.23, 1.85, 6.93, 11.89],
    "derpp": [2.74, 9.08, 14.49, 2.45, 9.49, 14.60],
    "gmed": [2.07, 8.04, 13.11, 2.70, 8.44, 12.89],
    "clser": [2.78, 9.40, 14.43, 2.89, 8.73, 14.54],
    "lump": [2.33, 8.15, 12.75, 2.04, 7.93, 12.45],
    "esmer": [2.89, 9.70, 15.56, 2.70, 10.22, 16.04],
    "stella": [2.74, 9.26, 15.37, 2.85, 9.48, 15.56],
    "stella+": [2.93, 10.22, 16.33, 3.67, 10.22, 16.26],
}
# Table 8 (b): AVE audiovisual event localisation accuracy (Continual-VS models, frozen backbone, linear head).
# The paper's layout lists the baselines in Table 8 (a)'s row order beside "AVE"; we read them in that order.
_TABLE8B = {"finetune": 52.56, "er": 54.98, "mir": 56.13, "derpp": 55.81, "gmed": 55.98, "clser": 56.39,
            "lump": 55.06, "esmer": 55.60, "stella": 56.68, "stella+": 56.68, "multitask": 57.73}

# Table 9: sampling ratios (the other ratio at 50 %); Table 10: AVM temperature beta; Fig. 9 (b): audio modes.
# Columns: A→V A, A→V F, V→A A, V→A F.
_TABLE9 = {("rho_a", 0.375): [13.76, 4.77, 13.52, 5.53], ("rho_a", 0.5): [14.16, 4.38, 14.07, 4.65],
           ("rho_a", 0.625): [13.77, 5.04, 13.46, 5.06], ("rho_v", 0.375): [13.35, 5.57, 13.39, 5.93],
           ("rho_v", 0.5): [14.16, 4.38, 14.07, 4.65], ("rho_v", 0.625): [13.82, 4.50, 13.53, 5.27]}
_TABLE10 = {0.1: [13.91, 5.42, 14.23, 4.97], 0.4: [14.16, 4.38, 14.07, 4.65], 0.5: [13.37, 5.27, 13.50, 5.84]}
_FIG9B = {"frequency": [13.42, 5.51, 12.76, 6.40], "none": [12.67, 6.55, 12.78, 6.61],
          "time": [14.16, 4.38, 14.07, 4.65]}
FIG9B_LABELS = {"frequency": "Frequency", "none": "No constraint", "time": "Time"}

# Claims of section 5.2 quoted as numbers.
CLAIMS = {
    # STELLA / STELLA+ gain over the best baseline, avg A (Continual-VS), A→V and V→A (%p).
    "vs_gain_stella": {"A→V": 0.58, "V→A": 0.74},
    "vs_gain_stella+": {"A→V": 1.86, "V→A": 2.20},
    "as_gain_stella+": {"A→V": 2.59, "V→A": 3.69},
    # STELLA / DER++ (Table 2): GPU memory 17.45 / 30.95, throughput 17.29 / 17.79.
    "memory_ratio_stella_derpp": 17.45 / 30.95,
    "throughput_ratio_stella_derpp": 17.29 / 17.79,
}

_AF_COLS = [("A→V", "A"), ("A→V", "F"), ("V→A", "A"), ("V→A", "F")]


def _retrieval(data: dict, benchmark: str | None) -> pd.DataFrame:
    rows = []
    for direction, per_method in data.items():
        for method, vals in per_method.items():
            for b_i, bench in enumerate(BENCHMARKS):
                for m_i, metric in enumerate(METRICS):
                    a, f = vals[8 * b_i + 2 * m_i], vals[8 * b_i + 2 * m_i + 1]
                    rows.append({"benchmark": bench, "method": method, "direction": direction, "metric": metric,
                                 "A": a, "F": float("nan") if f is None else f})
    df = pd.DataFrame(rows)
    if benchmark is not None:
        if benchmark not in BENCHMARKS:
            raise ValueError(f"benchmark must be one of {BENCHMARKS}, got {benchmark!r}")
        df = df[df["benchmark"] == benchmark].reset_index(drop=True)
    df["source"] = "paper"
    return df


def table1(benchmark: str | None = "continual-vs") -> pd.DataFrame:
    """Table 1 rows ``benchmark, method, direction, metric, A, F, source`` (F NaN for Multitask)."""
    return _retrieval(_TABLE1, benchmark)


def table7(benchmark: str | None = "continual-vs") -> pd.DataFrame:
    """Table 7 (shuffled task order), same layout as :func:`table1`."""
    return _retrieval(_TABLE7, benchmark)


def retrieval_table(task_order: str = "default", benchmark: str | None = "continual-vs") -> pd.DataFrame:
    """Table 1 for the default task order, Table 7 for ``"shuffled"``."""
    if task_order == "shuffled":
        return table7(benchmark)
    if task_order == "default":
        return table1(benchmark)
    raise ValueError(f"the paper reports task_order 'default' (Table 1) and 'shuffled' (Table 7), got {task_order!r}")


def _af_frame(data: dict, key: str, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    rows = []
    for k, vals in data.items():
        row = {key: k}
        for (d, s), v in zip(_AF_COLS, vals):
            row[f"{d} {s}"] = v
        for name, v in zip(extra, vals[4:]):
            row[name] = float("nan") if v is None else v
        rows.append(row)
    df = pd.DataFrame(rows)
    df["source"] = "paper"
    return df


def table2() -> pd.DataFrame:
    """Table 2: ``method, A→V A, A→V F, V→A A, V→A F, gpu_mem_gb, throughput`` (+ source)."""
    return _af_frame(_TABLE2, "method", ("gpu_mem_gb", "throughput"))


def table3() -> pd.DataFrame:
    """Table 3: sampling methods built on DER++; ``LPIS``/``RCA`` mark the components used."""
    df = _af_frame(_TABLE3, "method", ("gpu_mem_gb",))
    df.insert(1, "LPIS", [TABLE3_COMPONENTS[m][0] for m in df["method"]])
    df.insert(2, "RCA", [TABLE3_COMPONENTS[m][1] for m in df["method"]])
    return df


def table9() -> pd.DataFrame:
    """Table 9: ``ratio (rho_a|rho_v), value, A→V A ...``; the other ratio is 0.5."""
    df = _af_frame({i: v for i, v in enumerate(_TABLE9.values())}, "row")
    keys = list(_TABLE9)
    df.insert(0, "ratio", [k[0] for k in keys])
    df.insert(1, "value", [k[1] for k in keys])
    return df.drop(columns="row")


def table10() -> pd.DataFrame:
    """Table 10: AVM inference temperature ``beta``."""
    return _af_frame(_TABLE10, "beta")


def fig9b() -> pd.DataFrame:
    """Fig. 9 (b): audio selection mode (``selection.audio_mode``: frequency / none / time)."""
    return _af_frame(_FIG9B, "audio_mode")


def _recall_frame(data: dict) -> pd.DataFrame:
    rows = []
    for method, vals in data.items():
        for i, d in enumerate(DIRECTIONS):
            for j, metric in enumerate(("R@1", "R@5", "R@10")):
                rows.append({"method": method, "direction": d, "metric": metric, "value": vals[3 * i + j]})
    df = pd.DataFrame(rows)
    df["source"] = "paper"
    return df


def table4(part: str = "b") -> pd.DataFrame:
    """Table 4: ``"a"`` MSR-VTT retrieval (tidy recall rows), ``"b"`` classification accuracy,
    ``"c"`` AVSBench segmentation mIoU (``method, value, source``)."""
    if part == "a":
        return _recall_frame(_TABLE4A)
    if part in ("b", "c"):
        data = _TABLE4B if part == "b" else _TABLE4C
        return pd.DataFrame({"method": list(data), "value": list(data.values()), "source": "paper"})
    raise ValueError(f"Table 4 has parts 'a', 'b', 'c', got {part!r}")


def table8(part: str = "b") -> pd.DataFrame:
    """Table 8: ``"a"`` MSR-VTT retrieval with Continual-AS models, ``"b"`` AVE event localisation."""
    if part == "a":
        return _recall_frame(_TABLE8A)
    if part == "b":
        return pd.DataFrame({"method": list(_TABLE8B), "value": list(_TABLE8B.values()), "source": "paper"})
    raise ValueError(f"Table 8 has parts 'a' and 'b', got {part!r}")


def label(method: str) -> str:
    """The paper's display name of a registry method name (unknown names are returned as given)."""
    return METHOD_LABELS.get(method, method)

