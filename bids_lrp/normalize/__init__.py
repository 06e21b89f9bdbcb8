"""Spatial normalization of T1w images for the network (pure functions around ANTsPy).

Pipeline (Böhle et al. 2019, section 2.1)::

    img = load_t1w(path)                                  # checked, 3D float32
    img = n4_bias_correct(img)                            # N4 bias field correction
    brain, mask = load_template("MNI152NLin2009cAsym")
    reg = register_to_template(img, brain, kind="syn", mask=mask, out_prefix="work/sub-01_")
    x = mask_and_scale(reg.warped, mask)                  # network input, [0, 1] in the mask
    native = relevance_to_native(relevance, img, reg.inverse_transforms)

Nothing here imports nipype; the workflows wrap these functions.
"""

from bids_lrp.normalize.bias import n4_bias_correct
from bids_lrp.normalize.grids import (
    antialias_sigmas,
    relevance_to_grid,
    relevance_to_native,
    resample_to_grid,
)
from bids_lrp.normalize.images import InvalidImageError, load_t1w, load_template
from bids_lrp.normalize.intensity import mask_and_scale, registration_quality
from bids_lrp.normalize.registration import (
    INTERPOLATIONS,
    PROFILES,
    Registration,
    apply_transforms,
    register_to_template,
)

__all__ = [
    "INTERPOLATIONS",
    "PROFILES",
    "InvalidImageError",
    "Registration",
    "antialias_sigmas",
    "apply_transforms",
    "load_t1w",
    "load_template",
    "mask_and_scale",
    "n4_bias_correct",
    "register_to_template",
    "registration_quality",
    "relevance_to_grid",
    "relevance_to_native",
    "resample_to_grid",
]
