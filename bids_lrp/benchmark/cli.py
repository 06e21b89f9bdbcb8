"""``bids_lrp-benchmark``: score explanations against a simulated cohort's planted atrophy."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bids_lrp import __version__
from bids_lrp.cli.parser import CommandParser, method_spec, positive_int
from bids_lrp.config import RANDOMIZATION_LAYERS
from bids_lrp.exitcodes import EX_FAILED, CommandError, stopped_by
from bids_lrp.process.logs import setup_logging

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``bids_lrp-benchmark``."""
    parser = CommandParser(
        prog="bids_lrp-benchmark",
        description="Simulate a cohort with planted atrophy (or take one made by "
        "bids_lrp-simulate), run a model and methods through the participant level and score "
        "every method's maps against the planted areas: relevance inside them, the pointing "
        "game, their rank by relevance gain, model randomization and faithfulness. Writes "
        "benchmark.tsv, benchmark_images.tsv, benchmark_summary.json and benchmark.html into "
        "FOLDER.",
    )
    parser.add_argument("folder", type=Path, help="where the cohort, outputs and scores go")
    parser.add_argument(
        "--bids", type=Path, default=None,
        help="a cohort made by bids_lrp-simulate (default: simulate one into FOLDER/bids)",
    )  # fmt: skip
    parser.add_argument("--n-subjects", type=positive_int, default=20, help="default 20")
    parser.add_argument(
        "--seed", type=int, default=7002,
        help="of the simulated cohort (default 7002; the shipped model never saw it)",
    )  # fmt: skip
    parser.add_argument(
        "--severity", type=float, default=0.3,
        help="planted volume loss (default 0.3, as the shipped model's training cohort)",
    )  # fmt: skip
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument(
        "--methods", nargs="+", type=method_spec, default=None, metavar="METHOD[:PARAM=VALUE,...]",
        help="as bids_lrp's --methods (default: its default methods)",
    )  # fmt: skip
    parser.add_argument("--nprocs", type=positive_int, default=2, help="default 2")
    parser.add_argument("--omp-nthreads", type=positive_int, default=1, help="default 1")
    parser.add_argument(
        "--faithfulness-steps", type=positive_int, default=20, help="as bids_lrp's (default 20)"
    )
    parser.add_argument(
        "--randomization-layers", choices=RANDOMIZATION_LAYERS, default="cascade",
        help="as bids_lrp's (default cascade: every weight layer, top down)",
    )  # fmt: skip
    parser.add_argument(
        "--reuse", action="store_true",
        help="score the participant-level outputs already in FOLDER/out; run nothing again",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit status (0, or the one-line error's code)."""
    args = build_parser().parse_args(argv)
    setup_logging("bids_lrp-benchmark", logging.WARNING)
    from bids_lrp.benchmark.run import run_benchmark  # deferred: --help stays fast

    try:
        result = run_benchmark(
            args.folder, bids=args.bids, n_subjects=args.n_subjects, seed=args.seed,
            severity=args.severity, model=args.model, methods=args.methods,
            nprocs=args.nprocs, omp_nthreads=args.omp_nthreads,
            faithfulness_steps=args.faithfulness_steps,
            randomization_layers=args.randomization_layers, reuse=args.reuse,
        )  # fmt: skip
    except CommandError as err:
        sys.stderr.write(f"bids_lrp-benchmark: error: {err}\n")
        return err.code
    except KeyboardInterrupt as err:
        sys.stderr.write("bids_lrp-benchmark: interrupted\n")
        return stopped_by(err)
    except OSError as err:
        sys.stderr.write(f"bids_lrp-benchmark: error: {err}\n")
        return EX_FAILED
    sys.stdout.write(f"scores: {result.files[-1]}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
