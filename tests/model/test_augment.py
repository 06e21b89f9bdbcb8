"""Augmentation: sagittal flip and zero-filled integer x-shift (Böhle et al. 2019)."""

from __future__ import annotations

import numpy as np
import pytest

from bids_lrp.model.train import augment, default_shift


def _batch(n: int = 3) -> np.ndarray:
    return np.random.default_rng(0).random((n, 6, 5, 4)).astype(np.float32)


def test_flip_always_and_never():
    batch = _batch()
    flipped = augment(batch, np.random.default_rng(0), flip_p=1.0, shift=(0, 0))
    np.testing.assert_array_equal(flipped, batch[:, ::-1])
    same = augment(batch, np.random.default_rng(0), flip_p=0.0, shift=(0, 0))
    np.testing.assert_array_equal(same, batch)
    assert same is not batch  # a new array: the data in memory stay untouched


@pytest.mark.parametrize("offset", [-2, -1, 1, 3])
def test_shift_moves_along_x_with_zero_fill(offset):
    batch = _batch(1)
    out = augment(batch, np.random.default_rng(0), flip_p=0.0, shift=(offset, offset))[0]
    if offset > 0:
        np.testing.assert_array_equal(out[offset:], batch[0, :-offset])
        assert not out[:offset].any()
    else:
        np.testing.assert_array_equal(out[:offset], batch[0, -offset:])
        assert not out[offset:].any()


def test_draws_cover_the_range_and_are_seeded():
    batch = np.zeros((400, 8, 1, 1), np.float32)
    batch[:, 4] = 1.0  # a single bright plane: its position tells the shift
    out = augment(batch, np.random.default_rng(1), flip_p=0.5, shift=(-2, 3))
    positions = out[:, :, 0, 0].argmax(axis=1)
    # Unflipped plane at 4 + s; a flipped one sits at 3 and moves to 3 + s.
    assert set(positions) == set(range(1, 8))
    again = augment(batch, np.random.default_rng(1), flip_p=0.5, shift=(-2, 3))
    np.testing.assert_array_equal(out, again)


def test_default_shift_keeps_the_papers_range_at_1mm():
    assert default_shift(1.0) == (-2, 3)
    assert default_shift(2.0) == (-1, 2)
    assert default_shift(4.0) == (-1, 1)
    assert default_shift(8.0) == (-1, 1)
