"""Relevance outside the brain mask is removed and measured (`bids_lrp.lrp.brain`)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from bids_lrp.lrp.brain import restrict_to_brain
from bids_lrp.normalize import relevance_to_grid


def test_outside_relevance_is_removed_and_its_share_reported():
    relevance = np.array([[1.0, -3.0], [2.0, 4.0]], dtype=np.float32)
    inside = np.array([[True, False], [True, True]])
    masked, share = restrict_to_brain(relevance, inside)
    assert masked.dtype == np.float32
    assert masked.tolist() == [[1.0, 0.0], [2.0, 4.0]]
    assert share == pytest.approx(3.0 / 10.0)
    assert relevance[0, 1] == -3.0  # the input is left as it was


def test_a_voxel_partly_in_the_brain_counts_outside_by_its_outside_part():
    """A coarse network voxel at the brain's edge: kept, its outside part counted as removed."""
    relevance = np.array([2.0, -4.0, 4.0], dtype=np.float32)
    brain = np.array([1.0, 0.25, 0.0])
    masked, share = restrict_to_brain(relevance, brain)
    assert masked.tolist() == [2.0, -4.0, 0.0]
    assert share == pytest.approx((4.0 * 0.75 + 4.0) / 10.0)


def test_an_empty_map_has_nothing_outside():
    masked, share = restrict_to_brain(np.zeros((2, 2)), np.zeros((2, 2), bool))
    assert share == 0.0 and not masked.any()


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="differ in shape"):
        restrict_to_brain(np.zeros((2, 2)), np.ones((2, 3), bool))


def test_a_coarse_map_moved_to_the_template_grid_stays_inside_the_mask():
    rng = np.random.default_rng(0)
    coarse = nib.Nifti1Image(rng.normal(size=(6, 6, 6)).astype(np.float32), np.diag([4, 4, 4, 1]))
    fine_affine = np.diag([1.0, 1.0, 1.0, 1.0])
    inside = np.zeros((24, 24, 24), bool)
    inside[4:20, 4:20, 4:20] = True
    plain = relevance_to_grid(coarse, (24, 24, 24), fine_affine)
    masked = relevance_to_grid(coarse, (24, 24, 24), fine_affine, inside=inside)
    assert np.asarray(plain.dataobj)[~inside].any()  # without the mask it spreads outside
    assert not np.asarray(masked.dataobj)[~inside].any()
    source = np.asarray(coarse.dataobj, dtype=float)
    moved = np.asarray(masked.dataobj, dtype=float)
    for sign in (1, -1):  # positive and negative totals are kept
        assert moved[sign * moved > 0].sum() == pytest.approx(
            source[sign * source > 0].sum(), 1e-5
        )
