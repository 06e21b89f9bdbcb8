"""What a ``bids_lrp-train`` run is asked to do, as one typed, checked object.

`TrainingSettings` holds every choice of the command line (its defaults are the parser's, which
reads them from here) and refuses, at construction, the combinations no file is needed to judge
(both warm-ups, fractions that leave no training set, a shift range backwards). What needs the
scans or the disk is checked by `bids_lrp.training.plan`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bids_lrp.config import DEFAULT_LABEL_COLUMN
from bids_lrp.exitcodes import CommandError
from bids_lrp.model.train import Recipe, default_shift

__all__ = ["INTENDED_USE", "TrainingSettings", "UsageError", "default"]

#: The intended use a model card states unless told otherwise.
INTENDED_USE = "Research only; not for clinical use."


class UsageError(CommandError):
    """A training request that cannot run; ``code`` is the exit status."""


@dataclass(frozen=True)
class TrainingSettings:
    """One ``bids_lrp-train`` request. The training defaults are Böhle et al. (2019)'s.

    Paths are as given (``~`` not yet expanded); ``None`` means "find out": the raw dataset
    from the scans' ``SourceDatasets``, the registration from their sidecars, the threads from
    the CPUs this process may use, the name from ``out``.
    """

    scans_dir: Path
    out: Path
    overwrite: bool = False
    # data and labels
    bids_dir: Path | None = None
    label_column: str = DEFAULT_LABEL_COLUMN
    ad_labels: tuple[str, ...] = ("AD",)
    hc_labels: tuple[str, ...] = ("HC", "CN")
    template: str = "MNI152NLin2009cAsym"
    registration: str | None = None
    # network
    architecture: str = "boehle2019"
    grid_mm: float = 1.0
    input_resampling: str = "antialiased"
    channels: tuple[int, ...] = (8, 16, 32, 64)
    pools: tuple[int, ...] = (2, 3, 2, 3)
    hidden: int = 128
    dropout: float = 0.4
    init_from: Path | None = None
    # training: the recipe's defaults (the paper's), defined once in `Recipe`
    epochs: int = Recipe.epochs
    batch_size: int = Recipe.batch_size
    lr: float = Recipe.lr
    weight_decay: float = Recipe.weight_decay
    warmup: int = Recipe.warmup
    decay_warmup: int = Recipe.decay_warmup
    label_smoothing: float = Recipe.label_smoothing
    patience: int = Recipe.patience
    min_epochs: int = Recipe.min_epochs
    monitor_from: int = Recipe.monitor_from
    select: str = Recipe.select
    augment: bool = Recipe.augment
    flip_probability: float = Recipe.flip_p
    shift: tuple[int, int] | None = None  # None: `default_shift` of the grid
    pose_jitter: float = Recipe.pose_jitter
    intensity_jitter: float = Recipe.intensity_jitter
    # split
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    folds: int | None = None
    seed: int = Recipe.seed
    # execution and model card
    device: str = "auto"
    threads: int | None = None
    precision: str = "fp32"
    cache: Path | None = None
    cache_type: str = "float32"
    loader_workers: int | None = None  # None: 2 reading a cache for a GPU, else 0
    name: str | None = None
    training_data: str | None = None
    intended_use: str = INTENDED_USE

    def __post_init__(self) -> None:
        for key in ("ad_labels", "hc_labels"):  # a value given twice counts once
            object.__setattr__(self, key, tuple(dict.fromkeys(getattr(self, key))))
        for key in ("channels", "pools", "shift"):  # argparse gives lists
            if getattr(self, key) is not None:
                object.__setattr__(self, key, tuple(getattr(self, key)))
        for error in self._errors():
            raise UsageError(error)

    def _errors(self):
        both = sorted(set(self.ad_labels) & set(self.hc_labels))
        if both:
            yield f"label value(s) {', '.join(both)} given in both --ad-labels and --hc-labels"
        if self.folds is None and self.val_fraction + self.test_fraction >= 1:
            yield "--val-fraction and --test-fraction must sum to less than 1"
        if self.val_fraction == 0:
            yield "--val-fraction must be above 0 (early stopping needs a validation set)"
        if self.shift is not None and self.shift[0] > self.shift[1]:
            yield f"--shift MIN MAX needs MIN <= MAX, got {self.shift[0]} {self.shift[1]}"
        if self.warmup and self.decay_warmup:
            yield "--warmup and --decay-warmup are two warm-ups; choose one"
        if self.monitor_from > self.epochs:
            yield (
                f"--monitor-from {self.monitor_from} is after the last epoch "
                f"(--epochs {self.epochs})"
            )
        if self.out.suffix != ".safetensors":
            yield f"--out must end in .safetensors, got {self.out.name}"
        if self.name is not None and not any(c.isalnum() for c in self.name):
            yield f"--name {self.name!r} needs letters or digits"
        if self.precision == "fp16" and self.device == "cpu":
            yield "--precision fp16 needs a GPU (--device cuda); bf16 runs on the CPU"
        if self.loader_workers and self.cache is None:
            yield "--loader-workers reads from a --cache; scans in memory need no workers"
        if len(self.channels) != len(self.pools):
            yield (
                f"--channels ({len(self.channels)} values) and --pools ({len(self.pools)}) "
                "must have one value per block"
            )

    @classmethod
    def from_options(cls, options: Any) -> TrainingSettings:
        """Settings from any object with one attribute per field (an argparse namespace)."""
        return cls(**{f.name: getattr(options, f.name) for f in dataclasses.fields(cls)})

    @property
    def network_params(self) -> dict[str, Any]:
        """The architecture parameters, as the model card records them."""
        return {
            "channels": list(self.channels),
            "pools": list(self.pools),
            "hidden": self.hidden,
            "dropout": self.dropout,
        }

    def recipe(self) -> Recipe:
        """The training recipe (`bids_lrp.model.train.Recipe`) these settings ask for."""
        return Recipe(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            warmup=self.warmup,
            decay_warmup=self.decay_warmup,
            label_smoothing=self.label_smoothing,
            patience=self.patience,
            min_epochs=self.min_epochs,
            augment=self.augment,
            flip_p=self.flip_probability,
            shift=self.shift if self.shift is not None else default_shift(self.grid_mm),
            pose_jitter=self.pose_jitter,
            intensity_jitter=self.intensity_jitter,
            select=self.select,
            monitor_from=self.monitor_from,
            seed=self.seed,
        )


def default(name: str) -> Any:
    """The default of the field ``name`` of `TrainingSettings` (for the command line)."""
    field = next(f for f in dataclasses.fields(TrainingSettings) if f.name == name)
    return field.default
