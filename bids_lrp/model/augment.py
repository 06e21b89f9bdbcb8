"""Augmentations beyond the paper's, for networks that must survive a real preprocessing.

A network trained on scans aligned by their true pose (the simulator's ground-truth derivatives)
sees, at inference, what N4 and an ANTs affine registration make of the raw scan: a residual
misalignment of up to 1 mm, mostly along y and z, and a different min-max window (a few bright or
dark voxels set the scaling, so the same anatomy comes out with less contrast and a raised floor:
``pipeline ~ contrast * true + floor`` with contrast 0.74-0.94 and floor 0.02-0.15 on the AD
scans of one simulated cohort, `benchmarks/alignment.py`), with a smooth residual bias of a few
percent. A network pruned hard by weight decay can learn the atrophy at one exact height and one
exact contrast and lose AD scans to either. On a coarse network grid most of that
sensitivity comes from sampling the scans without a low-pass, which
`bids_lrp-train --input-resampling antialiased` (the default) removes; these augmentations do
not remove it, and with a strong weight decay the intensity one can keep the network at chance
(benchmarks/RESULTS.md, "Localization on ground truth"). Both are off by default (the paper
augments by a flip and an x-shift only, `augment`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

__all__ = ["augment", "intensity_jitter", "pose_jitter"]


def _shift(image: np.ndarray, offset: int, axis: int) -> np.ndarray:
    """Shift ``image`` by ``offset`` voxels along ``axis`` with zero fill (no wrap-around)."""
    if offset == 0:
        return image
    out = np.zeros_like(image)
    n = image.shape[axis]
    if abs(offset) >= n:
        return out
    src = [slice(None)] * image.ndim
    dst = [slice(None)] * image.ndim
    if offset > 0:
        src[axis], dst[axis] = slice(0, n - offset), slice(offset, n)
    else:
        src[axis], dst[axis] = slice(-offset, n), slice(0, n + offset)
    out[tuple(dst)] = image[tuple(src)]
    return out


def _drawn_for(batch: np.ndarray, positions: Sequence[int] | None, size: int | None):
    """(index into ``batch`` or -1, image or None) for every image of the whole batch."""
    if positions is None:
        yield from enumerate(batch)
        return
    where = {int(p): i for i, p in enumerate(positions)}
    for p in range(len(batch) if size is None else size):
        i = where.get(p, -1)
        yield i, (batch[i] if i >= 0 else None)


def augment(
    batch: np.ndarray,
    rng: np.random.Generator,
    *,
    flip_p: float = 0.5,
    shift: tuple[int, int] = (-2, 3),
    axis: int = 0,
    positions: Sequence[int] | None = None,
    size: int | None = None,
) -> np.ndarray:
    """Sagittal flip with probability ``flip_p``, then an integer shift along ``axis``.

    Böhle et al. (2019), section 2.2. ``axis`` is the left-right array axis (0 on template
    grids); the shift is drawn uniformly from ``shift[0]..shift[1]`` (inclusive) voxels. Both
    draws are made for every image, so the random stream does not depend on the outcomes.

    Parameters
    ----------
    batch : numpy.ndarray
        Images, shape ``(N, X, Y, Z)``.
    rng : numpy.random.Generator
        Source of the draws.
    positions, size : optional
        The images are those at ``positions`` of a batch of ``size`` (one process's share):
        draws are made for all ``size`` images, in order, and applied to these.

    Returns
    -------
    numpy.ndarray
        A new array like ``batch``.
    """
    out = np.empty_like(batch)
    for i, image in _drawn_for(batch, positions, size):
        flip = rng.random() < flip_p
        offset = int(rng.integers(shift[0], shift[1] + 1))
        if image is not None:
            out[i] = _shift(np.flip(image, axis) if flip else image, offset, axis)
    return out


#: Largest log-slope of the smooth multiplicative field, as a share of the intensity strength.
FIELD_SHARE = 0.2


def pose_jitter(
    batch: np.ndarray,
    rng: np.random.Generator,
    *,
    voxels: float,
    axis: int = 0,
    positions: Sequence[int] | None = None,
    size: int | None = None,
) -> np.ndarray:
    """Shift every image by a uniform sub-voxel amount along the two axes other than ``axis``.

    The paper's x-shift moves whole voxels along the left-right ``axis``; this adds what an
    affine registration leaves along the others: a translation drawn uniformly from
    ``[-voxels, voxels]`` per axis, by linear interpolation (edges repeat the border value).

    Parameters
    ----------
    batch : numpy.ndarray
        Images, shape ``(N, X, Y, Z)``.
    rng : numpy.random.Generator
        Source of the draws (two per image).
    voxels : float
        Largest shift in voxels of the network grid (> 0).
    axis : int
        The left-right array axis, not shifted here.
    positions, size : optional
        As for `augment`.

    Returns
    -------
    numpy.ndarray
        A new array like ``batch``.
    """
    if voxels <= 0:
        raise ValueError(f"voxels must be > 0, got {voxels}")
    others = [a for a in range(3) if a != axis]
    out = np.empty_like(batch)
    for i, image in _drawn_for(batch, positions, size):
        offset = [0.0, 0.0, 0.0]
        for a, step in zip(others, rng.uniform(-voxels, voxels, 2), strict=True):
            offset[a] = float(step)
        if image is not None:
            out[i] = ndimage.shift(image, offset, order=1, mode="nearest")
    return out


def intensity_jitter(
    batch: np.ndarray,
    rng: np.random.Generator,
    *,
    strength: float,
    positions: Sequence[int] | None = None,
    size: int | None = None,
) -> np.ndarray:
    """Re-window the min-max scaling and multiply by a smooth field, inside the brain only.

    Every image, whose brain lies in [0, 1] (`bids_lrp.normalize.mask_and_scale`), is mapped
    inside the brain (voxels above 0) to ``(x - low) / (high - low)`` with ``low`` drawn from
    ``[-strength, 0]`` and ``high`` from ``[1 - strength / 2, 1 + strength]``: another window of
    the same anatomy, mostly the flatter one a registered scan gets. It is then multiplied by
    ``exp(c . u)``, ``u`` the voxel position scaled to [-1, 1] per axis and each ``c`` drawn from
    ``[-FIELD_SHARE * strength, FIELD_SHARE * strength]``: a bias that N4 left. Voxels outside the
    brain stay 0.

    Parameters
    ----------
    batch : numpy.ndarray
        Images, shape ``(N, X, Y, Z)``, 0 outside the brain.
    rng : numpy.random.Generator
        Source of the draws (five per image).
    strength : float
        In (0, 1).
    positions, size : optional
        As for `augment`.

    Returns
    -------
    numpy.ndarray
        A new array like ``batch``.
    """
    if not 0 < strength < 1:
        raise ValueError(f"strength must lie in (0, 1), got {strength}")
    shape = batch.shape[1:]
    position = np.meshgrid(*(np.linspace(-1.0, 1.0, n) for n in shape), indexing="ij")
    out = np.empty_like(batch)
    for i, image in _drawn_for(batch, positions, size):
        low = rng.uniform(-strength, 0.0)
        high = rng.uniform(1.0 - strength / 2, 1.0 + strength)
        slopes = rng.uniform(-FIELD_SHARE * strength, FIELD_SHARE * strength, 3)
        if image is None:
            continue
        field = np.exp(sum(c * u for c, u in zip(slopes, position, strict=True)))
        windowed = (image - low) / (high - low) * field
        out[i] = np.where(image > 0, windowed, 0.0).astype(batch.dtype)
    return out
