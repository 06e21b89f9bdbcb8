"""Regional atrophy as a smooth, volume-calibrated deformation.

For each planted area (left + right) the binary atlas mask ``M`` is smoothed, ``phi = G_s * M``,
and the pull-back displacement ``a = -kappa * c_area * grad(phi)`` is used: template-space tissue
is sampled from further out, so the area contracts (Jacobian of the forward map < 1 inside) while
the shell around it, mostly CSF, sulci and the temporal horn, expands; the integral of
``laplace(phi)`` is zero, so the brain keeps its size. ``c_area`` equalizes areas so that one
``kappa`` gives every area about the same fractional loss, and a cached curve maps a requested
volume-loss fraction to ``kappa``. The achieved loss is always measured (by warping the masks),
never assumed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from bids_lrp.simulate.anatomy import FIELD_STEP, Anatomy, load_anatomy
from bids_lrp.simulate.grids import jacobian_determinant, sample, sample_field
from bids_lrp.templates import resolve_regions

__all__ = [
    "MAX_LOSS",
    "AtrophyModel",
    "PlantedArea",
    "atrophy_field",
    "atrophy_model",
    "region_losses",
    "volume_loss_map",
]

#: Largest volume-loss fraction the deformation can plant without folding.
MAX_LOSS = 0.5
_SIGMA_MM = 2.5
_REFERENCE_LOSS = 0.2
_KAPPA_GRID = np.linspace(0.0, 4.0, 17)


@dataclass(frozen=True)
class PlantedArea:
    """One atrophied area (both hemispheres).

    Attributes
    ----------
    name : str
        Normalized user name, e.g. ``"hippocampus"``.
    indices : tuple of int
        Atlas label indices.
    crop : tuple of slice
        Template-grid bounding box of the area's support.
    mask : numpy.ndarray
        Float32 area mask inside ``crop``.
    support : numpy.ndarray
        ``(3, n)`` world coordinates of template voxels near the area (where it can be sampled).
    volume : float
        Template volume in voxels.
    """

    name: str
    indices: tuple[int, ...]
    crop: tuple[slice, ...]
    mask: np.ndarray
    support: np.ndarray
    volume: float


@dataclass(frozen=True)
class AtrophyModel:
    """Calibrated atrophy basis for a set of areas on one template.

    ``labels`` numbers the areas 1..R on the template grid (float32, for fast resampling).
    """

    anatomy: Anatomy
    areas: tuple[PlantedArea, ...]
    unit_field: np.ndarray
    kappa: np.ndarray
    loss: np.ndarray
    crop: tuple[slice, ...]
    labels: np.ndarray | None = None


def _crop(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    where = np.nonzero(mask)
    return tuple(
        slice(max(int(w.min()) - margin, 0), min(int(w.max()) + margin + 1, n))
        for w, n in zip(where, mask.shape, strict=True)
    )


def _area(anatomy: Anatomy, name: str, indices: tuple[int, ...]) -> tuple[PlantedArea, np.ndarray]:
    full = np.isin(anatomy.atlas.labels, indices)
    if not full.any():
        raise ValueError(f"Region {name!r} has no voxels on the template grid")
    margin = int(np.ceil(4 * _SIGMA_MM)) + FIELD_STEP
    crop = _crop(full, margin)
    mask = full[crop].astype(np.float32)
    phi_crop = ndimage.gaussian_filter(mask, _SIGMA_MM / anatomy.grid.zooms)
    support_vox = np.stack(np.nonzero(phi_crop > 1e-3)).astype(np.float32)
    support_vox += np.array([s.start for s in crop], np.float32)[:, None]
    affine = anatomy.grid.affine.astype(np.float32)
    support = affine[:3, :3] @ support_vox + affine[:3, 3:4]
    phi = np.zeros(anatomy.grid.shape, np.float32)
    phi[crop] = phi_crop
    coarse = phi[::FIELD_STEP, ::FIELD_STEP, ::FIELD_STEP]
    grads = np.gradient(coarse, *anatomy.fields.zooms)
    field = -np.stack(grads).astype(np.float32)
    area = PlantedArea(name, indices, crop, mask, support, float(mask.sum()))
    return area, field


def region_losses(model: AtrophyModel, field: np.ndarray) -> np.ndarray:
    """Measure the volume-loss fraction of every area under a pull-back atrophy field.

    The area mask is warped (trilinear, so partial volumes count) and summed:
    ``loss = 1 - sum_y M(y + a(y)) / sum M``.
    """
    anatomy = model.anatomy
    out = np.empty(len(model.areas))
    for i, area in enumerate(model.areas):
        moved = area.support + sample_field(field, anatomy.fields, area.support)
        inv = np.linalg.inv(anatomy.grid.affine).astype(np.float32)
        vox = inv[:3, :3] @ moved + inv[:3, 3:4]
        vox -= np.array([s.start for s in area.crop], np.float32)[:, None]
        out[i] = 1.0 - float(sample(area.mask, vox).sum(dtype=np.float64)) / area.volume
    return out


def atrophy_model(
    regions: tuple[str, ...],
    template: str = "MNI152NLin2009cAsym",
    atlas: str = "Neuromorphometrics",
) -> AtrophyModel:
    """Build and calibrate the atrophy basis for ``regions`` (cached per process).

    Parameters
    ----------
    regions : tuple of str
        User region names (see `bids_lrp.templates.resolve_regions`).
    template, atlas : str
        Anatomy to use.

    Returns
    -------
    AtrophyModel
    """
    return _cached_model(tuple(regions), template, atlas)


@functools.lru_cache(maxsize=4)
def _cached_model(regions: tuple[str, ...], template: str, atlas: str) -> AtrophyModel:
    anatomy = load_anatomy(template, atlas)
    resolved = resolve_regions(regions, anatomy.atlas.table)
    built = [_area(anatomy, name, idx) for name, idx in resolved.items()]
    areas = tuple(a for a, _ in built)
    fields = [f for _, f in built]
    weights = np.ones(len(areas))
    base = AtrophyModel(anatomy, areas, np.zeros_like(fields[0]), _KAPPA_GRID, _KAPPA_GRID, ())
    # Scale each area's field so that all lose the reference fraction together (they touch,
    # so they are calibrated jointly); a few multiplicative updates suffice.
    for _ in range(5):
        total = sum(w * f for w, f in zip(weights, fields, strict=True))
        losses = region_losses(base, total)
        weights *= _REFERENCE_LOSS / np.maximum(losses, 1e-4)
    unit = sum(w * f for w, f in zip(weights, fields, strict=True)).astype(np.float32)
    base = AtrophyModel(anatomy, areas, unit, _KAPPA_GRID, _KAPPA_GRID, ())
    curve = np.array([region_losses(base, k * unit).mean() for k in _KAPPA_GRID])
    curve = np.maximum.accumulate(curve)
    crop = _crop(np.any(unit != 0, axis=0), 1)
    crop = tuple(slice(s.start * FIELD_STEP, s.stop * FIELD_STEP) for s in crop)
    labels = np.zeros(anatomy.grid.shape, np.float32)
    for number, area in enumerate(areas, start=1):
        labels[np.isin(anatomy.atlas.labels, area.indices)] = number
    for array in (unit, labels):
        array.setflags(write=False)
    return AtrophyModel(anatomy, areas, unit, _KAPPA_GRID, curve, crop, labels)


def atrophy_field(model: AtrophyModel, loss: float) -> np.ndarray:
    """Pull-back displacement (mm, on the coarse grid) for a mean volume-loss fraction.

    Raises
    ------
    ValueError
        If ``loss`` is outside ``[0, MAX_LOSS]`` or beyond what the calibration reached.
    """
    if not 0.0 <= loss <= min(MAX_LOSS, float(model.loss[-1])):
        raise ValueError(f"Volume loss {loss:.3f} outside [0, {MAX_LOSS}]")
    kappa = float(np.interp(loss, model.loss, model.kappa))
    return model.unit_field * np.float32(kappa)


def volume_loss_map(model: AtrophyModel, field: np.ndarray) -> np.ndarray:
    """Local fractional tissue-volume loss ``1 - 1/det(J)`` of the pull-back on the coarse grid.

    Positive where tissue shrinks, negative where the surroundings expand.
    """
    det = jacobian_determinant(field, model.anatomy.fields)
    return (1.0 - 1.0 / np.maximum(det, 1e-3)).astype(np.float32)
