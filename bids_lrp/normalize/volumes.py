"""Local volume change of a registration: how much native tissue each template voxel holds.

For a registration of a participant's T1w (moving) to the template (fixed), ANTs maps a
template point ``x`` to the native point ``A(x + u(x))``: ``u`` is SyN's displacement field
(defined on the template grid) and ``A`` the affine. The native volume of a template voxel is
its own volume times ``|det A| * det(I + Du(x))``; summed over an atlas area's voxels this is the
area's volume on the participant's scan (`native_area_volumes`). An affine registration alone
has ``u = 0``: it sees only a global scale, not a local atrophy, so the estimate needs SyN.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import ants
import nibabel as nib
import numpy as np
import pandas as pd

__all__ = ["native_area_volumes", "volume_ratio"]


def _affine_determinant(path: str | Path) -> float:
    transform = ants.read_transform(str(path))
    matrix = np.asarray(transform.parameters[:9], dtype=np.float64).reshape(3, 3)
    return float(abs(np.linalg.det(matrix)))


def volume_ratio(forward_transforms: Sequence[str | Path], template: nib.Nifti1Image):
    """Native volume per template volume at each template voxel (a float32 image).

    Parameters
    ----------
    forward_transforms : sequence of path
        ANTs forward transforms of a SyN registration (``1Warp.nii.gz`` and
        ``0GenericAffine.mat``, as `bids_lrp.normalize.register_to_template` writes them).
    template : nibabel.Nifti1Image
        The template: the grid of the result.

    Raises
    ------
    ValueError
        Without a displacement field (an affine registration cannot see a local change).
    """
    warps = [p for p in map(str, forward_transforms) if p.endswith((".nii.gz", ".nii"))]
    affines = [p for p in map(str, forward_transforms) if p.endswith(".mat")]
    if len(warps) != 1 or len(affines) != 1:
        raise ValueError(
            "a volume estimate needs a SyN registration's warp and affine, got "
            f"{[Path(p).name for p in forward_transforms]}"
        )
    domain = ants.from_nibabel_nifti(
        nib.Nifti1Image(np.asarray(template.dataobj, dtype=np.float32), template.affine)
    )
    jacobian = ants.create_jacobian_determinant_image(domain, warps[0], do_log=False)
    ratio = jacobian.numpy().astype(np.float64) * _affine_determinant(affines[0])
    out = nib.Nifti1Image(ratio.astype(np.float32), template.affine)
    out.header.set_xyzt_units("mm")
    return out


def native_area_volumes(
    ratio: np.ndarray, labels: np.ndarray, label_table: pd.DataFrame, voxel_volume_mm3: float
) -> np.ndarray:
    """Native volume (mm³) of each label of ``label_table``: the ratio summed over its voxels.

    Parameters
    ----------
    ratio : numpy.ndarray
        `volume_ratio` on the atlas grid.
    labels : numpy.ndarray
        Integer atlas labels on the same grid.
    label_table : pandas.DataFrame
        Column ``index``: one value per label, in this order.
    voxel_volume_mm3 : float
        Volume of one template voxel.
    """
    ratio = np.asarray(ratio, dtype=np.float64)
    labels = np.asarray(labels)
    if ratio.shape != labels.shape:
        raise ValueError(f"ratio {ratio.shape} and labels {labels.shape} must share a grid")
    index = label_table["index"].to_numpy(dtype=np.int64)
    inside = labels > 0
    flat = labels[inside].astype(np.intp)
    size = int(max(flat.max(initial=0), index.max(initial=0))) + 1
    sums = np.bincount(flat, weights=ratio[inside], minlength=size)
    return sums[index] * float(voxel_volume_mm3)
