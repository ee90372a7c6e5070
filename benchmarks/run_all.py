"""Every benchmark at one preset: `make bench PRESET=cpu` (figures printed, nothing asserted)."""
from __future__ import annotations

import argparse

from benchmarks import bench_data, bench_methods, bench_model, bench_selection, bench_signal, bench_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    a = ap.parse_args()
    for title, run in (("data", lambda: bench_data.main(["--preset", a.preset])),
                       ("backbone: full vs selected patches", lambda: bench_model.main(["--preset", a.preset, "--device", a.device])),
                       ("selection", lambda: bench_selection.main(["--preset", a.preset])),
                       ("one training step: compute-bound?", lambda: bench_step.main(["--preset", a.preset])),
                       ("methods (Table 2)", lambda: bench_methods.main(["--preset", a.preset, "--device", a.device])),
                       ("signal (issue 12: pre-training, localisation, continual targets)",
                        lambda: bench_signal.main(["--preset", a.preset]))):
        print(f"\n=== {title} ===", flush=True)
        run()


if __name__ == "__main__":
    main()
