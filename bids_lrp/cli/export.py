"""``bids_lrp-export``: a bids_lrp model as ONNX or TorchScript, with its card beside it."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bids_lrp import __version__
from bids_lrp.cli.parser import CommandParser, default_model
from bids_lrp.exitcodes import EX_CANTCREAT, EX_USAGE

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``bids_lrp-export``."""
    parser = CommandParser(
        prog="bids_lrp-export",
        description="Export a model (.safetensors with its card) to ONNX (OUT.onnx) or "
        "TorchScript (OUT.pt) for serving it elsewhere; the card goes beside it (OUT.onnx.json, "
        "OUT.pt.json) with the exported logits' largest difference from PyTorch's. The "
        "exported network classifies; explanations need bids_lrp.",
    )
    parser.add_argument("out", type=Path, help="the exported file: .onnx or .pt")
    parser.add_argument(
        "--model", type=Path, default=None, help="default: the model shipped with bids_lrp"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Export; return the exit status (0; 64 for a bad request; 73 when OUT cannot be written)."""
    args = build_parser().parse_args(argv)
    from bids_lrp.model import CheckpointError  # deferred: torch
    from bids_lrp.model.export import ExportError, export_model
    from bids_lrp.process.logs import setup_logging

    setup_logging("bids_lrp-export", logging.WARNING)
    model = args.model or default_model()
    try:
        out, entry = export_model(model, args.out)
    except (ExportError, CheckpointError) as err:
        sys.stderr.write(f"bids_lrp-export: error: {err}\n")
        return EX_USAGE
    except OSError as err:
        sys.stderr.write(f"bids_lrp-export: error: cannot write {args.out}: {err}\n")
        return EX_CANTCREAT
    difference = entry["MaxLogitDifference"]
    checked = "not checked" if difference is None else f"max logit difference {difference:.1e}"
    sys.stdout.write(f"{out} ({entry['Format']}; {checked})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
