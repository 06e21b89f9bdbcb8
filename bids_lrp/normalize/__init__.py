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

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the submodule defining it. The package imports a submodule only when one of
#: its names is first used: ANTsPy (bias, images, registration, volumes) takes seconds to
#: import, and the resampling and intensity functions, which the model node and the reports
#: use, do not need it.
_EXPORTS = {
    "n4_bias_correct": "bias",
    "antialias_sigmas": "grids",
    "relevance_to_grid": "grids",
    "resample_to_grid": "grids",
    "InvalidImageError": "images",
    "load_t1w": "images",
    "load_template": "images",
    "SCALINGS": "intensity",
    "mask_and_scale": "intensity",
    "scale_for_network": "intensity",
    "registration_quality": "intensity",
    "INTERPOLATIONS": "registration",
    "PROFILES": "registration",
    "Registration": "registration",
    "apply_transforms": "registration",
    "invert_affine": "registration",
    "register_to_template": "registration",
    "relevance_to_native": "registration",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
