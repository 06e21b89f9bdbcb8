"""Clinica's CAPS folders: the ``t1-linear`` affine of a T1w image onto MNI152NLin2009cSym.

ClinicaDL's image-level models take the outputs of Clinica's ``t1-linear``: N4 bias correction,
an ANTs affine registration to MNI152NLin2009cSym at 1 mm and a crop. The affine is kept, per
session::

    subjects/sub-<l>/ses-<s>/t1_linear/<source>_space-MNI152NLin2009cSym_res-1x1x1_affine.mat

where ``<source>`` is the BIDS image's name without its suffix (``sub-01_ses-M000``; older
Clinica releases kept the suffix: ``sub-01_ses-M000_T1w``). It is an ITK affine from ANTs
(fixed: the template, moving: the T1w), applied to the raw image as it is. CAPS folders name
every image by its session, so images of a BIDS dataset without sessions are not found.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bids_lrp.names import image_prefix

__all__ = ["CAPS_SPACE", "caps_generated_by", "find_caps_affine", "is_caps"]

#: The template of t1-linear's outputs.
CAPS_SPACE = "MNI152NLin2009cSym"


def is_caps(root: Path, description: Any) -> bool:
    """Whether ``root`` is a CAPS folder: its ``dataset_description.json`` names a
    ``CAPSVersion`` (Clinica 0.9 and later), or it has none and holds a ``subjects`` folder
    (earlier releases)."""
    if isinstance(description, dict):
        return "CAPSVersion" in description
    return description is None and (root / "subjects").is_dir()


def caps_generated_by(description: Any) -> str:
    """E.g. ``Clinica t1-linear (CAPS 1.0.0)`` for the provenance of the transforms."""
    version = description.get("CAPSVersion") if isinstance(description, dict) else None
    return f"Clinica t1-linear (CAPS {version})" if version else "Clinica t1-linear (CAPS)"


def find_caps_affine(root: Path, entities: Mapping[str, str], template: str) -> Path | None:
    """The t1-linear affine of the image with these BIDS ``entities``, or None (another
    template, no session, or no such file)."""
    if template != CAPS_SPACE or not entities.get("ses"):
        return None
    folder = root / "subjects" / f"sub-{entities['sub']}" / f"ses-{entities['ses']}" / "t1_linear"
    prefix = image_prefix(entities)
    for source in (prefix, f"{prefix}_T1w"):
        path = folder / f"{source}_space-{CAPS_SPACE}_res-1x1x1_affine.mat"
        if path.is_file():
            return path
    return None
