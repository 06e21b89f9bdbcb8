"""What does reusing sMRIPrep/fMRIPrep transforms (``--derivatives``) save per image?

Question: on the same simulated images (1 mm, whole head), how long does the participant level
take when it registers (affine, as the shipped model's card says, and SyN) and when it takes the
transforms from sMRIPrep-style derivatives (here the simulator's true transforms written under
sMRIPrep's names, as the tests do)?

    .venv/bin/python benchmarks/reuse_speed.py --work /tmp/reuse_speed [--n-subjects 2]

Prints the wall time of each run (every run in a fresh work folder, the same ``--nprocs`` and
``--omp-nthreads``) and the saving per image.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NIPYPE_NO_ET", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--n-subjects", type=int, default=2)
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--nprocs", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bids_lrp.cli.run import main as bids_lrp
    from bids_lrp.simulate import simulate_cohort
    from tests.e2e.helpers import make_smriprep

    bids, smriprep = args.work / "bids", args.work / "smriprep"
    if not bids.is_dir():
        simulate_cohort(bids, n_subjects=args.n_subjects, seed=args.seed)
    if not smriprep.is_dir():
        make_smriprep(bids, smriprep)
    common = ["--nprocs", str(args.nprocs), "--omp-nthreads", "1", "--skip-bids-validation",
              "--no-native-space", "--faithfulness-steps", "0"]  # fmt: skip
    runs = {
        "register (affine)": ["--registration", "affine"],
        "register (SyN)": ["--registration", "syn"],
        "reuse (--derivatives)": ["--derivatives", f"smriprep={smriprep}"],
    }
    seconds = {}
    for index, (name, extra) in enumerate(runs.items()):
        key = f"{index}_{name.split()[0]}"
        start = time.perf_counter()
        code = bids_lrp([str(bids), str(args.work / f"out_{key}"), "participant",
                         "-w", str(args.work / f"work_{key}"), *common, *extra])  # fmt: skip
        seconds[name] = time.perf_counter() - start
        if code != 0:
            raise SystemExit(f"{name}: exit {code}")
    n = args.n_subjects
    print(f"| run | wall s ({n} images) | s per image |")
    print("|---|---|---|")
    for name, value in seconds.items():
        print(f"| {name} | {value:.0f} | {value / n:.1f} |")
    reuse = seconds["reuse (--derivatives)"]
    for name in ("register (affine)", "register (SyN)"):
        print(f"\nreuse saves {(seconds[name] - reuse) / n:.1f} s per image against {name}")


if __name__ == "__main__":
    main()
