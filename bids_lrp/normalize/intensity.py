"""Intensity scaling of the network input: the model card's ``intensity_scaling``.

``minmax-in-brain-mask`` (Böhle et al. 2019, section 2.1): the template brain mask applied and
min-max scaling within it. ``minmax`` (ClinicaDL's ``MinMaxNormalization``): no mask, min-max
scaling of what the network sees (ClinicaDL scales its whole cropped image).
"""

from __future__ import annotations

from collections.abc import Mapping

import nibabel as nib
import numpy as np

from bids_lrp.grid import Grid
from bids_lrp.normalize.grids import on_grid

__all__ = [
    "SCALINGS",
    "mask_and_scale",
    "mask_array",
    "pearson",
    "registration_quality",
    "same_grid",
    "scale_for_network",
]

#: The card ``intensity_scaling`` values this app produces, and what each does.
SCALINGS: Mapping[str, str] = {
    "minmax-in-brain-mask": "template brain mask applied, min-max scaled to [0, 1] within it",
    "minmax": "no mask, mapped linearly so that the network's input spans [0, 1] (ClinicaDL's "
    "min-max scaling of its cropped image)",
}


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


def scale_for_network(
    image: nib.Nifti1Image,
    brain_mask: nib.Nifti1Image,
    scaling: str,
    grid: Grid,
    resampling: str = "linear",
) -> nib.Nifti1Image:
    """Scale a template-space scan as the model card's ``intensity_scaling`` says.

    Parameters
    ----------
    image : nibabel.Nifti1Image
        Registered T1w on the template grid.
    brain_mask : nibabel.Nifti1Image
        Template brain mask on the same grid.
    scaling : str
        One of `SCALINGS`.
    grid : Grid
        The network's input grid (the card's).
    resampling : str
        The card's ``input_resampling`` (``"linear"`` or ``"antialiased"``).

    Returns
    -------
    nibabel.Nifti1Image
        ``minmax-in-brain-mask``: `mask_and_scale` (zero outside the brain, [0, 1] inside).
        ``minmax``: the whole image mapped linearly so that the network's input (the image
        on ``grid``) spans [0, 1], as ClinicaDL scales its cropped image; on a sub-grid of the
        template that input is exactly the crop, min-max scaled. Voxels the network does not
        see may lie outside [0, 1]. (Resampling is linear, so its input of the scaled image is
        the scaled input; the antialiasing low-pass too, away from the template's edge, where
        it pads with zeros.)
    """
    if scaling == "minmax-in-brain-mask":
        return mask_and_scale(image, brain_mask)
    if scaling != "minmax":
        raise ValueError(f"unknown intensity scaling {scaling!r}; known: {', '.join(SCALINGS)}")
    # what `bids_lrp.model.network_input.network_input` gives the network
    seen = on_grid(image, grid, antialias=resampling == "antialiased").dataobj
    low, high = float(np.min(seen)), float(np.max(seen))
    if high <= low:
        raise ValueError(f"the image is constant ({low:g}) in the network's field of view")
    data = np.asarray(image.dataobj, dtype=np.float64)
    result = nib.Nifti1Image(((data - low) / (high - low)).astype(np.float32), image.affine)
    result.header.set_xyzt_units("mm")
    return result
