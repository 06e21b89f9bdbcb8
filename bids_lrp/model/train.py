"""Training the paper's network: subject-wise splits, augmentation, the loop.

The recipe of Böhle et al. (2019), section 2.2, by default: participants (never scans) are split
into training, validation and test sets, stratified by class; training batches of 4 are augmented
by a sagittal flip (p = 0.5) and an integer shift along x; Adam (learning rate 1e-4, weight decay
1e-4) minimises the cross-entropy; training stops when the validation loss has not improved for
8 epochs (not before epoch 15) and the checkpoint with the best validation balanced accuracy is
kept (ties: the lower validation loss). A network that gives every validation scan the same
output (it no longer responds to its input) gets a warning. Everything is seeded: on the CPU,
the same data, recipe, seed and thread count give bit-identical weights.

The splits live in `bids_lrp.model.split`, the metrics in `bids_lrp.model.metrics`, the recipe
in `bids_lrp.model.recipe` and the augmentations in `bids_lrp.model.augment` (all re-exported
here). All functions are pure (no printing, no files); `bids_lrp.training` wires them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bids_lrp.model import distributed
from bids_lrp.model.augment import augment, intensity_jitter, pose_jitter
from bids_lrp.model.distributed import Processes
from bids_lrp.model.loader import BatchReader, Rows
from bids_lrp.model.metrics import binary_metrics, evaluate, predict
from bids_lrp.model.recipe import (
    DECAY_WARMUP_START,
    SELECTIONS,
    Recipe,
    default_shift,
    warmup_schedule,
)
from bids_lrp.model.split import Split, SplitError, kfold_splits, split_subjects

__all__ = [
    "DECAY_WARMUP_START",
    "PRECISIONS",
    "SELECTIONS",
    "Recipe",
    "Split",
    "SplitError",
    "TrainResult",
    "augment",
    "binary_metrics",
    "default_shift",
    "evaluate",
    "kfold_splits",
    "predict",
    "split_subjects",
    "train_model",
    "warmup_schedule",
]

logger = logging.getLogger(__name__)

#: Arithmetic of the training passes: float32, or mixed precision with bfloat16 (CPU or CUDA) or
#: float16 (CUDA, with loss scaling) through ``torch.autocast``.
PRECISIONS = ("fp32", "bf16", "fp16")

#: Relative spread of validation outputs below which the network counts as ignoring its input.
CONSTANT_OUTPUT_TOLERANCE = 1e-6
#: Validation balanced accuracy and ROC AUC of the kept checkpoint at or below which a run is
#: reported as not having learned (a coin scores 0.5 on both).
CHANCE_LEVEL = 0.65


@dataclass(frozen=True)
class TrainResult:
    """A trained model (best checkpoint loaded, eval mode) and how training went."""

    model: nn.Module
    history: list[dict]
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    seconds: float


def _batches(order: np.ndarray, size: int, minimum: int = 2) -> list[np.ndarray]:
    """Consecutive batches; a trailing batch under ``minimum`` joins the previous one.

    BatchNorm needs two images; several processes need one each (``minimum`` = their number).
    """
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    if len(batches) > 1 and len(batches[-1]) < minimum:
        batches[-2] = np.concatenate([batches[-2], batches.pop()])
    return batches


@contextlib.contextmanager
def _deterministic(device: str) -> Iterator[None]:
    """Seedable, deterministic kernels for the duration (cuDNN flags restored afterwards)."""
    if not str(device).startswith("cuda"):
        yield
        return
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


@contextlib.contextmanager
def _flush_denormals() -> Iterator[None]:
    """Treat subnormal floats as zero on the CPU for the duration (restored to the default).

    A strong weight decay drives many weights towards zero; once they are subnormal every
    multiply with them is many times slower on x86 CPUs. Measured: with 12% of the weights
    subnormal, epochs grew from 6 s to 25 s, and one batch took 1.6x as long. Flushing keeps
    them at an exact 0 instead (a difference below 1.2e-38). PyTorch has no getter for this
    mode, so it is put back to its default (off) afterwards.
    """
    changed = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if changed:
            torch.set_flush_denormal(False)


def _constant_output(logits: np.ndarray) -> bool:
    """Whether every image got the same class-logit difference (a network that ignores input).

    Happens when every unit of a layer is silent (e.g. all hidden ReLUs dead after too large a
    step): little or no gradient reaches the layers below, so training may never recover.
    """
    if len(logits) < 2:
        return False
    margin = logits[:, -1] - logits[:, 0]
    scale = max(1.0, float(np.abs(margin).max()))
    return float(np.ptp(margin)) <= CONSTANT_OUTPUT_TOLERANCE * scale


def _is_better(metrics: dict, best: tuple[float, float] | None, select: str) -> bool:
    loss = metrics["loss"]
    if best is None:
        return True
    if select == "loss":
        return loss < best[1]
    score = metrics["balanced_accuracy"]
    return score > best[0] or (score == best[0] and loss < best[1])


def train_model(
    build: Callable[[], nn.Module],
    images: np.ndarray,
    labels: np.ndarray,
    train_index: np.ndarray,
    val_index: np.ndarray,
    recipe: Recipe,
    *,
    device: str = "cpu",
    flip_axis: int = 0,
    on_batch: Callable[[], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    workers: int = 0,
    processes: Processes | None = None,
    precision: str = "fp32",
) -> TrainResult:
    """Train a freshly built model with the recipe; return it with its best checkpoint loaded.

    Parameters
    ----------
    build : callable
        Returns a new model; called once after seeding torch with ``recipe.seed`` (inside
        ``torch.random.fork_rng``, so the caller's random state is left alone).
    images : numpy.ndarray or bids_lrp.model.scan_cache.ScanCache
        float32 ``(N, X, Y, Z)`` on the network grid, in memory or read from a cache on disk
        a batch at a time (`bids_lrp.model.loader`).
    labels : numpy.ndarray
        Class index per image.
    train_index, val_index : numpy.ndarray
        Rows of ``images`` for training and validation.
    recipe : Recipe
        The settings.
    device : str
        ``cpu`` or ``cuda[:k]``.
    flip_axis : int
        Left-right array axis for the sagittal flip.
    on_batch, on_epoch : callable, optional
        Called after each batch, and after each epoch with its history record.
    workers : int
        DataLoader worker processes reading the next batches (0: the main process reads).
    processes : Processes, optional
        This process's place among several training one model together
        (`bids_lrp.model.distributed`); the caller has joined their process group.
    precision : str
        One of `PRECISIONS`; validation always runs in float32.

    Returns
    -------
    TrainResult
    """
    if recipe.select not in SELECTIONS:
        raise ValueError(f"unknown selection {recipe.select!r}; choose from {SELECTIONS}")
    if len(train_index) < 2 or len(val_index) < 1:
        raise ValueError("training needs at least 2 training images and 1 validation image")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {PRECISIONS}")
    if processes is not None and processes.world > min(recipe.batch_size, len(train_index)):
        raise ValueError(
            f"{processes.world} processes need a batch of at least {processes.world} scans "
            f"(batch size {recipe.batch_size}, {len(train_index)} training scans)"
        )
    labels = np.asarray(labels, dtype=np.int64)
    devices = [torch.device(device).index or 0] if str(device).startswith("cuda") else []
    start = time.perf_counter()
    with torch.random.fork_rng(devices=devices), _deterministic(device), _flush_denormals():
        torch.manual_seed(recipe.seed)
        model = build().to(device)
        network = model
        if processes is not None:
            network = _parallel(model, device, processes)
            torch.manual_seed(recipe.seed + processes.rank)  # each process's dropout masks
        optimizer = torch.optim.Adam(
            model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
        )
        step = _Step(network, optimizer, recipe, device, precision, processes)
        reader = BatchReader(images, workers)
        rng = np.random.default_rng(recipe.seed)
        history: list[dict] = []
        best_state, best_score, best_epoch = None, None, 0
        # patience counts from the last epoch before monitoring starts (Recipe.monitor_from)
        best_loss, best_loss_epoch, stopped = math.inf, recipe.monitor_from - 1, False
        warned_silent = False
        for epoch in range(1, recipe.epochs + 1):
            tic = time.perf_counter()
            lr, weight_decay = warmup_schedule(recipe, epoch)
            for group in optimizer.param_groups:
                group["lr"], group["weight_decay"] = lr, weight_decay
            train_loss, train_correct = _train_epoch(
                step, reader, labels, train_index, rng, flip_axis, on_batch
            )
            val_logits = _validate(model, images, val_index, device, processes)
            val = binary_metrics(labels[val_index], val_logits)
            if not warned_silent and _constant_output(val_logits):
                warned_silent = True
                logger.warning(
                    "epoch %d: the network gives every validation scan the same output: its "
                    "units have gone silent and it may not learn again (a lower --lr usually "
                    "avoids this)",
                    epoch,
                )
            monitored = epoch >= recipe.monitor_from
            improved = monitored and _is_better(val, best_score, recipe.select)
            if improved:
                best_state = {
                    k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()
                }
                best_score, best_epoch = (val["balanced_accuracy"], val["loss"]), epoch
            if monitored and val["loss"] < best_loss:
                best_loss, best_loss_epoch = val["loss"], epoch
            record = {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_accuracy": train_correct,
                "val_loss": val["loss"],
                "val_accuracy": val["accuracy"],
                "val_balanced_accuracy": val["balanced_accuracy"],
                "val_roc_auc": val["roc_auc"],
                "kept": improved,
                "lr": lr,
                "weight_decay": weight_decay,
                "seconds": round(time.perf_counter() - tic, 3),
            }
            history.append(record)
            logger.info(
                "epoch %d: train loss %.4f acc %.3f | val loss %.4f bacc %.3f%s (%.1f s)",
                epoch, train_loss, train_correct, val["loss"], val["balanced_accuracy"],
                " *" if improved else "", record["seconds"],
            )  # fmt: skip
            if on_epoch is not None:
                on_epoch(record)
            patience_lost = epoch - best_loss_epoch >= recipe.patience
            may_stop = epoch >= max(recipe.min_epochs, recipe.warmup + 1, recipe.decay_warmup + 1)
            if may_stop and patience_lost and epoch < recipe.epochs:
                stopped = True
                logger.info(
                    "early stop after epoch %d: no lower validation loss for %d epochs",
                    epoch,
                    recipe.patience,
                )
                break
        model.load_state_dict(best_state)
        if processes is not None:
            distributed.plain_batch_norm(model)
    _warn_if_at_chance(history, best_epoch)
    return TrainResult(
        model.eval(),
        history,
        best_epoch,
        len(history),
        stopped,
        round(time.perf_counter() - start, 3),
    )


def _warn_if_at_chance(history: list[dict], best_epoch: int) -> None:
    """One warning when even the kept checkpoint separates the classes no better than a coin.

    A strong weight decay can hold a network at chance for good (`warmup_schedule`); whether
    it does depends on the seed, so the run ends with
    weights that must not be used and a hint at what to change.
    """
    kept = history[best_epoch - 1]  # one record per epoch, from epoch 1
    bacc, auc = kept["val_balanced_accuracy"], kept["val_roc_auc"]
    if bacc <= CHANCE_LEVEL and (auc is None or auc <= CHANCE_LEVEL):
        logger.warning(
            "the network did not learn: the kept checkpoint (epoch %d) has validation "
            "balanced accuracy %.3f and ROC AUC %s, about chance; train again with another "
            "--seed, a weaker --weight-decay or a longer --warmup",
            best_epoch,
            bacc,
            "n/a" if auc is None else f"{auc:.3f}",
        )


def _parallel(model: nn.Module, device: str, processes: Processes) -> nn.Module:
    """The model wrapped for DistributedDataParallel, its BatchNorm over the whole batch."""
    distributed.global_batch_norm(model, device)
    ids = [torch.device(device).index or 0] if str(device).startswith("cuda") else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def _validate(
    model: nn.Module, images, index: np.ndarray, device: str, processes: Processes | None
) -> np.ndarray:
    """Validation logits (float32, eval mode), split between the processes when several."""
    if processes is None:
        return predict(model, Rows(images, index), device=device)
    part = predict(model, Rows(images, distributed.share(index, processes)), device=device)
    return distributed.gather_rows(part, processes, len(index))


class _Step:
    """One optimisation step on a batch (or this process's share of it)."""

    def __init__(self, network, optimizer, recipe, device, precision, processes) -> None:
        self.network, self.optimizer, self.recipe = network, optimizer, recipe
        self.device, self.processes = device, processes
        kind = "cuda" if str(device).startswith("cuda") else "cpu"
        dtype = torch.float16 if precision == "fp16" else torch.bfloat16
        self.autocast = torch.autocast(kind, dtype=dtype, enabled=precision != "fp32")
        self.scaler = torch.amp.GradScaler(kind) if precision == "fp16" else None

    def __call__(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[float, int]:
        """Train on ``x``, ``y``; return the summed loss and the number right of these images."""
        inputs = torch.from_numpy(np.ascontiguousarray(x[:, None])).to(self.device)
        targets = torch.from_numpy(y).to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        smoothing = self.recipe.label_smoothing
        with self.autocast:
            logits = self.network(inputs)
            if self.processes is None:
                loss = F.cross_entropy(logits, targets, label_smoothing=smoothing)
            else:  # DDP averages over processes: this makes it the batch's mean loss
                summed = F.cross_entropy(
                    logits.float(), targets, label_smoothing=smoothing, reduction="sum"
                )
                loss = summed * (self.processes.world / batch_size)
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        share = len(y) if self.processes is None else batch_size / self.processes.world
        right = int((logits.detach().argmax(dim=1) == targets).sum())
        return float(loss.detach()) * share, right


def _train_epoch(
    step: _Step,
    reader: BatchReader,
    labels: np.ndarray,
    train_index: np.ndarray,
    rng: np.random.Generator,
    flip_axis: int,
    on_batch: Callable[[], None] | None,
) -> tuple[float, float]:
    """One pass over the shuffled training set; mean loss and accuracy (augmented, train mode)."""
    step.network.train()
    recipe, processes = step.recipe, step.processes
    minimum = 2 if processes is None else max(2, processes.world)
    batches = _batches(rng.permutation(np.asarray(train_index)), recipe.batch_size, minimum)
    shares = batches if processes is None else [distributed.share(b, processes) for b in batches]
    total_loss, correct = 0.0, 0
    for batch, rows, x in zip(batches, shares, reader.read(shares), strict=True):
        where = {}
        if processes is not None:  # this process's positions in the batch, as its rows
            where = {"positions": distributed.share(np.arange(len(batch)), processes),
                     "size": len(batch)}  # fmt: skip
        if recipe.augment:
            x = augment(x, rng, flip_p=recipe.flip_p, shift=recipe.shift, axis=flip_axis, **where)
            if recipe.pose_jitter > 0:  # drawn only when asked: the paper's stream stays
                x = pose_jitter(x, rng, voxels=recipe.pose_jitter, axis=flip_axis, **where)
            if recipe.intensity_jitter > 0:
                x = intensity_jitter(x, rng, strength=recipe.intensity_jitter, **where)
        loss, right = step(x, labels[rows], len(batch))
        total_loss += loss
        correct += right
        if on_batch is not None:
            on_batch()
    if processes is not None:
        total_loss, correct = distributed.sum_over_processes(total_loss, correct)
    n = len(train_index)
    return total_loss / n, correct / n
