"""Speed and memory of ``bids_lrp-simulate`` (issue 3: <= 5 s per subject, <= 2 GB).

Usage::

    .venv/bin/python benchmarks/simulate_speed.py --n-subjects 4

Prints a Markdown table: one-time setup (template, atlas, atrophy calibration), seconds per
scan (total / scans; writing scan i overlaps rendering scan i + 1) and the peak resident
memory of the process.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

from bids_lrp.simulate import simulate_cohort
from bids_lrp.simulate.atrophy import atrophy_model
from bids_lrp.simulate.plan import DEFAULT_REGIONS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-subjects", type=int, default=4)
    parser.add_argument("--sessions", type=int, default=1)
    args = parser.parse_args()

    start = time.perf_counter()
    atrophy_model(DEFAULT_REGIONS)
    setup = time.perf_counter() - start
    stamps = []
    with tempfile.TemporaryDirectory() as tmp:
        begin = time.perf_counter()
        simulate_cohort(
            os.path.join(tmp, "bids"),
            n_subjects=args.n_subjects,
            sessions=args.sessions,
            progress=lambda done, total, name: stamps.append(done),
        )
        total = time.perf_counter() - begin
        size = (
            sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tmp) for f in fs)
            / 2**20
        )
    scans = len(stamps)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("| cores | scans | setup s | total s | s/scan | peak RSS MB | MB on disk/scan |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {len(os.sched_getaffinity(0))} | {scans} | {setup:.1f} | {total:.1f} | "
        f"{total / scans:.2f} | {peak_mb:.0f} | {size / scans:.1f} |"
    )


if __name__ == "__main__":
    main()
