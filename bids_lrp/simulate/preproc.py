"""True-pose network inputs: each simulated scan as a perfect affine registration would give it.

A simulated native T1w is ``I(p) = J(y + e(y)) * bias(p) + noise`` with ``y = P^-1 p`` (see
`bids_lrp.simulate.scan`): the pose and head size ``P`` are affine, the subject's shape ``e``
(normal variability and planted atrophy) is not. Resampling the raw scan through the true affine
alone therefore undoes exactly what an ideal *affine* registration undoes: the subject's anatomy
and the planted atrophy stay, as they would after the participant level's ``--registration
affine``. The result is masked with the template brain mask and min-max scaled by the very
function the participant level uses (`bids_lrp.normalize.mask_and_scale`, Böhle et al. 2019,
section 2.1), so it can train a network (``bids_lrp-train``) without running registrations.

The participant level corrects the bias field with N4 first; here the scan is divided by its
true simulated bias field (what a perfect N4 gives), so that a network trained on these inputs
sees what it will see at inference. Without that step the correlation with the participant
level's output in the brain mask was 0.8-0.9; the tests check the alignment against ANTsPy's
``Affine`` registration of the same scan (``tests/train/test_true_pose.py``).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
from scipy import ndimage

from bids_lrp.grid import Grid
from bids_lrp.normalize.intensity import mask_and_scale

__all__ = ["PREPROC_DESCRIPTION", "true_pose_preproc"]

PREPROC_DESCRIPTION = (
    "Network input as a perfect affine registration gives it: the raw T1w resampled (linear "
    "interpolation) onto the template grid through the true affine part of the simulated "
    "transform (pose and head size undone; the subject's shape and the planted atrophy kept), "
    "then multiplied by the template brain mask and min-max scaled to [0, 1] within it, as the "
    "participant level does. The true simulated bias field is divided out first (a perfect N4)."
)


def true_pose_preproc(
    t1w: np.ndarray,
    native_affine: np.ndarray,
    native_to_template: np.ndarray,
    template: Grid,
    brain_mask: np.ndarray,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """Resample a native scan into template space by its true affine, then mask and scale.

    Parameters
    ----------
    t1w : numpy.ndarray
        The raw native T1w (as written to the BIDS dataset).
    native_affine : numpy.ndarray
        Voxel-to-scanner-world affine of ``t1w`` (4x4).
    native_to_template : numpy.ndarray
        ``P^-1``, scanner world -> template world (4x4; the inverse of the simulated pose).
    template : Grid
        Template grid (shape and voxel-to-world affine).
    brain_mask : numpy.ndarray
        Template brain mask on ``template`` (bool).
    bias : numpy.ndarray, optional
        The scan's multiplicative bias field on the native grid; divided out first.

    Returns
    -------
    numpy.ndarray
        float32 on the template grid, in [0, 1] inside the mask, 0 outside.
    """
    # Template voxel -> template world -> scanner world (P) -> native voxel.
    pose = np.linalg.inv(np.asarray(native_to_template, float))
    vox2vox = np.linalg.solve(np.asarray(native_affine, float), pose @ template.affine)
    data = np.asarray(t1w, np.float32)
    if bias is not None:
        data = data / np.maximum(np.asarray(bias, np.float32), np.float32(1e-3))
    moved = ndimage.affine_transform(
        data,
        vox2vox[:3, :3],
        vox2vox[:3, 3],
        output_shape=tuple(template.shape),
        order=1,
        mode="constant",
        cval=0.0,
        prefilter=False,
    )
    image = nib.Nifti1Image(moved, template.affine)
    mask = nib.Nifti1Image(np.asarray(brain_mask, np.uint8), template.affine)
    return np.asarray(mask_and_scale(image, mask).dataobj, dtype=np.float32)
