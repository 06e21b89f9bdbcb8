"""Running a checked ``bids_lrp-train`` request: load the scans once, train one model per split.

Every output is staged beside ``--out`` and moved into place only when all are complete, so a
failure leaves none of them (and older ones untouched).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from bids_lrp.model import distributed
from bids_lrp.model.checkpoint import card_path, save_checkpoint
from bids_lrp.model.data import fingerprint
from bids_lrp.model.loader import Rows
from bids_lrp.model.network import build_model
from bids_lrp.model.network_input import load_scans
from bids_lrp.model.scan_cache import open_or_write_cache, wait_for_cache
from bids_lrp.model.split import Split
from bids_lrp.model.train import TrainResult, evaluate, train_model
from bids_lrp.safewrite import StagedOutputs, writing_into
from bids_lrp.training.card import training_card
from bids_lrp.training.files import side_files, training_curves, write_cv_summary, write_history
from bids_lrp.training.plan import TrainingPlan, cv_summary_path
from bids_lrp.training.settings import TrainingSettings

__all__ = ["run_training"]

logger = logging.getLogger("bids_lrp")


def run_training(settings: TrainingSettings, plan: TrainingPlan, *, command: str) -> None:
    """Load the scans once, train one model per split, write weights, card, history, curves.

    Raises
    ------
    bids_lrp.safewrite.WriteError
        Exit 73, when the outputs cannot be written (a full disk); none of them is.
    bids_lrp.model.data.TrainingDataError
        For a scan that cannot be read or is not a network input.
    """
    processes = plan.processes
    if processes is not None and not processes.main:  # trains along; rank 0 writes
        images, _ = _inputs(settings, plan)
        with distributed.process_group(processes, plan.device):
            _train_all(settings, plan, images, {}, None, command)
        return
    folder = plan.outputs[0].parent
    with writing_into(folder, every_error=True):
        staged = StagedOutputs(folder)  # fails before hours of training, not after
    with staged:
        images, digests = _inputs(settings, plan)
        group = contextlib.nullcontext()
        if processes is not None:
            logger.info("training on %d processes (%s)", processes.world, plan.device)
            group = distributed.process_group(processes, plan.device)
        with group:
            _train_all(settings, plan, images, digests, staged, command)
        with writing_into(folder, every_error=True):
            staged.publish()
    for weights in plan.outputs:
        logger.info("wrote %s (+ %s card, history, curves)", weights, card_path(weights).name)
    if settings.folds is not None:
        logger.info("cross-validation summary: %s", cv_summary_path(settings.out))


def _inputs(settings: TrainingSettings, plan: TrainingPlan) -> tuple[Any, dict[str, str]]:
    """The network inputs (in memory, or a cache on disk) and the SHA-256 of every scan file.

    With several processes, rank 0 writes the cache and the others wait for it to be complete;
    without a cache every process loads the scans itself.
    """
    torch.set_num_threads(plan.threads)
    main = plan.processes is None or plan.processes.main
    options = {"resampling": settings.input_resampling}
    with tqdm(
        total=len(plan.scans), desc="loading", unit="scan", disable=None if main else True
    ) as bar:
        if settings.cache is None:
            return load_scans(
                plan.scans, plan.grid, threads=plan.threads,
                progress=lambda n: bar.update(1), **options,
            )  # fmt: skip
        folder = settings.cache.expanduser()
        options["dtype"] = settings.cache_type
        if not main:
            cache = wait_for_cache(plan.scans, plan.grid, folder, **options)
        else:
            with writing_into(folder, every_error=True):  # a full disk: one line, no cache
                cache = open_or_write_cache(
                    plan.scans, plan.grid, folder, threads=plan.threads,
                    progress=lambda n: bar.update(1), **options,
                )  # fmt: skip
    return cache, cache.digests


def _train_all(
    settings: TrainingSettings,
    plan: TrainingPlan,
    images,
    digests: dict[str, str],
    staged: StagedOutputs | None,
    command: str,
) -> None:
    torch.set_num_threads(plan.threads)
    fp = fingerprint(plan.scans, column=settings.label_column, digests=digests)

    def build() -> torch.nn.Module:
        model = build_model(settings.architecture, input_shape=plan.grid.shape, **plan.params)
        if plan.init is not None:
            model.load_state_dict(plan.init["state"])
        return model

    tests = []
    for k, split in enumerate(plan.splits, start=1):
        fold = None if settings.folds is None else k
        result, metrics = _train_split(settings, plan, images, build, split, fold)
        tests.append(metrics["test"])
        if staged is None:
            continue
        weights = plan.outputs[k - 1]
        card = training_card(settings, plan, weights, fold, fp, result, metrics, command)
        with writing_into(staged.folder, every_error=True):
            _write_model(staged, result, card, weights)
    if settings.folds is not None and staged is not None:
        with writing_into(staged.folder, every_error=True):
            write_cv_summary(tests, staged.path(cv_summary_path(settings.out)))


def _write_model(staged: StagedOutputs, result: TrainResult, card, weights: Path) -> None:
    """Stage the weights, card, history and curves of one trained model."""
    files = side_files(weights)
    staged.path(card_path(weights))  # save_checkpoint writes it beside the weights
    save_checkpoint(result.model.cpu(), card, staged.path(weights))
    write_history(result.history, staged.path(files["history"]))
    curves = [staged.path(files["png"]), staged.path(files["svg"])]
    training_curves(result.history, curves, title=card.name)


def _index(plan: TrainingPlan, subjects) -> np.ndarray:
    chosen = set(subjects)
    return np.array([i for i, s in enumerate(plan.scans) if s.subject in chosen], dtype=np.int64)


def _train_split(
    settings: TrainingSettings,
    plan: TrainingPlan,
    images,
    build: Callable[[], torch.nn.Module],
    split: Split,
    fold: int | None,
) -> tuple[TrainResult, dict[str, Any]]:
    """Train and evaluate one model; return the training result and the metrics per set."""
    sets = {name: _index(plan, subjects) for name, subjects in split.sets().items()}
    logger.info(
        "%straining on %d scans, validating on %d, testing on %d (%s grid %s)",
        "" if fold is None else f"fold {fold}/{settings.folds}: ",
        len(sets["train"]), len(sets["validation"]), len(sets["test"]),
        f"{settings.grid_mm:g} mm", "x".join(map(str, plan.grid.shape)),
    )  # fmt: skip
    n_batches = max(1, len(sets["train"]) // plan.recipe.batch_size)
    main = plan.processes is None or plan.processes.main
    with tqdm(
        total=plan.recipe.epochs * n_batches,
        desc="training",
        unit="batch",
        disable=None if main else True,
    ) as bar:
        result = train_model(
            build, images, plan.labels, sets["train"], sets["validation"], plan.recipe,
            device=plan.device, flip_axis=plan.flip_axis, on_batch=lambda: bar.update(1),
            on_epoch=lambda r: bar.set_postfix(
                loss=f"{r['train_loss']:.3f}", val=f"{r['val_loss']:.3f}"
            ),
            workers=plan.workers, processes=plan.processes, precision=settings.precision,
        )  # fmt: skip
    metrics = {
        name: evaluate(result.model, Rows(images, index), plan.labels[index], device=plan.device)
        for name, index in sets.items()
    }
    for name, values in metrics.items():
        if values["n_scans"]:
            logger.info(
                "%s: balanced accuracy %.3f, ROC AUC %s, loss %.4f (%d scans)",
                name, values["balanced_accuracy"], _fmt(values["roc_auc"]),
                values["loss"], values["n_scans"],
            )  # fmt: skip
    for name, subjects in split.sets().items():
        metrics[name]["n_participants"] = len(subjects)
    return result, metrics


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
