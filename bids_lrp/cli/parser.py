"""Argument parser of the ``bids_lrp`` BIDS App (BIDS-Apps conventions)."""

from __future__ import annotations

import argparse

from bids_lrp import __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the parser for ``bids_lrp bids_dir output_dir {participant,group}``."""
    parser = argparse.ArgumentParser(
        prog="bids_lrp",
        description=(
            "Explain deep-learning Alzheimer's disease classification of T1w MRI with "
            "layer-wise relevance propagation (Böhle et al. 2019)."
        ),
    )
    parser.add_argument("bids_dir", help="the root of the input BIDS dataset")
    parser.add_argument("output_dir", help="where the derivatives are written")
    parser.add_argument(
        "analysis_level",
        choices=["participant", "group"],
        help="participant: per-image heatmaps and tables; group: the group analyses",
    )
    parser.add_argument("--version", action="version", version=f"bids_lrp {__version__}")
    return parser
