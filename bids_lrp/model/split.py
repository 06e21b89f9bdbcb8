"""Subject-wise splits of a labelled cohort: train/validation/test fractions or k folds.

Böhle et al. (2019) split ADNI by participant, so that no participant's scans are in two sets;
splits here are made over participants (their sessions follow them), stratified by class, and
seeded (`numpy.random.default_rng`), so the same labels and seed give the same split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Split", "SplitError", "kfold_splits", "split_subjects"]


class SplitError(ValueError):
    """A split the data cannot give (too few participants of a class; bad fractions)."""


@dataclass(frozen=True)
class Split:
    """Participants (labels without ``sub-``) of each set; sessions follow their participant."""

    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...] = ()

    def sets(self) -> dict[str, tuple[str, ...]]:
        """``{"train": ..., "validation": ..., "test": ...}``."""
        return {"train": self.train, "validation": self.validation, "test": self.test}


def _round(value: float) -> int:
    return math.floor(value + 0.5)


def _by_class(labels: Mapping[str, int]) -> dict[int, list[str]]:
    groups: dict[int, list[str]] = {}
    for subject in sorted(labels):
        groups.setdefault(int(labels[subject]), []).append(subject)
    return dict(sorted(groups.items()))


def _name(label: int, class_names: Sequence[str]) -> str:
    return class_names[label] if 0 <= label < len(class_names) else str(label)


def split_subjects(
    labels: Mapping[str, int],
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    class_names: Sequence[str] = ("HC", "AD"),
) -> Split:
    """Split participants into train/validation/test sets, stratified by class and seeded.

    Per class, ``round(n * fraction)`` participants (at least one for a non-zero fraction) go
    to the validation and test sets; the rest (at least one) train.

    Parameters
    ----------
    labels : mapping
        Participant -> class index (one entry per participant: a split never separates a
        participant's sessions).
    val_fraction, test_fraction : float
        Shares of each class; ``0 < val_fraction``, ``0 <= test_fraction``, sum below 1.
    seed : int
        Seed of the shuffle.

    Raises
    ------
    SplitError
        For invalid fractions or a class too small to put a participant in every set.
    """
    if not 0 < val_fraction < 1 or not 0 <= test_fraction < 1:
        raise SplitError("the validation fraction must lie in (0, 1), the test one in [0, 1)")
    if val_fraction + test_fraction >= 1:
        raise SplitError("the validation and test fractions must leave participants to train on")
    rng = np.random.default_rng(seed)
    sets: dict[str, list[str]] = {"train": [], "validation": [], "test": []}
    for label, subjects in _by_class(labels).items():
        n = len(subjects)
        n_test = max(1, _round(n * test_fraction)) if test_fraction > 0 else 0
        n_val = max(1, _round(n * val_fraction))
        if n - n_test - n_val < 1:
            needed = 2 + (test_fraction > 0)
            raise SplitError(
                f"class {_name(label, class_names)} has {n} participant(s): too few for a "
                f"split with validation fraction {val_fraction:g} and test fraction "
                f"{test_fraction:g} (at least {needed} needed, one per set)"
            )
        order = [subjects[i] for i in rng.permutation(n)]
        sets["test"] += order[:n_test]
        sets["validation"] += order[n_test : n_test + n_val]
        sets["train"] += order[n_test + n_val :]
    return Split(*(tuple(sorted(sets[k])) for k in ("train", "validation", "test")))


def kfold_splits(
    labels: Mapping[str, int],
    *,
    folds: int,
    val_fraction: float = 0.15,
    seed: int = 0,
    class_names: Sequence[str] = ("HC", "AD"),
) -> list[Split]:
    """Stratified k-fold cross-validation over participants, seeded.

    Each class is shuffled and dealt round-robin into ``folds`` folds; fold ``k`` is the test
    set of split ``k`` and the other participants are split into training and validation sets
    (`split_subjects` with ``val_fraction``, seed ``(seed, k)``).

    Raises
    ------
    SplitError
        For fewer than 2 folds or a class too small for them.
    """
    if folds < 2:
        raise SplitError(f"cross-validation needs at least 2 folds, got {folds}")
    rng = np.random.default_rng(seed)
    assigned: list[list[str]] = [[] for _ in range(folds)]
    for label, subjects in _by_class(labels).items():
        n = len(subjects)
        # Every test fold holds the class, and the rest still fills a training and validation set.
        if n < folds or n - math.ceil(n / folds) < 2:
            needed = max(folds, math.ceil(2 * folds / (folds - 1)))
            raise SplitError(
                f"class {_name(label, class_names)} has {n} participant(s): too few for "
                f"{folds}-fold cross-validation (at least {needed} needed)"
            )
        for position, index in enumerate(rng.permutation(n)):
            assigned[position % folds].append(subjects[index])
    splits = []
    for k in range(folds):
        test = set(assigned[k])
        rest = {s: v for s, v in labels.items() if s not in test}
        inner = split_subjects(
            rest,
            val_fraction=val_fraction,
            test_fraction=0.0,
            seed=int(np.random.SeedSequence([seed, k]).generate_state(1)[0]),
            class_names=class_names,
        )
        splits.append(Split(inner.train, inner.validation, tuple(sorted(test))))
    return splits
