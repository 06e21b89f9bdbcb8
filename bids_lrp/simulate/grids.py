"""Regular grids, smooth displacement fields and fast linear resampling.

All displacements are in world millimetres (RAS) and stored as ``(3, X, Y, Z)`` float32 arrays
on a `Grid`. Fields are smooth, so they live on a coarse grid (every second template voxel) and
are interpolated linearly wherever they are needed; that interpolated field *is* the ground-truth
transform (ITK interpolates displacement fields linearly too).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from bids_lrp.grid import Grid

__all__ = [
    "affine_coordinates",
    "coarse_grid",
    "invert_displacement",
    "jacobian_determinant",
    "sample",
    "sample_field",
    "smooth_random_field",
]


def coarse_grid(grid: Grid, step: int) -> Grid:
    """Return the grid of every ``step``-th voxel of ``grid`` (same origin)."""
    shape = tuple(int(-(-n // step)) for n in grid.shape)
    return Grid(shape, grid.affine @ np.diag([step, step, step, 1.0]))


def affine_coordinates(matrix: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Apply a 4x4 matrix to every voxel index of a grid.

    Parameters
    ----------
    matrix : numpy.ndarray
        4x4 affine from voxel indices of the grid to the wanted coordinates.
    shape : tuple of int
        Grid shape.

    Returns
    -------
    numpy.ndarray
        ``(3, *shape)`` float32 coordinates.
    """
    axes = [np.arange(n, dtype=np.float32) for n in shape]
    out = np.empty((3, *shape), dtype=np.float32)
    m = matrix.astype(np.float32)
    for c in range(3):
        out[c] = m[c, 3]
        out[c] += m[c, 0] * axes[0][:, None, None]
        out[c] += m[c, 1] * axes[1][None, :, None]
        out[c] += m[c, 2] * axes[2][None, None, :]
    return out


def _to_voxels(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    inv = np.linalg.inv(affine).astype(np.float32)
    flat = points.reshape(3, -1)
    vox = inv[:3, :3] @ flat + inv[:3, 3:4]
    return vox.reshape(points.shape)


_PADDING = {"constant": "zeros", "nearest": "border"}
_MODES = {0: "nearest", 1: "bilinear"}


def sample(
    image: np.ndarray,
    voxels: np.ndarray,
    *,
    order: int = 1,
    cval: float = 0.0,
    mode: str = "constant",
) -> np.ndarray:
    """Resample ``image`` at voxel coordinates.

    Trilinear (``order=1``) or nearest-neighbour (``order=0``) interpolation with
    `torch.nn.functional.grid_sample` (``align_corners=True``), which is several times faster than
    `scipy.ndimage.map_coordinates` and exactly reproducible on CPU.

    Parameters
    ----------
    image : numpy.ndarray
        3D array, or 4D ``(C, X, Y, Z)`` to sample C channels at once.
    voxels : numpy.ndarray
        ``(3, ...)`` voxel coordinates into ``image``.
    order : {0, 1}
        Interpolation order.
    cval : float
        Value outside the image for ``mode="constant"``.
    mode : {"constant", "nearest"}
        Outside the image: ``cval``, or the nearest edge value.

    Returns
    -------
    numpy.ndarray
        float32 of shape ``voxels.shape[1:]`` (3D input) or ``(C, *voxels.shape[1:])``.
    """
    channels = image if image.ndim == 4 else image[None]
    array = np.ascontiguousarray(channels, dtype=np.float32)
    data = torch.from_numpy(array if array.flags.writeable else array.copy())
    if mode == "constant" and cval != 0.0:
        data = data - cval
    spatial = channels.shape[1:]
    out_shape = voxels.shape[1:]
    voxels = voxels.reshape(3, *([1] * (4 - voxels.ndim)), *out_shape)
    # grid_sample wants normalized (z, y, x)-last coordinates in [-1, 1]. Built with numpy:
    # small multi-threaded torch element-wise ops are slow on some machines.
    grid = np.empty((1, *voxels.shape[1:], 3), dtype=np.float32)
    for axis in range(3):
        out = grid[..., 2 - axis]
        np.multiply(voxels[axis], np.float32(2.0 / max(spatial[axis] - 1, 1)), out=out[0])
        out -= np.float32(1.0)
    grid = torch.from_numpy(grid)
    out = torch.nn.functional.grid_sample(
        data[None], grid, mode=_MODES[order], padding_mode=_PADDING[mode], align_corners=True
    )[0]
    if mode == "constant" and cval != 0.0:
        out = out + cval
    result = out.numpy().reshape(-1, *out_shape)
    return result if image.ndim == 4 else result[0]


def sample_field(field: np.ndarray, grid: Grid, points: np.ndarray) -> np.ndarray:
    """Linearly interpolate a displacement field at world points.

    Parameters
    ----------
    field : numpy.ndarray
        ``(3, *grid.shape)`` displacement in mm.
    grid : Grid
        The field's grid.
    points : numpy.ndarray
        ``(3, ...)`` world coordinates (mm).

    Returns
    -------
    numpy.ndarray
        ``(3, ...)`` float32 displacement at ``points``; the edge value is held outside the grid.
    """
    return sample(field, _to_voxels(points, grid.affine), mode="nearest")


def smooth_random_field(
    rng: np.random.Generator, grid: Grid, *, spacing_mm: float, amplitude_mm: float
) -> np.ndarray:
    """Draw a smooth random displacement field.

    Gaussian noise on points ``spacing_mm / 3`` apart is smoothed (sigma ``spacing_mm``),
    interpolated linearly onto ``grid`` and scaled so that the root-mean-square displacement
    is ``amplitude_mm``.

    Returns
    -------
    numpy.ndarray
        ``(3, *grid.shape)`` float32.
    """
    extent = np.asarray(grid.shape) * grid.zooms
    step = spacing_mm / 3.0
    coarse = tuple(int(np.ceil(e / step)) + 1 for e in extent)
    noise = ndimage.gaussian_filter(rng.standard_normal((3, *coarse)), (0, 3.0, 3.0, 3.0))
    ratio = (grid.zooms / step).astype(np.float32)
    vox = affine_coordinates(np.diag([*ratio, 1.0]), grid.shape)
    out = sample(noise.astype(np.float32), vox, mode="nearest")
    rms = float(np.sqrt(np.mean(np.sum(out**2, axis=0))))
    return out * np.float32(amplitude_mm / max(rms, 1e-6))


def jacobian_determinant(field: np.ndarray, grid: Grid) -> np.ndarray:
    """Determinant of the Jacobian of ``y -> y + field(y)`` (central differences).

    Assumes an axis-aligned grid (diagonal affine), as the template grids are.
    """
    zooms = grid.zooms
    jac = np.empty((3, 3, *grid.shape), dtype=np.float32)
    for c in range(3):
        for d, g in enumerate(np.gradient(field[c], *zooms)):
            jac[c, d] = g * np.sign(grid.affine[d, d]) + (1.0 if c == d else 0.0)
    return (
        jac[0, 0] * (jac[1, 1] * jac[2, 2] - jac[1, 2] * jac[2, 1])
        - jac[0, 1] * (jac[1, 0] * jac[2, 2] - jac[1, 2] * jac[2, 0])
        + jac[0, 2] * (jac[1, 0] * jac[2, 1] - jac[1, 1] * jac[2, 0])
    )


def invert_displacement(
    field: np.ndarray, grid: Grid, *, tolerance_mm: float = 0.02, max_iterations: int = 20
) -> np.ndarray:
    """Invert ``y -> y + field(y)`` on the same grid by fixed-point iteration.

    Solves ``x = y + field(y)`` for ``y = x + inverse(x)``: ``inverse <- -field(x + inverse)``,
    which converges for smooth fields whose Jacobian stays positive. Stops when no vector changes
    by more than ``tolerance_mm``.

    Returns
    -------
    numpy.ndarray
        ``(3, *grid.shape)`` float32 inverse displacement.
    """
    points = affine_coordinates(grid.affine, grid.shape)
    inverse = -field
    for _ in range(max_iterations):
        update = -sample_field(field, grid, points + inverse)
        change = float(np.abs(update - inverse).max())
        inverse = update
        if change < tolerance_mm:
            break
    return inverse
