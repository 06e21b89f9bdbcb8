"""Reading and checking T1w images; conversion between nibabel and ANTsPy images."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import ants
import nibabel as nib
import numpy as np

from bids_lrp.templates import get_template

__all__ = [
    "VOXEL_SIZE_RANGE",
    "InvalidImageError",
    "from_ants",
    "load_t1w",
    "load_template",
    "to_ants",
]

#: Accepted voxel edge lengths (mm); anything else is almost surely a broken header.
VOXEL_SIZE_RANGE = (0.2, 5.0)


class InvalidImageError(ValueError):
    """An input image that cannot be used; the message names the file and the problem."""


def _read(path: Path) -> tuple[nib.Nifti1Image, np.ndarray]:
    if not path.is_file():
        raise InvalidImageError(f"cannot read {path}: no such file")
    try:
        img = nib.load(path)
        data = np.asarray(img.dataobj, dtype=np.float32)
    except (EOFError, OSError, zlib.error, gzip.BadGzipFile, ValueError) as err:
        raise InvalidImageError(
            f"cannot read {path}: file is truncated or corrupt ({type(err).__name__}: {err})"
        ) from None
    except nib.filebasedimages.ImageFileError as err:
        raise InvalidImageError(f"cannot read {path}: not a NIfTI image ({err})") from None
    return img, data


def _check_geometry(path: Path, affine: np.ndarray, zooms: np.ndarray) -> None:
    if not np.all(np.isfinite(affine)):
        raise InvalidImageError(f"{path}: the affine (qform/sform) contains NaN or inf")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-6:
        raise InvalidImageError(f"{path}: the affine is singular (not invertible)")
    low, high = VOXEL_SIZE_RANGE
    if np.any(zooms < low) or np.any(zooms > high):
        sizes = "x".join(f"{z:g}" for z in zooms)
        raise InvalidImageError(
            f"{path}: voxel size {sizes} mm is outside {low:g}..{high:g} mm (broken header?)"
        )


def load_t1w(path: str | Path) -> nib.Nifti1Image:
    """Read a T1w image and check that it can be normalized.

    Parameters
    ----------
    path : str or Path
        NIfTI file (``.nii`` or ``.nii.gz``).

    Returns
    -------
    nibabel.Nifti1Image
        3D float32 image (a 4D image with one volume is squeezed), header affine kept.

    Raises
    ------
    InvalidImageError
        One line naming the file: unreadable (truncated or corrupt), not 3D, non-finite values,
        all zeros or constant, non-finite or singular affine, voxel size outside
        `VOXEL_SIZE_RANGE`.
    """
    path = Path(path)
    img, data = _read(path)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InvalidImageError(
            f"{path}: expected a 3D T1w image, got shape {data.shape}"
            + (f" ({data.shape[3]} volumes)" if data.ndim == 4 else "")
        )
    if min(data.shape) < 2:
        raise InvalidImageError(f"{path}: image shape {data.shape} is not a volume")
    if not np.all(np.isfinite(data)):
        raise InvalidImageError(f"{path}: image contains NaN or infinite values")
    if not np.any(data):
        raise InvalidImageError(f"{path}: image is all zeros")
    if np.ptp(data) == 0:
        raise InvalidImageError(f"{path}: image is constant ({float(data.flat[0]):g} everywhere)")
    affine = np.asarray(img.affine, dtype=float)
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0)) if np.all(np.isfinite(affine)) else None
    _check_geometry(path, affine, zooms if zooms is not None else np.ones(3))
    out = nib.Nifti1Image(data, affine)
    out.header.set_xyzt_units("mm")
    return out


def to_ants(image: nib.Nifti1Image) -> ants.ANTsImage:
    """Convert a 3D nibabel image to a float32 ANTsPy image (same world geometry)."""
    data = np.asarray(image.dataobj, dtype=np.float32)
    converted = nib.Nifti1Image(data, image.affine)
    converted.header.set_xyzt_units("mm", "sec")  # ANTsPy warns about unknown units otherwise
    return ants.from_nibabel_nifti(converted)


def from_ants(image: ants.ANTsImage) -> nib.Nifti1Image:
    """Convert an ANTsPy image to a float32 nibabel image (same world geometry)."""
    converted = ants.to_nibabel_nifti(image)
    data = np.asarray(converted.dataobj, dtype=np.float32)
    out = nib.Nifti1Image(data, converted.affine)
    out.header.set_xyzt_units("mm")
    return out


def load_template(
    name: str = "MNI152NLin2009cAsym", resolution: int = 1
) -> tuple[nib.Nifti1Image, nib.Nifti1Image]:
    """Return a template's brain-extracted T1w and its brain mask as images.

    The brain-extracted image is used as the registration target whether the template comes
    from TemplateFlow (whole-head T1w times its brain mask) or from the bundled fallback
    (already brain-extracted), so both sources give the same registration.

    Parameters
    ----------
    name, resolution : str, int
        See `bids_lrp.templates.get_template`.

    Returns
    -------
    brain, mask : nibabel.Nifti1Image
        float32 brain T1w and uint8 mask (1 = brain) on the template grid.
    """
    files = get_template(name, resolution)
    affine = files.affine()
    brain = nib.Nifti1Image(files.brain(), affine)
    mask = nib.Nifti1Image(files.brain_mask().astype(np.uint8), affine)
    for img in (brain, mask):
        img.header.set_xyzt_units("mm")
    return brain, mask
