"""Is a registration at its optimum? A check that fails when registration fails.

A single similarity value cannot tell a good registration from a bad one across scanners: a
well-registered Colin27 correlates 0.63 with MNI152NLin2009cAsym inside its brain mask, a
simulated scan 0.85, because their contrasts differ. What every good registration has in common
is that it cannot be improved by moving the scan: the registered scan correlates better with
the template where it is than after a shift of a few millimetres, a rotation of a few degrees
or a flip. A misregistered scan (shifted, rotated, flipped front to back or upside down, or
moved by a wrong transform) loses to one of those moves, or correlates so little with the
template that no move helps (`FLOOR`).

Left-right flips cannot be seen this way: brains are nearly symmetric, so a scan flipped left
to right registers as well as the right one. They come from wrong headers and must be caught
there.

The check works on the registered scan before the template brain mask is applied (a masked
scan moved by a few millimetres would bring in the zeros around the mask) and on a 2 mm copy of
both images (the moves are ≥ 4 mm; it takes about a second).
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
from scipy import ndimage

from bids_lrp.normalize.intensity import mask_array, pearson, same_grid

__all__ = ["FLOOR", "MARGIN", "RegistrationCheck", "check_registration"]

#: Below this correlation with the template inside its brain mask the scan is not registered
#: (good registrations of simulated and real scans: 0.63-0.90; benchmarks/registration_check.py).
FLOOR = 0.40
#: A move that raises the correlation by more than this means the scan is not where it fits.
MARGIN = 0.02
#: The moves tried: shifts (mm) along each axis, rotations (degrees) about each axis, flips.
SHIFT_MM = 6.0
ANGLE_DEG = 10.0
_AXES = ("x (left-right)", "y (back-front)", "z (down-up)")
_WORK_MM = 2.0


@dataclass(frozen=True)
class RegistrationCheck:
    """The outcome of `check_registration`.

    Attributes
    ----------
    correlation
        Pearson correlation with the template inside its brain mask, as registered.
    best_move
        The move that correlates best after it (e.g. ``"shift +6 mm along y (back-front)"``).
    improvement
        Its correlation minus ``correlation`` (negative: the registration beats every move).
    passed
        ``correlation >= FLOOR`` and ``improvement <= MARGIN``.
    """

    correlation: float
    best_move: str
    improvement: float

    @property
    def passed(self) -> bool:
        """``correlation >= FLOOR`` and ``improvement <= MARGIN`` (both finite)."""
        return bool(
            np.isfinite(self.correlation)
            and self.correlation >= FLOOR
            and self.improvement <= MARGIN
        )

    @property
    def reason(self) -> str:
        """One sentence on the outcome."""
        if not np.isfinite(self.correlation) or self.correlation < FLOOR:
            return (
                f"failed: the scan correlates {self.correlation:.2f} with the template inside "
                f"its brain mask (at least {FLOOR} expected): it is not registered"
            )
        if self.improvement > MARGIN:
            return (
                f"failed: the scan fits the template better after a {self.best_move} "
                f"(correlation +{self.improvement:.3f}): it is not where it belongs"
            )
        return (
            f"passed: no shift of {SHIFT_MM:g} mm, rotation of {ANGLE_DEG:g} degrees or flip "
            f"fits the template better (the closest, a {self.best_move}, correlates "
            f"{-self.improvement:.3f} less)"
        )

    def metadata(self) -> dict[str, object]:
        """The sidecar's ``RegistrationQuality`` entry."""
        return {
            "Metric": "Pearson correlation with the template inside its brain mask",
            "Value": round(float(self.correlation), 6),
            "BestMove": self.best_move,
            "Improvement": round(float(self.improvement), 6),
            "Passed": bool(self.passed),
            "Verdict": self.reason,
        }


def _coarse(data: np.ndarray, factor: int) -> np.ndarray:
    """Block means of ``factor``^3 voxels (edges cropped)."""
    if factor <= 1:
        return data
    shape = [n // factor for n in data.shape]
    cropped = data[: shape[0] * factor, : shape[1] * factor, : shape[2] * factor]
    return cropped.reshape(shape[0], factor, shape[1], factor, shape[2], factor).mean((1, 3, 5))


def _rotation(axis: int, degrees: float) -> np.ndarray:
    angle = np.deg2rad(degrees)
    i, j = [k for k in range(3) if k != axis]
    matrix = np.eye(3)
    matrix[i, i] = matrix[j, j] = np.cos(angle)
    matrix[i, j], matrix[j, i] = -np.sin(angle), np.sin(angle)
    return matrix


def _moves(voxel_mm: np.ndarray, centre: np.ndarray):
    """(name, 3x3 matrix, offset) in voxel coordinates: output voxel -> input voxel."""
    for axis, name in enumerate(_AXES):
        for sign in (1, -1):
            offset = np.zeros(3)
            offset[axis] = -sign * SHIFT_MM / voxel_mm[axis]
            yield f"shift {sign * SHIFT_MM:+g} mm along {name}", np.eye(3), offset
    for axis, name in enumerate(_AXES):
        for sign in (1, -1):
            # rotate about the mask's centre, in millimetres (voxels need not be cubes)
            scale = np.diag(voxel_mm)
            matrix = np.linalg.inv(scale) @ _rotation(axis, sign * ANGLE_DEG) @ scale
            yield (
                f"rotation {sign * ANGLE_DEG:+g} degrees about {name}",
                matrix,
                centre - matrix @ centre,
            )
    for axis, name in list(enumerate(_AXES))[1:]:  # left-right flips are invisible (docstring)
        matrix = np.eye(3)
        matrix[axis, axis] = -1
        offset = np.zeros(3)
        offset[axis] = 2 * centre[axis]
        yield f"flip along {name}", matrix, offset


def check_registration(
    image: nib.Nifti1Image, template: nib.Nifti1Image, mask: nib.Nifti1Image
) -> RegistrationCheck:
    """Check that a registered scan fits the template better than any small move of it.

    Parameters
    ----------
    image : nibabel.Nifti1Image
        The registered scan on the template grid, before the brain mask is applied.
    template, mask : nibabel.Nifti1Image
        The template T1w and its brain mask (same grid).

    Returns
    -------
    RegistrationCheck
    """
    same_grid(image, template, mask)
    inside = mask_array(mask)
    voxel = np.sqrt((image.affine[:3, :3] ** 2).sum(axis=0))
    factor = max(1, round(_WORK_MM / float(voxel.max())))
    moving = _coarse(np.asarray(image.dataobj, dtype=np.float32), factor)
    fixed = _coarse(np.asarray(template.dataobj, dtype=np.float32), factor)
    brain = _coarse(inside.astype(np.float32), factor) > 0.5
    if not brain.any():
        raise ValueError("the brain mask is empty at 2 mm")
    target = fixed[brain].astype(np.float64)
    correlation = pearson(moving[brain].astype(np.float64), target)
    centre = np.array(ndimage.center_of_mass(brain))
    best_name, best = "none", -np.inf
    for name, matrix, offset in _moves(voxel * factor, centre):
        moved = ndimage.affine_transform(moving, matrix, offset, order=1, mode="nearest")
        value = pearson(moved[brain].astype(np.float64), target)
        if np.isfinite(value) and value > best:
            best_name, best = name, value
    improvement = best - correlation if np.isfinite(correlation) else float("nan")
    return RegistrationCheck(float(correlation), best_name, float(improvement))
