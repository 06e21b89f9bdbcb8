"""Transforms another pipeline already computed, found in its derivatives
(``--derivatives NAME=PATH``) instead of registering: sMRIPrep's and fMRIPrep's T1w-to-template
transforms, and the affines of Clinica's ``t1-linear`` in a CAPS folder
(`bids_lrp.normalize.caps`).

sMRIPrep and fMRIPrep 20.2 or later (BIDS-Derivatives names), in an ``anat`` folder of the
participant (and session, for one-session outputs)::

    sub-<l>[_ses-<s>]_from-T1w_to-<template>_mode-image_xfm.h5   (T1w -> template)
    sub-<l>[_ses-<s>]_from-<template>_to-T1w_mode-image_xfm.h5   (template -> T1w)

Their "T1w" is the participant's anatomical reference. With one T1w image it lies in the raw
image's world space, so the transforms apply to the raw image as they are. With several T1w
images the reference is their average, and each raw image has its own affine onto it::

    sub-<l>[_ses-<s>][_run-<r>]_from-orig_to-T1w_mode-image_xfm.txt   (image -> reference)

Such an image goes to the template through both, that affine first (ANTs order: the template
transform, then the affine), and back through the template's inverse and the affine's inverse.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bids_lrp.exitcodes import EX_NOINPUT, EX_USAGE
from bids_lrp.inputs import InputError
from bids_lrp.names import image_prefix
from bids_lrp.normalize.caps import caps_generated_by, find_caps_affine, is_caps

__all__ = ["SUPPORTED", "Derivatives", "Precomputed", "find_precomputed", "read_derivatives"]

LOGGER = logging.getLogger("bids_lrp")
#: The layouts `find_precomputed` reads.
SUPPORTED = "sMRIPrep and fMRIPrep 20.2 or later; Clinica/ClinicaDL CAPS t1-linear"


@dataclass(frozen=True)
class Derivatives:
    """One ``--derivatives NAME=PATH``: its name, folder, the pipeline that made it and its
    layout (``"bids"``: BIDS derivatives; ``"caps"``: a Clinica CAPS folder)."""

    name: str
    root: Path
    generated_by: str
    layout: str = "bids"


@dataclass(frozen=True)
class Precomputed:
    """An image's transforms from another pipeline's derivatives (ANTs order, none inverted).

    ``affine``, when given, is applied first (listed last, ANTs order) and inverted here for
    the way back: the image's affine onto sMRIPrep's reference of several T1w images, or
    Clinica's t1-linear affine (then ``forward`` and ``inverse`` are empty).
    """

    source: Derivatives
    forward: tuple[str, ...]
    inverse: tuple[str, ...]
    affine: str | None = None

    def describe(self) -> str:
        """E.g. ``precomputed by sMRIPrep 0.16.1 (--derivatives smriprep)``."""
        return f"precomputed by {self.source.generated_by} (--derivatives {self.source.name})"

    def transform_order(self) -> str:
        """How to apply the transforms written to the outputs, for their sidecars."""
        if self.source.layout == "caps":
            return (
                "ITK affine of Clinica's t1-linear (.mat) for antsApplyTransforms: forward the "
                "affine as given; back its inverse (.mat, written here); none is inverted"
            )
        if self.affine is not None:
            return (
                "ITK transforms for antsApplyTransforms: from the image the composite (.h5) then "
                "its affine onto the participant's reference (.txt), back the inverse of that "
                "affine (.mat) then the .h5; none is inverted"
            )
        return "ITK transforms for antsApplyTransforms: the composite (.h5) alone; not inverted"


def read_derivatives(pairs: Mapping[str, str | Path]) -> tuple[Derivatives, ...]:
    """Check each ``NAME=PATH``: a folder with a derivatives ``dataset_description.json``.

    A CAPS folder (`bids_lrp.normalize.caps.is_caps`) is read as one. Raises `InputError`
    (one line) for a missing folder (66) or one that is neither (64).
    """
    found = []
    for name, path in pairs.items():
        root = Path(path).resolve()
        if not root.is_dir():
            raise InputError(f"--derivatives {name}={path}: no such folder", EX_NOINPUT)
        try:
            description = json.loads((root / "dataset_description.json").read_text())
        except (OSError, ValueError):
            description = None
        if is_caps(root, description):
            found.append(Derivatives(name, root, caps_generated_by(description), "caps"))
            continue
        if not isinstance(description, dict) or description.get("DatasetType") != "derivative":
            raise InputError(
                f"--derivatives {name}={path}: not a BIDS derivatives dataset (its "
                "dataset_description.json must say DatasetType: derivative) nor a CAPS folder",
                EX_USAGE,
            )
        generated = description.get("GeneratedBy") or [{}]
        first = generated[0] if isinstance(generated, list) and generated else {}
        by = " ".join(str(first.get(k)) for k in ("Name", "Version") if first.get(k))
        found.append(Derivatives(name, root, by or name))
    return tuple(found)


def _candidates(entities: Mapping[str, str]) -> list[tuple[str, str]]:
    """(folder below the root, file prefix) pairs to look in, the most specific first."""
    sub = f"sub-{entities['sub']}"
    ses = f"ses-{entities['ses']}" if entities.get("ses") else None
    subject = {"sub": entities["sub"]}
    out = []
    if ses:
        session = {**subject, "ses": entities["ses"]}
        out += [(f"{sub}/{ses}/anat", image_prefix(entities)),
                (f"{sub}/{ses}/anat", image_prefix(session)),
                (f"{sub}/anat", image_prefix(session))]  # fmt: skip
    out += [(f"{sub}/anat", image_prefix(entities)), (f"{sub}/anat", image_prefix(subject))]
    return list(dict.fromkeys(out))


def find_precomputed(
    derivatives: tuple[Derivatives, ...], entities: Mapping[str, str], template: str
) -> Precomputed | None:
    """The first derivatives' transforms for the image with these BIDS ``entities``; None if
    none of them has both directions (or, for one of several T1w images, its affine onto
    their reference: see the module)."""
    prefix = image_prefix(entities)
    for source in derivatives:
        if source.layout == "caps":
            affine = find_caps_affine(source.root, entities, template)
            if affine is not None:
                return Precomputed(source, (), (), str(affine))
            continue
        for folder, name in _candidates(entities):
            anat = source.root / folder
            forward = anat / f"{name}_from-T1w_to-{template}_mode-image_xfm.h5"
            inverse = anat / f"{name}_from-{template}_to-T1w_mode-image_xfm.h5"
            if not (forward.is_file() and inverse.is_file()):
                continue
            affine = anat / f"{prefix}_from-orig_to-T1w_mode-image_xfm.txt"
            if affine.is_file():
                return Precomputed(source, (str(forward),), (str(inverse),), str(affine))
            if any(anat.glob("sub-*_from-orig_to-T1w_mode-image_xfm.txt")):
                LOGGER.warning(
                    "%s: %s's transforms start from an average of several T1w images, but "
                    "none of its affines onto it (%s) is this image's; it is registered here "
                    "instead", prefix, source.generated_by, affine.name,
                )  # fmt: skip
                return None
            return Precomputed(source, (str(forward),), (str(inverse),))
    return None
