"""N4, masking/scaling, quality and grid changes on small images."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from bids_lrp.normalize import (
    mask_and_scale,
    n4_bias_correct,
    registration_quality,
    relevance_to_grid,
    resample_to_grid,
)
from tests.normalize.conftest import downsample


def test_n4_removes_a_simulated_bias_field(template):
    brain, mask = template
    clean = downsample(brain, 2.0)
    inside = np.asarray(downsample(mask, 2.0, "nearest").dataobj) > 0
    data = clean.get_fdata()
    # A smooth multiplicative field, +-30 % across the head; the background gets a little signal
    # so that N4's default head mask covers the brain.
    x, y, z = np.meshgrid(*(np.linspace(-1, 1, n) for n in data.shape), indexing="ij")
    field = np.exp(0.3 * (0.8 * x + 0.5 * y - 0.6 * z))
    biased = nib.Nifti1Image((data * field).astype(np.float32), clean.affine)
    corrected = n4_bias_correct(biased).get_fdata()

    def spread(image):  # coefficient of variation of image / truth inside the brain
        ratio = image[inside] / data[inside]
        return ratio.std() / ratio.mean()

    assert spread(data * field) > 0.08  # measured 0.114; after N4 0.058
    assert spread(corrected) < 0.7 * spread(data * field), (
        spread(data * field),
        spread(corrected),
    )


def test_mask_and_scale_and_quality():
    rng = np.random.default_rng(0)
    data = rng.random((6, 7, 8)) * 50 + 10
    mask = np.zeros(data.shape, np.uint8)
    mask[1:5, 2:6, 1:7] = 1
    img, mask_img = nib.Nifti1Image(data, np.eye(4)), nib.Nifti1Image(mask, np.eye(4))
    out = mask_and_scale(img, mask_img).get_fdata()
    inside = mask > 0
    assert mask_and_scale(img, mask_img).get_data_dtype() == np.float32
    assert out[inside].min() == 0 and out[inside].max() == pytest.approx(1)
    assert np.all(out[~inside] == 0)
    expected = (data[inside] - data[inside].min()) / np.ptp(data[inside])
    assert np.allclose(out[inside], expected, atol=1e-6)
    assert registration_quality(img, img, mask_img) == pytest.approx(1)
    flipped = nib.Nifti1Image(-data, np.eye(4))
    assert registration_quality(flipped, img, mask_img) == pytest.approx(-1)
    with pytest.raises(ValueError, match="constant"):
        mask_and_scale(nib.Nifti1Image(np.ones(data.shape), np.eye(4)), mask_img)
    with pytest.raises(ValueError, match="same grid"):
        mask_and_scale(img, nib.Nifti1Image(mask[:-1], np.eye(4)))


def test_resample_to_grid_by_world_coordinates():
    data = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-4, -5, -6]
    img = nib.Nifti1Image(data, affine)
    same = resample_to_grid(img, data.shape, affine, interpolation="nearest")
    assert np.array_equal(same.get_fdata(), data)
    # A 1 mm grid whose voxel (2k, 2l, 2m) is the 2 mm voxel (k, l, m).
    fine = np.diag([1.0, 1.0, 1.0, 1.0])
    fine[:3, 3] = affine[:3, 3]
    out = resample_to_grid(img, (8, 10, 12), fine).get_fdata()
    assert np.allclose(out[::2, ::2, ::2][:4, :5, :6], data)
    assert out[1, 0, 0] == pytest.approx((data[0, 0, 0] + data[1, 0, 0]) / 2)
    with pytest.raises(ValueError, match="unknown interpolation"):
        resample_to_grid(img, (2, 2, 2), affine, interpolation="sinc")


@pytest.mark.parametrize("zoom", [2.0, 0.5])
def test_relevance_to_grid_preserves_totals(zoom):
    rng = np.random.default_rng(1)
    relevance = rng.standard_normal((20, 24, 22))
    relevance[rng.random(relevance.shape) < 0.5] = 0
    img = nib.Nifti1Image(relevance, np.diag([1.0, 1.0, 1.0, 1.0]))
    shape = tuple(int(np.ceil(s / zoom)) for s in relevance.shape)
    target = np.diag([zoom, zoom, zoom, 1.0])
    out = relevance_to_grid(img, shape, target).get_fdata()
    assert out.shape == shape
    assert out.sum() == pytest.approx(relevance.sum(), rel=1e-5)
    assert out[out > 0].sum() == pytest.approx(relevance[relevance > 0].sum(), rel=1e-5)
    # The spatial pattern survives: a coarse copy correlates with the original.
    back = relevance_to_grid(nib.Nifti1Image(out, target), relevance.shape, img.affine)
    smooth = back.get_fdata()
    assert np.corrcoef(smooth.ravel(), relevance.ravel())[0, 1] > 0.2
