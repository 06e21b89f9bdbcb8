"""Subject-wise splits: disjoint, complete, stratified, seeded; k folds; too-small classes."""

from __future__ import annotations

import pytest

from bids_lrp.model.train import Split, SplitError, kfold_splits, split_subjects


def _labels(n_ad: int, n_hc: int) -> dict[str, int]:
    return {**{f"a{i:02d}": 1 for i in range(n_ad)}, **{f"h{i:02d}": 0 for i in range(n_hc)}}


def _check_partition(split: Split, labels: dict[str, int]) -> None:
    sets = [set(s) for s in split.sets().values()]
    assert sum(len(s) for s in sets) == len(labels)  # no participant in two sets
    assert set().union(*sets) == set(labels)  # and none lost


def test_holdout_is_a_stratified_partition():
    labels = _labels(20, 30)
    split = split_subjects(labels, val_fraction=0.2, test_fraction=0.1, seed=3)
    _check_partition(split, labels)
    counts = {
        name: (sum(labels[s] for s in subjects), sum(1 - labels[s] for s in subjects))
        for name, subjects in split.sets().items()
    }
    assert counts == {"train": (14, 21), "validation": (4, 6), "test": (2, 3)}


def test_split_is_seeded():
    labels = _labels(10, 10)
    a = split_subjects(labels, seed=1)
    assert a == split_subjects(labels, seed=1)
    assert a != split_subjects(labels, seed=2)
    # The insertion order of the mapping does not matter.
    assert a == split_subjects(dict(reversed(list(labels.items()))), seed=1)


def test_every_set_gets_each_class_even_when_small():
    split = split_subjects(_labels(3, 3), val_fraction=0.1, test_fraction=0.1, seed=0)
    for subjects in split.sets().values():
        assert {s[0] for s in subjects} == {"a", "h"}


def test_no_test_set():
    split = split_subjects(_labels(4, 4), val_fraction=0.25, test_fraction=0.0)
    assert split.test == () and len(split.validation) == 2


@pytest.mark.parametrize(
    ("n_hc", "kwargs", "message"),
    [
        (2, {"val_fraction": 0.15, "test_fraction": 0.15}, "class HC has 2 participant"),
        (1, {"val_fraction": 0.15, "test_fraction": 0.0}, "at least 2 needed"),
        (9, {"val_fraction": 0.6, "test_fraction": 0.4}, "leave participants to train"),
    ],
)
def test_too_few_participants(n_hc, kwargs, message):
    with pytest.raises(SplitError, match=message):
        split_subjects(_labels(9, n_hc), **kwargs)


def test_kfold_test_sets_partition_participants():
    labels = _labels(7, 9)
    splits = kfold_splits(labels, folds=3, val_fraction=0.2, seed=5)
    assert len(splits) == 3
    tests = [set(s.test) for s in splits]
    assert sum(len(t) for t in tests) == len(labels) and set().union(*tests) == set(labels)
    for split in splits:
        _check_partition(split, labels)
        for subjects in split.sets().values():
            assert {s[0] for s in subjects} == {"a", "h"}  # stratified
        assert max(len(t) for t in tests) - min(len(t) for t in tests) <= 1
    assert splits == kfold_splits(labels, folds=3, val_fraction=0.2, seed=5)
    assert splits != kfold_splits(labels, folds=3, val_fraction=0.2, seed=6)


def test_kfold_needs_enough_participants_per_class():
    with pytest.raises(SplitError, match="class AD has 2 participant.*3-fold"):
        kfold_splits(_labels(2, 9), folds=3)
    with pytest.raises(SplitError, match="at least 2 folds"):
        kfold_splits(_labels(9, 9), folds=1)
