"""The training recipe: its settings (the paper's by default) and their schedule over epochs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["DECAY_WARMUP_START", "SELECTIONS", "Recipe", "default_shift", "warmup_schedule"]

#: Validation criteria for keeping the best checkpoint.
SELECTIONS = ("balanced_accuracy", "loss")


def default_shift(grid_mm: float) -> tuple[int, int]:
    """Voxel range of the x-shift on a ``grid_mm`` grid: the paper's -2..+3 voxels at 1 mm.

    The paper shifts by whole voxels (no interpolation) at 1 mm, i.e. by -2..+3 mm. On a coarser
    grid we keep whole-voxel shifts and cover at least the same distance:
    ``-ceil(2 / grid_mm)..ceil(3 / grid_mm)`` voxels (-1..+2 at 2 mm, -1..+1 at 4 mm and above).
    """
    return (-math.ceil(2.0 / grid_mm - 1e-9), math.ceil(3.0 / grid_mm - 1e-9))


#: Weight decay at the first epoch of a ``decay_warmup`` (the paper's, Böhle et al. 2019).
DECAY_WARMUP_START = 1e-4


@dataclass(frozen=True)
class Recipe:
    """Training settings; the defaults are the paper's (Böhle et al. 2019, section 2.2).

    ``epochs`` is the maximum; ``patience``/``min_epochs`` define early stopping on the
    validation loss; ``select`` picks the kept checkpoint (`SELECTIONS`).
    ``warmup`` (not in the paper; 0 = off) ramps the learning rate and the weight decay up
    linearly over the first ``warmup`` epochs; ``decay_warmup`` (not in the paper; 0 = off)
    ramps only the weight decay, from the paper's 1e-4, and keeps the learning rate (see
    `warmup_schedule`; at most one of the two). Early stopping waits until a warm-up is over.
    ``label_smoothing`` (not in the paper; 0 = off) trains towards
    ``1 - label_smoothing / 2`` for the true class instead of 1 (two classes); the validation
    loss that early stopping watches stays the plain cross-entropy. ``monitor_from`` (not in
    the paper; 1 = from the start) is the first epoch whose checkpoint may be kept and whose
    validation loss counts for early stopping, as Keras' ``EarlyStopping(start_from_epoch)``:
    fine-tuning trained weights with a stronger weight decay otherwise keeps its first epoch,
    before the decay has changed anything. ``pose_jitter`` (voxels)
    and ``intensity_jitter`` (not in the paper; 0 = off) add a sub-voxel y/z shift and another
    min-max window with a smooth bias to every training scan (`bids_lrp.model.augment`).
    """

    epochs: int = 100
    batch_size: int = 4
    lr: float = 1e-4
    weight_decay: float = 1e-4
    warmup: int = 0
    decay_warmup: int = 0
    label_smoothing: float = 0.0
    patience: int = 8
    min_epochs: int = 15
    augment: bool = True
    flip_p: float = 0.5
    shift: tuple[int, int] = (-2, 3)
    pose_jitter: float = 0.0
    intensity_jitter: float = 0.0
    select: str = "balanced_accuracy"
    monitor_from: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.warmup > 0 and self.decay_warmup > 0:
            raise ValueError("warmup and decay_warmup are two warm-ups; choose one")
        if not 1 <= self.monitor_from <= self.epochs:
            raise ValueError(
                f"monitor_from must lie in [1, epochs={self.epochs}], got {self.monitor_from}"
            )
        if self.pose_jitter < 0:
            raise ValueError(f"pose_jitter must be >= 0, got {self.pose_jitter}")
        if not 0 <= self.intensity_jitter < 1:
            raise ValueError(f"intensity_jitter must lie in [0, 1), got {self.intensity_jitter}")

    def to_json(self) -> dict:
        """JSON-ready description, naming the optimizer and the loss."""
        data = asdict(self)
        data["shift"] = list(self.shift)
        return {"optimizer": "Adam", "loss": "cross-entropy", **data}


def warmup_schedule(recipe: Recipe, epoch: int) -> tuple[float, float]:
    """Learning rate and weight decay for epoch ``epoch`` (1-based).

    Without a warm-up, ``recipe.lr`` and ``recipe.weight_decay``. With one, both rise linearly
    over the first ``warmup`` epochs: the learning rate from a tenth of ``lr``, the weight decay
    from 0, both at their full value from epoch ``warmup + 1`` on. A large step size and a
    strong weight decay from the first step can hold a network at chance for good: every
    weight that does not yet separate the classes is pulled to zero before it can learn to
    (seen with 480 simulated participants at lr 1e-3 and weight decay 3e-2: the loss stayed at
    ln 2 in three of four runs without this warm-up, in none of five with it). The warm-up lets
    the network find the signal first; the full decay then prunes what it does not need. It does
    not always: with the shipped recipe on anti-aliased inputs the loss can stay at ln 2 for some
    seeds, and training then ends with a warning (`bids_lrp.model.train`).

    With ``decay_warmup`` instead, only the weight decay rises, from `DECAY_WARMUP_START` (the
    paper's value) over the first ``decay_warmup`` epochs, at the full learning rate from the
    first step. It prunes earlier and harder: on simulated atrophy its heatmaps lay closer to
    the planted areas, but the pruned network classifies registered scans less reliably, and
    the schedule often does not learn at all.
    """
    if recipe.decay_warmup > 0:
        share = min(1.0, (epoch - 1) / recipe.decay_warmup)
        start = DECAY_WARMUP_START
        return recipe.lr, start + share * (recipe.weight_decay - start)
    if recipe.warmup <= 0:
        return recipe.lr, recipe.weight_decay
    share = min(1.0, (epoch - 1) / recipe.warmup)
    start = recipe.lr / 10
    return start + share * (recipe.lr - start), share * recipe.weight_decay
