"""Moving images and relevance maps between grids.

Images are resampled by world coordinates (interpolating intensities). Relevance is different:
it is an additive quantity (LRP distributes the start relevance over the input voxels, Böhle et
al. 2019), so a relevance map is resampled as a *density* (relevance per mm³), multiplied by the
target voxel volume, and then its positive and negative parts are rescaled separately so that
each keeps its total over the image. The total relevance (and the positive and negative masses)
are therefore preserved exactly; the spatial pattern is preserved up to interpolation.
"""

from __future__ import annotations

import logging

import nibabel as nib
import numpy as np
from scipy import ndimage

from bids_lrp.grid import Grid

__all__ = [
    "ORDERS",
    "antialias_sigmas",
    "image_of",
    "on_grid",
    "preserve_masses",
    "relevance_to_grid",
    "resample_to_grid",
    "voxel_volume",
]

logger = logging.getLogger(__name__)

#: Interpolation names -> spline orders for `resample_to_grid`.
ORDERS: dict[str, int] = {"nearest": 0, "linear": 1, "cubic": 3}


def image_of(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    """A float32 NIfTI image of ``data`` on ``affine`` (units mm)."""
    out = nib.Nifti1Image(np.asarray(data, dtype=np.float32), np.asarray(affine, float))
    out.header.set_xyzt_units("mm")
    return out


def voxel_volume(affine: np.ndarray) -> float:
    """The volume of one voxel of ``affine`` (mm³)."""
    return float(abs(np.linalg.det(np.asarray(affine, float)[:3, :3])))


def antialias_sigmas(source: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """Gaussian widths (source voxels) that low-pass an image before it is sampled coarser.

    ``max(0, (f - 1) / 2)`` per source axis, ``f`` the target voxel size over the source's
    along it (scikit-image's ``resize(..., anti_aliasing=True)``): 1.5 voxels from 1 to 4 mm,
    none where the target is as fine or finer.
    """
    source, target = np.asarray(source, float), np.asarray(target, float)
    # Target voxel edges expressed in source voxels: how many source voxels one target spans.
    edges = np.abs(np.linalg.solve(source[:3, :3], target[:3, :3]))
    factors = np.linalg.norm(edges, axis=1)
    return tuple(float(max(0.0, (f - 1.0) / 2.0)) for f in factors)


def resample_to_grid(
    image: nib.Nifti1Image,
    shape: tuple[int, int, int],
    affine: np.ndarray,
    *,
    interpolation: str = "linear",
    antialias: bool = False,
) -> nib.Nifti1Image:
    """Resample an image onto another grid by world coordinates (e.g. a 2 mm model grid).

    Sampling a 1 mm image every 4 mm keeps its finest detail and noise, aliased: two
    registrations of one scan that differ by a fraction of a millimetre then give network
    inputs that correlate only 0.82-0.90 inside the brain (0.99 with ``antialias``; simulated
    scans, benchmarks/RESULTS.md). ``antialias`` low-passes the image first with a
    Gaussian of `antialias_sigmas`, so that each coarse voxel stands for its neighbourhood.

    Parameters
    ----------
    image : nibabel.Nifti1Image
        3D image.
    shape : tuple of int
        Target grid shape.
    affine : numpy.ndarray
        Target voxel-to-world affine (4x4).
    interpolation : str
        A key of `ORDERS`.
    antialias : bool
        Low-pass before sampling a coarser grid (intensities only; never for labels).

    Returns
    -------
    nibabel.Nifti1Image
        float32 on the target grid; 0 outside the source field of view.
    """
    if interpolation not in ORDERS:
        raise ValueError(
            f"unknown interpolation {interpolation!r}; choose from {', '.join(ORDERS)}"
        )
    target = np.asarray(affine, float)
    vox2vox = np.linalg.solve(np.asarray(image.affine, float), target)
    data = np.asarray(image.dataobj, dtype=np.float32)
    if antialias:
        sigmas = antialias_sigmas(image.affine, target)
        if any(sigmas):
            data = ndimage.gaussian_filter(data, sigmas, mode="constant", cval=0.0)
    out = ndimage.affine_transform(
        data,
        vox2vox[:3, :3],
        vox2vox[:3, 3],
        output_shape=tuple(int(s) for s in shape),
        order=ORDERS[interpolation],
        mode="constant",
        cval=0.0,
        prefilter=ORDERS[interpolation] > 1,
    )
    return image_of(out, target)


def on_grid(image: nib.Nifti1Image, grid: Grid, *, antialias: bool = False) -> nib.Nifti1Image:
    """``image`` on ``grid``: itself when it lies there already, else `resample_to_grid`
    (linear, low-passed first with ``antialias``)."""
    if grid.same_as(image.shape[:3], image.affine):
        return image
    return resample_to_grid(image, grid.shape, grid.affine, antialias=antialias)


def preserve_masses(moved: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Rescale the positive and negative parts of ``moved`` to the totals of ``source``."""
    out = np.array(moved, dtype=np.float64)
    for sign in (1.0, -1.0):
        part = sign * out > 0
        wanted = float(source[sign * source > 0].sum(dtype=np.float64))
        have = float(out[part].sum())
        if have != 0:
            out[part] *= wanted / have
        elif wanted != 0:
            logger.warning(
                "relevance of sign %+d (total %.3g) fell outside the target grid", sign, wanted
            )
    return out


def relevance_to_grid(
    relevance: nib.Nifti1Image,
    shape: tuple[int, int, int],
    affine: np.ndarray,
    inside: np.ndarray | None = None,
) -> nib.Nifti1Image:
    """Resample a relevance map onto another grid, preserving its total relevance.

    The map is interpolated linearly as a density (relevance / voxel volume), multiplied by the
    target voxel volume, and its positive and negative parts are rescaled to their original
    totals (see the module docstring).

    Parameters
    ----------
    relevance : nibabel.Nifti1Image
        Relevance map.
    shape, affine : tuple of int, numpy.ndarray
        Target grid.
    inside : numpy.ndarray of bool, optional
        Voxels of the target grid that may hold relevance (the template brain mask): the
        interpolation of a coarser map spreads into the voxels just outside it, so those are
        zeroed before the totals are restored.

    Returns
    -------
    nibabel.Nifti1Image
        float32 relevance on the target grid with the same sum (to float32 precision).
    """
    source = np.asarray(relevance.dataobj, dtype=np.float64)
    density = image_of(source / voxel_volume(relevance.affine), relevance.affine)
    moved = np.asarray(resample_to_grid(density, shape, affine).dataobj, dtype=np.float64)
    moved *= voxel_volume(affine)
    if inside is not None:
        moved[~inside] = 0.0
    return image_of(preserve_masses(moved, source), affine)
