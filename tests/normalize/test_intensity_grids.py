"""N4, masking/scaling, quality and grid changes on small images."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from bids_lrp.normalize import (
    antialias_sigmas,
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


def test_antialias_sigmas_follow_the_downsampling():
    one, four = np.diag([1.0, 1.0, 1.0, 1.0]), np.diag([4.0, 4.0, 4.0, 1.0])
    assert antialias_sigmas(one, four) == (1.5, 1.5, 1.5)  # (4 - 1) / 2 source voxels
    assert antialias_sigmas(four, one) == (0.0, 0.0, 0.0)  # finer: nothing to remove
    flipped = np.diag([-1.0, 1.0, 2.0, 1.0])
    assert antialias_sigmas(flipped, np.diag([2.0, 4.0, 2.0, 1.0])) == (0.5, 1.5, 0.0)


def _scan_and_grid(shift_mm: float = 0.0):
    """Noise of 1 mm grain in a 40 mm cube, and a 4 mm grid; the image moved by ``shift_mm``."""
    data = np.random.default_rng(0).random((40, 40, 40)).astype(np.float32)
    affine = np.eye(4)
    affine[:3, 3] = shift_mm
    coarse = np.diag([4.0, 4.0, 4.0, 1.0])
    coarse[:3, 3] = 1.5  # coarse voxel centres between fine ones
    return nib.Nifti1Image(data, affine), (10, 10, 10), coarse


def test_antialiased_resampling_averages_instead_of_sampling():
    img, shape, coarse = _scan_and_grid()
    inner = (slice(2, 8),) * 3
    sampled = resample_to_grid(img, shape, coarse).get_fdata()[inner]
    smooth = resample_to_grid(img, shape, coarse, antialias=True).get_fdata()[inner]
    # Uniform noise has mean 1/2 and variance 1/12; between four voxels, linear sampling keeps
    # about a fifth of it, averaging over ~4 mm keeps well under a tenth of that.
    assert sampled.var() > 0.01 and smooth.var() < 0.003
    assert abs(smooth.mean() - 0.5) < 0.02 and abs(sampled.mean() - 0.5) < 0.05
    constant = nib.Nifti1Image(np.ones((40, 40, 40), np.float32), np.eye(4))
    flat = resample_to_grid(constant, shape, coarse, antialias=True).get_fdata()[inner]
    assert np.allclose(flat, 1.0, atol=1e-5)  # a low-pass keeps what is already smooth
    same = resample_to_grid(img, (40, 40, 40), np.eye(4), antialias=True).get_fdata()
    np.testing.assert_array_equal(same, img.get_fdata())  # no coarser grid: no filter


def test_antialiasing_makes_a_sub_millimetre_shift_harmless():
    """What two registrations of one scan half a millimetre apart give the network."""
    inner = (slice(2, 8),) * 3
    corr = {}
    for antialias in (False, True):
        a, b = (
            resample_to_grid(img, shape, coarse, antialias=antialias).get_fdata()[inner].ravel()
            for img, shape, coarse in (_scan_and_grid(0.0), _scan_and_grid(0.5))
        )
        corr[antialias] = np.corrcoef(a, b)[0, 1]
    assert corr[False] < 0.6 and corr[True] > 0.9
