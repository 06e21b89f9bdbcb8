"""Write a simulated cohort as a BIDS dataset with a ground-truth derivative.

Every file is written atomically (`bids_lrp.safewrite.atomic_write_bytes`) and reproducibly:
NIfTI headers are fixed and gzip streams carry ``mtime=0``, so the same arguments give
byte-identical files.

Transforms follow ITK/ANTs conventions (LPS physical space). ``from-T1w_to-<tpl>`` resamples the
T1w onto the template, e.g. ``antsApplyTransforms -i T1w -r template -t <warp.nii.gz> -t
<affine.txt>`` (ANTsPy: ``transformlist=[warp, affine]``): the warp moves template points first,
then the affine takes them into the scanner. ``from-<tpl>_to-T1w`` does the reverse:
``-t <affine.txt> -t <warp.nii.gz>``. Checked against ANTsPy's ``apply_transforms``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import nibabel as nib
import numpy as np

from bids_lrp.safewrite import atomic_write_bytes

__all__ = [
    "itk_affine_text",
    "itk_displacement_image",
    "write_json",
    "write_nifti",
    "write_tsv",
]

_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray, *, intent: int = 0) -> None:
    """Write a NIfTI-1 image with a fixed header (sform and qform from ``affine``), gzip mtime 0.

    Parameters
    ----------
    path : Path
        Ends in ``.nii.gz``.
    data : numpy.ndarray
        Image data, written in its dtype.
    affine : numpy.ndarray
        Voxel-to-world (RAS mm).
    intent : int
        NIfTI intent code (1007 for ITK displacement fields).
    """
    image = nib.Nifti1Image(data, affine)
    header = image.header
    header.set_xyzt_units("mm", "sec")
    header.set_sform(affine, code=1)
    header.set_qform(affine, code=1)
    if intent:
        header.set_intent(intent)
    header["descrip"] = b"bids_lrp-simulate"
    atomic_write_bytes(path, gzip.compress(image.to_bytes(), compresslevel=1, mtime=0))


def write_json(path: Path, content: dict) -> None:
    """Write pretty, key-sorted JSON."""
    atomic_write_bytes(path, (json.dumps(content, indent=2, sort_keys=True) + "\n").encode())


def write_tsv(path: Path, table) -> None:
    """Write a pandas DataFrame as a BIDS TSV (``n/a`` for missing values)."""
    text = table.to_csv(
        sep="\t", index=False, na_rep="n/a", lineterminator="\n", float_format="%.6g"
    )
    atomic_write_bytes(path, text.encode())


def itk_affine_text(matrix: np.ndarray) -> str:
    """ITK ``AffineTransform_double_3_3`` text for a RAS point-to-point 4x4 ``matrix``.

    ITK transforms map points of the fixed (output) space to the moving (input) space, in LPS.
    """
    lps = _LPS @ matrix @ _LPS
    params = [*lps[:3, :3].ravel(), *lps[:3, 3]]
    numbers = " ".join(f"{p:.17g}" for p in params)
    return (
        "#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_3_3\n"
        f"Parameters: {numbers}\nFixedParameters: 0 0 0\n"
    )


def itk_displacement_image(field: np.ndarray) -> np.ndarray:
    """Convert a ``(3, X, Y, Z)`` RAS displacement to ITK's NIfTI layout ``(X, Y, Z, 1, 3)``.

    ITK stores displacement vectors in LPS, so x and y change sign.
    """
    lps = field * np.array([-1.0, -1.0, 1.0], np.float32)[:, None, None, None]
    return np.ascontiguousarray(np.moveaxis(lps, 0, -1)[:, :, :, None, :], dtype=np.float32)
