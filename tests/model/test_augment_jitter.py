"""Augmentations beyond the paper's: sub-voxel y/z jitter and another min-max window."""

from __future__ import annotations

import numpy as np
import pytest

from bids_lrp.model.augment import FIELD_SHARE, intensity_jitter, pose_jitter
from bids_lrp.model.train import Recipe


def _ramps(n: int, shape=(6, 12, 12)) -> np.ndarray:
    """Images equal to y in the first half along x and to z in the second half."""
    _, y, z = np.meshgrid(*(np.arange(s, dtype=np.float32) for s in shape), indexing="ij")
    half = shape[0] // 2
    image = np.concatenate([y[:half], z[half:]])
    return np.repeat(image[None], n, axis=0)


def test_pose_jitter_moves_along_y_and_z_only_within_the_bound():
    batch = _ramps(300)
    out = pose_jitter(batch, np.random.default_rng(0), voxels=0.5)
    change = (out - batch)[:, :, 2:-2, 2:-2]  # away from the repeated edges
    # Linear interpolation of a ramp is exact: out(p) = in(p - d), so the y half changes by
    # -dy and the z half by -dz, the same in every voxel of the half (x is never shifted).
    dy, dz = -change[:, :3], -change[:, 3:]
    assert np.allclose(dy, dy[:, :1, :1, :1], atol=1e-4)
    assert np.allclose(dz, dz[:, :1, :1, :1], atol=1e-4)
    dy, dz = dy[:, 0, 0, 0], dz[:, 0, 0, 0]
    for d in (dy, dz):
        assert np.abs(d).max() <= 0.5 + 1e-5
        assert d.min() < -0.45 and d.max() > 0.45  # uniform over the whole range
        assert abs(d.mean()) < 0.05
    assert abs(np.corrcoef(dy, dz)[0, 1]) < 0.2  # two independent draws
    plane = np.zeros((50, 7, 4, 4), np.float32)
    plane[:, 3] = 1.0  # a bright x-plane stays where it is
    moved = pose_jitter(plane, np.random.default_rng(1), voxels=0.5)
    assert np.allclose(moved[:, 3], 1.0) and not moved[:, [0, 1, 2, 4, 5, 6]].any()


def test_pose_jitter_is_seeded_and_spares_the_input():
    batch = _ramps(4)
    a = pose_jitter(batch, np.random.default_rng(3), voxels=0.25)
    b = pose_jitter(batch, np.random.default_rng(3), voxels=0.25)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(batch, _ramps(4))
    with pytest.raises(ValueError, match="voxels"):
        pose_jitter(batch, np.random.default_rng(3), voxels=0.0)


def _two_tissues(n: int, shape=(6, 5, 4)) -> np.ndarray:
    """Brain values 0.25 in the first half along x and 0.75 in the second, 0 on a border."""
    image = np.zeros(shape, np.float32)
    image[: shape[0] // 2], image[shape[0] // 2 :] = 0.25, 0.75
    image[:, 0] = 0.0  # outside the brain
    return np.repeat(image[None], n, axis=0)


def _recover(image: np.ndarray, out: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Window (low, high) and field slopes from one jittered `_two_tissues` image.

    Inside, log(out) = log(x - low) - log(high - low) + c . u: linear in the position u with
    one offset per tissue; the two offsets give low, then high.
    """
    inside = image > 0
    u = np.stack(np.meshgrid(*(np.linspace(-1, 1, n) for n in image.shape), indexing="ij"))
    design = np.column_stack([image[inside] == 0.25, image[inside] == 0.75, *u[:, inside]])
    coef, residual, *_ = np.linalg.lstsq(design.astype(float), np.log(out[inside]), rcond=None)
    assert np.sqrt(residual[0] / inside.sum()) < 1e-5  # exactly a window times exp(c . u)
    ratio = np.exp(coef[1] - coef[0])  # (0.75 - low) / (0.25 - low)
    low = (0.75 - 0.25 * ratio) / (1 - ratio)
    high = low + (0.25 - low) / np.exp(coef[0])
    return float(low), float(high), coef[2:]


def test_intensity_jitter_windows_and_bends_the_brain_only():
    strength = 0.25
    batch = _two_tissues(200)
    out = intensity_jitter(batch, np.random.default_rng(0), strength=strength)
    assert out.dtype == batch.dtype and not out[batch == 0].any() and (out[batch > 0] > 0).all()
    np.testing.assert_array_equal(batch, _two_tissues(200))
    draws = np.array([_recover(b.astype(np.float64), o.astype(np.float64)) for b, o in
                      zip(batch, out, strict=True)], dtype=object)  # fmt: skip
    low, high = draws[:, 0].astype(float), draws[:, 1].astype(float)
    slopes = np.stack(draws[:, 2]).astype(float)
    tol = 1e-3
    assert low.min() >= -strength - tol and low.max() <= tol
    assert low.min() < -0.9 * strength and low.max() > -0.1 * strength
    assert high.min() >= 1 - strength / 2 - tol and high.max() <= 1 + strength + tol
    assert high.min() < 1 - 0.4 * strength and high.max() > 1 + 0.9 * strength
    bound = FIELD_SHARE * strength
    assert np.abs(slopes).max() <= bound + tol and np.abs(slopes).max() > 0.9 * bound


def test_intensity_jitter_is_seeded_and_checks_its_strength():
    batch = _two_tissues(3)
    a = intensity_jitter(batch, np.random.default_rng(5), strength=0.1)
    np.testing.assert_array_equal(
        a, intensity_jitter(batch, np.random.default_rng(5), strength=0.1)
    )
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="strength"):
            intensity_jitter(batch, np.random.default_rng(5), strength=bad)


def test_recipe_checks_and_records_the_jitters():
    recipe = Recipe(pose_jitter=0.5, intensity_jitter=0.25)
    assert recipe.to_json()["pose_jitter"] == 0.5 and recipe.to_json()["intensity_jitter"] == 0.25
    assert Recipe().pose_jitter == 0 and Recipe().intensity_jitter == 0  # the paper: off
    with pytest.raises(ValueError, match="pose_jitter"):
        Recipe(pose_jitter=-0.1)
    with pytest.raises(ValueError, match="intensity_jitter"):
        Recipe(intensity_jitter=1.0)
