"""Do the explanations point where the disease is? Ground truth from the simulator.

A thin caller of ``bids_lrp-benchmark`` (`bids_lrp.benchmark`) with every method: a fresh
simulated cohort (a seed used neither for training nor for choosing the model: the demo model
was chosen on seed 7001, see ``model_screen.py``) goes through the real participant level (N4,
affine registration, the model, every method, faithfulness, cascading randomization), and the
planted atrophy masks in template space are the ground truth:

    .venv/bin/python benchmarks/localization.py --n-subjects 40 --seed 7002 --work /tmp/loc7002

(severity 0.3 and the shipped model by default: ``make model`` trained it with seed 200). It
prints the benchmark's table as Markdown for ``RESULTS.md``; ``--work`` also gets the
benchmark's own files (``benchmark.html``, ``benchmark.tsv``, ...).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NIPYPE_NO_ET", "1")
#: Every method, the paper's betas and guided backpropagation as the participant level runs it.
METHODS = (
    "boehle2019",
    "boehle2019:beta=1",
    "alpha-beta",
    "epsilon",
    "composite",
    "guided-backprop",
    "gradient",
    "gradient-x-input",
    "grad-cam",
    "integrated-gradients",
    "smoothgrad",
    "occlusion",
)


def _pct(value) -> str:
    return "n/a" if value != value else f"{value:.1%}"


def markdown(result) -> str:
    """The benchmark's table of methods as Markdown."""
    lines = [
        "| method | AD pos. relevance in planted | +3 mm | pointing game | planted ranks "
        "(of N, by) | top-3 planted | rho dense / all randomized | AOPC MoRF / random / "
        "LeRF | AD cosine | CN/AD positive |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result.methods.to_dict("records"):
        lines.append(
            f"| {r['method']} | {_pct(r['inside'])} | {_pct(r['inside_wide'])} | "
            f"{_pct(r['pointing'])} | {r['planted_ranks']} (of {r['n_areas']}, by "
            f"{r['ranking']}) | {r['top3_planted']}/3 | {r['randomization']:.2f} / "
            f"{r['randomization_all']:.2f} | {r['aopc_morf']:.3f} / {r['aopc_random']:.3f} / "
            f"{r['aopc_lerf']:.3f} | {r['ad_cosine']:.2f} | {r['cn_over_ad_positive']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--n-subjects", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7002)
    parser.add_argument("--severity", type=float, default=0.3)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--nprocs", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--reuse", action="store_true", help="score the outputs in --work/out")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bids_lrp.benchmark import run_benchmark

    start = time.perf_counter()
    result = run_benchmark(
        args.work,
        n_subjects=args.n_subjects,
        seed=args.seed,
        severity=args.severity,
        model=args.model,
        methods=args.methods,
        nprocs=args.nprocs,
        reuse=args.reuse,
    )
    s = result.summary
    print(f"{s['scans']} scans ({s['ad_scans']} AD) in {time.perf_counter() - start:.0f} s")
    print(
        f"balanced accuracy {s['balanced_accuracy']:.3f} (sensitivity {s['sensitivity']:.3f}, "
        f"specificity {s['specificity']:.3f})"
    )
    print(
        f"planted areas: {', '.join(s['planted_areas'])}; brain share "
        f"{s['planted_brain_share']:.2%} ({s['planted_wide_brain_share']:.2%} with 3 mm)"
    )
    print()
    print(markdown(result))


if __name__ == "__main__":
    main()
