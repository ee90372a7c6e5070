"""Does the machine move the numbers? One run under each CPU instruction set asked for (nothing asserted).

    python -m benchmarks.bench_kernels --preset smoke [--method stella] [--capabilities native avx2] [--set K=V]

torch picks its fp32 CPU kernels by the instruction set it finds (AVX2, AVX512, ...); the environment
variable ``ATEN_CPU_CAPABILITY`` lowers it (``native``: left unset, torch's own choice on this CPU).
Each capability trains the same run (``stella train``, its pre-training stage included) in a process
of its own, on 1 thread, into an empty run store of its own, and the figures compare each with the
first: the largest |difference| of the stage's losses (the total loss of its joint steps, the AVM's
loss of its AVM-only steps) and of the run's, the first step at which they differ, and the
difference in A (avg recall, %, both directions).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

NATIVE = "native"
KERNELS_THEN_TRAIN = ("import sys, torch; from stella.cli import main; "
                      "print(torch.backends.cpu.get_cpu_capability(), flush=True); sys.exit(main(sys.argv[1:]))")


def _env(capability: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("ATEN_CPU_CAPABILITY", None)
    if capability != NATIVE:
        env["ATEN_CPU_CAPABILITY"] = capability
    return env


def train(capability: str, preset: str, method: str, overrides: list[str], store: Path) -> dict:
    """One run under ``capability`` into ``store``: the kernels torch used, stage and run losses, A per direction."""
    sets = [a for o in ["run.num_threads=1", "run.progress=false", *overrides] for a in ("--set", o)]
    out = subprocess.run([sys.executable, "-c", KERNELS_THEN_TRAIN, "train", "--preset", preset, "--method", method,
                          "--results", str(store), *sets], env=_env(capability), check=True, capture_output=True,
                         text=True).stdout
    used = out.split("\n", 1)[0]
    run = next(store.glob("*/COMPLETE")).parent
    stage = [json.loads(p.read_text()) for p in store.glob("pretrain/*/log.json")]
    summary = json.loads((run / "summary.json").read_text())
    return {"kernels": used, "stage": [r.get("loss", r["avm"]) for r in (stage[0] if stage else [])],
            "run": [r["loss"] for r in json.loads((run / "losses.json").read_text())],
            "A": {r["direction"]: r["A"] for r in summary if r["metric"] == "avg"}}


def compare(a: list[float], b: list[float]) -> str:
    """Largest |a - b| over the common steps and the first step (1-based) at which they differ."""
    diffs = [abs(x - y) for x, y in zip(a, b)]
    if not diffs:
        return "no losses"
    first = next((i + 1 for i, d in enumerate(diffs) if d > 0), None)
    where = f"first differ at step {first} ({diffs[first - 1]:.1e})" if first else "identical"
    return f"max |diff| {max(diffs):.1e} over {len(diffs)} steps, {where}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="smoke")
    p.add_argument("--method", default="stella")
    p.add_argument("--capabilities", nargs="+", default=[NATIVE, "avx2"],
                   help=f"ATEN_CPU_CAPABILITY values ({NATIVE}: unset); the first is the reference")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-kernels-") as tmp:
        got = {c: train(c, args.preset, args.method, args.set, Path(tmp) / c) for c in args.capabilities}
    ref_name, ref = args.capabilities[0], got[args.capabilities[0]]
    print(f"{args.method} at {args.preset}{''.join(' ' + o for o in args.set)}, 1 thread; reference: {ref_name} "
          f"(torch's {ref['kernels']} kernels), A " + ", ".join(f"{d} {a:.3f}" for d, a in ref["A"].items()))
    for name in args.capabilities[1:]:
        g = got[name]
        print(f"{name} (torch's {g['kernels']} kernels) against {ref_name}:")
        print(f"  pre-training stage losses: {compare(ref['stage'], g['stage'])}")
        print(f"  run losses: {compare(ref['run'], g['run'])}")
        print("  A (avg recall, %): " + ", ".join(f"{d} {g['A'][d]:.3f} ({g['A'][d] - a:+.3f})"
                                                 for d, a in ref["A"].items()))


if __name__ == "__main__":
    main()
