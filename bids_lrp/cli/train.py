"""``bids_lrp-train``: train the paper's network on template-space scans.

Everything a user can get wrong (no scans, labels missing, one class only, a class too small
for the split, scans on different grids, a network that does not fit the grid, existing
outputs) is checked before any image is loaded, and reported as one line with exit code 64;
nothing is written then. A scan that cannot be read is reported the same way when it is loaded;
outputs that cannot be written (a full disk) as one line with exit code 73, leaving none of them.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path

from tqdm import tqdm

from bids_lrp import __version__
from bids_lrp.cli.parser import (
    CommandParser,
    HelpFormatter,
    _non_negative_int,
    _positive_float,
    _probability,
    number_type,
    positive_int,
)
from bids_lrp.exitcodes import EX_USAGE, CommandError, stopped_by
from bids_lrp.model.card import INPUT_RESAMPLINGS
from bids_lrp.model.distributed import from_environment
from bids_lrp.model.network import ARCHITECTURES
from bids_lrp.model.scan_cache import CACHE_TYPES
from bids_lrp.model.train import PRECISIONS, SELECTIONS
from bids_lrp.process.logs import setup_logging
from bids_lrp.process.signals import terminate_on_sigterm
from bids_lrp.templates import TEMPLATES
from bids_lrp.training import TrainingSettings, plan_training, run_training
from bids_lrp.training.settings import default

__all__ = ["build_parser", "main"]

_fraction = number_type(float, lambda v: 0 <= v < 1, "must lie in [0, 1)")
_non_negative_float = number_type(
    float, lambda v: 0 <= v < float("inf"), "must be a non-negative number"
)


_int = number_type(int, lambda v: True, "")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``bids_lrp-train``."""
    parser = CommandParser(
        prog="bids_lrp-train",
        description="Train the network of Böhle et al. (2019) to tell AD from HC on "
        "template-space T1w scans (files named "
        "<prefix>_space-<template>_desc-preproc_T1w.nii.gz).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "scans_dir",
        type=Path,
        help="a bids_lrp output folder, or a simulated dataset's derivatives/simulation",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="weights file to write (.safetensors)"
    )
    parser.add_argument("--version", action="version", version=f"bids_lrp-train {__version__}")
    parser.add_argument("-v", "--verbose", dest="verbosity", action="count", default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")

    data = parser.add_argument_group("Data and labels")
    data.add_argument(
        "--bids-dir",
        type=Path,
        help="raw dataset with participants.tsv (default: the scans' SourceDatasets, or the "
        "folder holding derivatives/)",
    )
    data.add_argument(
        "--label-column", default=default("label_column"), help="participants.tsv column"
    )
    data.add_argument("--ad-labels", nargs="+", default=default("ad_labels"), metavar="VALUE")
    data.add_argument("--hc-labels", nargs="+", default=default("hc_labels"), metavar="VALUE")
    data.add_argument("--template", choices=sorted(TEMPLATES), default=default("template"))
    data.add_argument(
        "--registration",
        choices=["affine", "syn"],
        help="how the scans were registered, recorded on the card (default: from their "
        "sidecars; the simulator's true-pose scans are 'affine')",
    )

    net = parser.add_argument_group("Network")
    net.add_argument(
        "--architecture", choices=sorted(ARCHITECTURES), default=default("architecture")
    )
    net.add_argument(
        "--grid-mm",
        type=_positive_float,
        default=default("grid_mm"),
        help="network grid voxel size on the template (1: the paper's 193x229x193)",
    )
    net.add_argument(
        "--input-resampling",
        choices=INPUT_RESAMPLINGS,
        default=default("input_resampling"),
        help="how scans reach a --grid-mm coarser than theirs: low-passed first (default; "
        "robust to the sub-millimetre differences between registrations) or sampled (linear, "
        "as models trained before this option); recorded on the card, which the participant "
        "level follows",
    )
    net.add_argument("--channels", type=positive_int, nargs="+", default=default("channels"))
    net.add_argument("--pools", type=positive_int, nargs="+", default=default("pools"))
    net.add_argument("--hidden", type=positive_int, default=default("hidden"))
    net.add_argument("--dropout", type=_fraction, default=default("dropout"))
    net.add_argument(
        "--init-from",
        type=Path,
        metavar="WEIGHTS",
        help="start from these weights (a bids_lrp-train .safetensors beside its card) "
        "instead of a random initialization, i.e. fine-tune them; the network options and "
        "grid must match its card",
    )

    fit = parser.add_argument_group("Training (defaults: Böhle et al. 2019)")
    fit.add_argument("--epochs", type=positive_int, default=default("epochs"), help="at most")
    fit.add_argument("--batch-size", type=positive_int, default=default("batch_size"))
    fit.add_argument("--lr", type=_positive_float, default=default("lr"))
    fit.add_argument("--weight-decay", type=_non_negative_float, default=default("weight_decay"))
    fit.add_argument(
        "--warmup",
        type=_non_negative_int,
        default=default("warmup"),
        metavar="EPOCHS",
        help="raise the learning rate (from a tenth) and the weight decay (from 0) linearly "
        "over the first EPOCHS epochs (not in the paper; lets a large --lr and "
        "--weight-decay learn at all)",
    )
    fit.add_argument(
        "--decay-warmup",
        type=_non_negative_int,
        default=default("decay_warmup"),
        metavar="EPOCHS",
        help="instead of --warmup: keep --lr from the first step and raise only the weight "
        "decay, from the paper's 1e-4 to --weight-decay, over the first EPOCHS epochs (not in "
        "the paper; prunes harder than --warmup: heatmaps closer to the evidence, but a network "
        "less reliable on registered scans, and it often does not learn)",
    )
    fit.add_argument(
        "--label-smoothing",
        type=_fraction,
        default=default("label_smoothing"),
        metavar="S",
        help="train towards 1 - S/2 for the true class instead of 1 (not in the paper; the "
        "network then need not shut every AD unit off on controls, whose alpha1-beta0 heatmaps "
        "would be all zero; it does not always keep them on)",
    )
    fit.add_argument(
        "--patience",
        type=positive_int,
        default=default("patience"),
        help="epochs without lower validation loss",
    )
    fit.add_argument(
        "--min-epochs",
        type=_non_negative_int,
        default=default("min_epochs"),
        help="never stop before",
    )
    fit.add_argument(
        "--monitor-from",
        type=positive_int,
        default=default("monitor_from"),
        metavar="EPOCH",
        help="first epoch whose checkpoint may be kept and whose validation loss counts for "
        "early stopping (not in the paper; as Keras' EarlyStopping start_from_epoch: for "
        "fine-tuning with --init-from and a stronger --weight-decay, which otherwise keeps its "
        "first epoch)",
    )
    fit.add_argument("--select", choices=SELECTIONS, default=default("select"),
                     help="validation criterion of the kept checkpoint")  # fmt: skip
    fit.add_argument("--no-augment", dest="augment", action="store_false")
    fit.add_argument("--flip-probability", type=_probability, default=default("flip_probability"))
    fit.add_argument(
        "--shift",
        type=_int,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="x-shift range in voxels (default: -2 3 at 1 mm, -ceil(2/g) ceil(3/g) at g mm)",
    )
    fit.add_argument(
        "--pose-jitter",
        type=_non_negative_float,
        default=default("pose_jitter"),
        metavar="VOXELS",
        help="also shift every training scan by up to VOXELS (a fraction of the network grid) "
        "along y and z, interpolated: the residual misalignment of an affine registration "
        "(not in the paper; default 0 = off)",
    )
    fit.add_argument(
        "--intensity-jitter",
        type=_fraction,
        default=default("intensity_jitter"),
        metavar="S",
        help="also re-window every training scan's min-max scaling by up to S and multiply it "
        "by a smooth bias field: what N4 and registration do to the contrast (not in the "
        "paper; default 0 = off)",
    )

    split = parser.add_argument_group("Split (by participant, stratified by class)")
    split.add_argument("--val-fraction", type=_fraction, default=default("val_fraction"))
    split.add_argument("--test-fraction", type=_fraction, default=default("test_fraction"))
    split.add_argument(
        "--folds",
        type=positive_int,
        help="k-fold cross-validation instead: one model per fold, fold k as its test set",
    )
    split.add_argument("--seed", type=_int, default=default("seed"))

    run = parser.add_argument_group("Execution and model card")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], default=default("device"))
    run.add_argument(
        "--threads",
        type=positive_int,
        help="CPU threads per process (default: all, max 8, shared by torchrun's processes)",
    )
    run.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=default("precision"),
        help="float32, or mixed precision: bf16 (CPU or GPU) or fp16 (GPU, with loss scaling); "
        "validation runs in float32",
    )
    run.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="write the network inputs once into DIR (a new or empty folder, or an earlier "
        "cache, reused when the scans are unchanged) and read them from there a batch at a "
        "time: memory no longer grows with the cohort (default: all scans in memory)",
    )
    run.add_argument(
        "--cache-type",
        choices=sorted(CACHE_TYPES),
        default=default("cache_type"),
        help="how the cache stores the inputs in [0, 1]: float32 exactly (the same weights as "
        "from memory), float16 (half the disk, error < 2.5e-4) or uint8 (a quarter, error "
        "< 2e-3)",
    )
    run.add_argument(
        "--loader-workers",
        type=_non_negative_int,
        help="DataLoader processes reading the next batches from the cache (default: 2 on a "
        "GPU, none on the CPU, where the main process reads faster than workers hand over)",
    )
    run.add_argument("--name", help="model name (default: the weights file's stem)")
    run.add_argument("--training-data", help="free text for the card (default: generated)")
    run.add_argument("--intended-use", default=default("intended_use"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``bids_lrp-train``; return the exit code (0; 64 bad input; 73 cannot write; 130
    Ctrl-C; 143 SIGTERM)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("MPLCONFIGDIR", str(Path.home() / ".cache" / "matplotlib"))
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version (0) and usage errors (64)
        return int(exit_.code or 0)
    _setup_logging(args.verbosity)
    try:
        settings = TrainingSettings.from_options(args)
        plan = plan_training(settings)
    except (CommandError, ValueError) as err:  # checked before anything is loaded or written
        sys.stderr.write(f"bids_lrp-train: error: {err}\n")
        return getattr(err, "code", EX_USAGE)
    try:
        with terminate_on_sigterm():  # SIGTERM stops it like Ctrl-C, DataLoader workers too
            run_training(settings, plan, command=shlex.join(["bids_lrp-train", *argv]))
    except (CommandError, ValueError) as err:  # a full disk (73), an unreadable scan (64)
        sys.stderr.write(f"bids_lrp-train: error: {err}\n")
        return getattr(err, "code", EX_USAGE)
    except KeyboardInterrupt as err:  # Ctrl-C (130) or SIGTERM (143), as bids_lrp
        sys.stderr.write("bids_lrp-train: interrupted; nothing was written\n")
        return stopped_by(err)
    return 0


def _setup_logging(verbosity: int) -> None:
    level = logging.DEBUG if verbosity > 0 else logging.INFO
    processes = from_environment()
    if processes is not None and not processes.main:  # torchrun's other processes: problems only
        level = logging.WARNING
    setup_logging(
        "bids_lrp-train",
        level,
        write=lambda line: tqdm.write(line, file=sys.stderr),  # keeps the progress bar below
    )


if __name__ == "__main__":  # torchrun -m bids_lrp.cli.train ...
    sys.exit(main())
