"""``bids_lrp-simulate``: command line of the cohort simulator."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from bids_lrp import __version__
from bids_lrp.cli.parser import CommandParser
from bids_lrp.exitcodes import EX_CANTCREAT, EX_USAGE, stopped_by
from bids_lrp.process.logs import setup_logging
from bids_lrp.process.signals import Terminated
from bids_lrp.simulate.cohort import simulate_cohort
from bids_lrp.simulate.plan import DEFAULT_REGIONS, SimulationError

__all__ = ["EX_CANTCREAT", "EX_USAGE", "build_parser", "main"]


def _interrupt(signum: int, frame: object) -> None:
    # Later signals are ignored so that removing the unfinished dataset is not cut short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated(signum)  # a KeyboardInterrupt: the library cleans up as for Ctrl-C


def _regions(text: str) -> tuple[str, ...]:
    return tuple(r.strip() for r in text.split(",") if r.strip())


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``bids_lrp-simulate``."""
    parser = CommandParser(
        prog="bids_lrp-simulate",
        description="Simulate a BIDS dataset of AD/CN T1w scans with ground-truth atrophy.",
    )
    parser.add_argument("out_dir", type=Path, help="dataset folder to create")
    parser.add_argument("--n-subjects", type=int, default=4, help="participants (default 4)")
    parser.add_argument("--ad-fraction", type=float, default=0.5, help="fraction AD (default 0.5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--atrophy-regions",
        type=_regions,
        default=DEFAULT_REGIONS,
        help="comma-separated Neuromorphometrics areas, both hemispheres "
        f"(default {','.join(DEFAULT_REGIONS)})",
    )
    parser.add_argument(
        "--severity", type=float, default=0.2, help="typical AD volume-loss fraction (default 0.2)"
    )
    parser.add_argument("--sessions", type=int, default=1, help="sessions per participant")
    parser.add_argument("--no-head", dest="head", action="store_false", help="brain only")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier bids_lrp-simulate dataset in out_dir",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress messages")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator; return the exit status.

    0 on success, 64 for a usage error, 73 when the output cannot be written, 128 + the signal
    number (130, 143) when interrupted by SIGINT or SIGTERM; the unfinished dataset is removed.
    """
    args = build_parser().parse_args(argv)
    setup_logging("bids_lrp-simulate", logging.WARNING)

    def progress(done: int, total: int, name: str) -> None:
        if not args.quiet:
            sys.stderr.write(f"[{done}/{total}] {name}\n")

    handlers = {}
    if threading.current_thread() is threading.main_thread():
        # A signal the caller chose to ignore (nohup, a background job) stays ignored.
        handlers = {
            sig: signal.signal(sig, _interrupt)
            for sig in (signal.SIGINT, signal.SIGTERM)
            if signal.getsignal(sig) is not signal.SIG_IGN
        }
    try:
        simulate_cohort(
            args.out_dir,
            n_subjects=args.n_subjects,
            ad_fraction=args.ad_fraction,
            seed=args.seed,
            atrophy_regions=args.atrophy_regions,
            severity=args.severity,
            sessions=args.sessions,
            head=args.head,
            overwrite=args.overwrite,
            progress=progress,
        )
    except SimulationError as err:
        sys.stderr.write(f"bids_lrp-simulate: error: {err}\n")
        return EX_USAGE
    except OSError as err:
        sys.stderr.write(f"bids_lrp-simulate: error: cannot write {args.out_dir}: {err}\n")
        return EX_CANTCREAT
    except KeyboardInterrupt as err:
        code = stopped_by(err)
        sys.stderr.write(
            f"bids_lrp-simulate: interrupted ({signal.Signals(code - 128).name}); the "
            f"unfinished dataset was removed, {args.out_dir} is as it was before\n"
        )
        return code
    finally:
        for sig, handler in handlers.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
