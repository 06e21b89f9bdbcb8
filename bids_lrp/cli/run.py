"""``bids_lrp`` entry point: parse -> settings -> run -> exit code."""

from __future__ import annotations

import logging
import sys

from bids_lrp.cli.parser import build_parser

EX_OK = 0
EX_SOFTWARE = 70

logger = logging.getLogger("bids_lrp")


def main(argv: list[str] | None = None) -> int:
    """Run the BIDS App and return its exit code (BIDS-Apps execution spec)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    logger.error(
        "The %s level is not available in this version yet; only --help and --version work.",
        args.analysis_level,
    )
    return EX_SOFTWARE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
