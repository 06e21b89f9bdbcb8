"""``bids_lrp-stability``: explain a participant-level run's images with several models."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bids_lrp import __version__
from bids_lrp.cli.parser import CommandParser, method_spec, positive_int
from bids_lrp.exitcodes import EX_FAILED, CommandError, stopped_by
from bids_lrp.process.logs import setup_logging
from bids_lrp.stability.measure import AGREEMENT_TOP, REPLICATION, TOP_AREAS

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``bids_lrp-stability``."""
    parser = CommandParser(
        prog="bids_lrp-stability",
        description="Explain the images of a bids_lrp participant-level run with several "
        "models of the same task (e.g. the fold models of bids_lrp-train --folds K) and write, "
        "per image and method, the mean map, a per-voxel agreement map (the share of models "
        f"that put the voxel among their most relevant {AGREEMENT_TOP:.0%}) and the "
        "bootstrap interval of each area's rank; findings (the first "
        f"{TOP_AREAS} areas) that fewer than {REPLICATION:.0%} of the models share are "
        "flagged.",
    )
    parser.add_argument("derivatives", type=Path, help="a bids_lrp participant-level output")
    parser.add_argument("output_dir", type=Path, help="where the stability outputs go")
    parser.add_argument(
        "--models", nargs="+", type=Path, required=True, metavar="MODEL",
        help="two models or more (.safetensors with their cards), of the same template and "
        "classes",
    )  # fmt: skip
    parser.add_argument(
        "--methods", nargs="+", type=method_spec, default=["boehle2019"],
        metavar="METHOD[:PARAM=VALUE,...]", help="as bids_lrp's --methods (default boehle2019)",
    )  # fmt: skip
    parser.add_argument("--target-class", default="AD", help="the class explained (default AD)")
    parser.add_argument(
        "--participant-label", nargs="+", default=(), metavar="LABEL",
        help="only these participants (default: all)",
    )  # fmt: skip
    parser.add_argument("--atlas", default="Neuromorphometrics", help="default Neuromorphometrics")
    parser.add_argument("--bootstrap", type=positive_int, default=1000, help="resamples (1000)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--omp-nthreads", type=positive_int, default=1, help="CPU threads (1)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run; return the exit status (0, or the one-line error's code)."""
    args = build_parser().parse_args(argv)
    setup_logging("bids_lrp-stability", logging.WARNING)
    from bids_lrp.stability.run import StabilitySettings, run_stability

    settings = StabilitySettings(
        derivatives=args.derivatives,
        output=args.output_dir,
        models=tuple(args.models),
        methods=tuple(args.methods),
        target_class=args.target_class,
        participants=tuple(label.removeprefix("sub-") for label in args.participant_label),
        atlas=args.atlas,
        device=args.device,
        threads=args.omp_nthreads,
        n_boot=args.bootstrap,
    )
    try:
        files = run_stability(settings)
    except CommandError as err:
        sys.stderr.write(f"bids_lrp-stability: error: {err}\n")
        return err.code
    except KeyboardInterrupt as err:
        sys.stderr.write("bids_lrp-stability: interrupted\n")
        return stopped_by(err)
    except (OSError, ValueError) as err:
        sys.stderr.write(f"bids_lrp-stability: error: {err}\n")
        return EX_FAILED
    sys.stdout.write(f"summary: {files[0]}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
