"""Template brain masking and intensity scaling of the network input (Böhle et al. 2019)."""

from __future__ import annotations

import nibabel as nib
import numpy as np

__all__ = ["mask_and_scale", "mask_array", "pearson", "registration_quality", "same_grid"]


def same_grid(*images: nib.Nifti1Image) -> None:
    """Raise ValueError unless every image lies on the first one's grid (affine to 1e-4)."""
    first = images[0]
    for other in images[1:]:
        if other.shape[:3] != first.shape[:3] or not np.allclose(
            other.affine, first.affine, atol=1e-4
        ):
            raise ValueError(
                f"images must lie on the same grid: {first.shape[:3]} vs {other.shape[:3]} "
                "(or different affines)"
            )


def mask_array(mask: nib.Nifti1Image) -> np.ndarray:
    """The mask's non-zero voxels as a boolean array; ValueError when there are none."""
    inside = np.asarray(mask.dataobj) > 0
    if not inside.any():
        raise ValueError("the brain mask is empty")
    return inside


def mask_and_scale(image: nib.Nifti1Image, mask: nib.Nifti1Image) -> nib.Nifti1Image:
    """Multiply by the template brain mask and min-max scale to [0, 1] inside it.

    Böhle et al. (2019), section 2.1: no per-subject skull stripping; every registered scan is
    multiplied by the template's brain mask and min-max scaled.

    Parameters
    ----------
    image : nibabel.Nifti1Image
        Registered T1w on the template grid.
    mask : nibabel.Nifti1Image
        Template brain mask on the same grid (non-zero = brain).

    Returns
    -------
    nibabel.Nifti1Image
        float32, in [0, 1] inside the mask (its minimum 0, maximum 1), 0 outside.

    Raises
    ------
    ValueError
        For different grids, an empty mask or an image constant inside the mask.
    """
    same_grid(image, mask)
    inside = mask_array(mask)
    data = np.asarray(image.dataobj, dtype=np.float64)
    values = data[inside]
    low, high = float(values.min()), float(values.max())
    if high <= low:
        raise ValueError(f"the image is constant ({low:g}) inside the brain mask")
    out = np.zeros(data.shape, np.float32)
    out[inside] = ((values - low) / (high - low)).astype(np.float32)
    result = nib.Nifti1Image(out, image.affine)
    result.header.set_xyzt_units("mm")
    return result


def registration_quality(
    image: nib.Nifti1Image, template: nib.Nifti1Image, mask: nib.Nifti1Image
) -> float:
    """Pearson correlation between a registered image and the template inside the brain mask.

    Parameters
    ----------
    image, template, mask : nibabel.Nifti1Image
        On the same grid.

    Returns
    -------
    float
        In [-1, 1]; NaN when either image is constant inside the mask.
    """
    same_grid(image, template, mask)
    inside = mask_array(mask)
    a = np.asarray(image.dataobj, dtype=np.float64)[inside]
    b = np.asarray(template.dataobj, dtype=np.float64)[inside]
    return pearson(a, b)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two same-length arrays (float64); NaN when either is constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else float("nan")
