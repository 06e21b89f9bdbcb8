"""Choose the images the group level uses: those with every output it reads.

The outputs are found by `bids_lrp.layout.find_images`; the group level reads predictions,
template-space relevance maps and region tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bids_lrp.exitcodes import EX_NOINPUT
from bids_lrp.inputs import InputError
from bids_lrp.layout import ImageOutputs, find_images, most_common
from bids_lrp.methods import label_order

__all__ = ["Collection", "collect_outputs"]


@dataclass(frozen=True)
class Collection:
    """Complete images and what was skipped, for one template space and one model."""

    images: tuple[ImageOutputs, ...]
    skipped: Mapping[str, str]
    space: str
    model: str
    methods: tuple[str, ...]
    atlases: tuple[str, ...]


def _missing(image: ImageOutputs, space: str, model: str, methods, atlases) -> list[str]:
    missing = []
    if model not in image.predictions:
        missing.append(f"predictions of model {model}")
    missing += [f"{m} relevance map" for m in methods if (space, m) not in image.maps]
    missing += [
        f"{a} {m} region table"
        for a in atlases
        for m in methods
        if (space, a, m) not in image.tables
    ]
    return missing


def collect_outputs(
    output_dir: Path, participants: Sequence[str] = (), sessions: Sequence[str] = ()
) -> Collection:
    """Find the complete images of the output folder; list the incomplete ones as skipped.

    The template space and the model are the most common ones; the methods and atlases are
    every one found in that space. An image lacking any of these files is skipped (with the
    reason), so every group table and map is over the same images.

    Raises
    ------
    InputError
        66 when the folder holds no participant outputs, or none complete.
    """
    output_dir = Path(output_dir)
    hint = "run the participant level first"
    if not output_dir.is_dir():
        raise InputError(f"the output folder {output_dir} does not exist; {hint}", EX_NOINPUT)
    found = find_images(output_dir, participants, sessions)
    space = most_common(s for image in found for s, _ in image.maps)
    model = most_common(m for image in found for m in image.predictions)
    if not found or space is None or model is None:
        what = "the selected participants" if participants or sessions else "any participant"
        raise InputError(
            f"no participant outputs of {what} found in {output_dir}; {hint}", EX_NOINPUT
        )
    methods = label_order(m for image in found for s, m in image.maps if s == space)
    atlases = tuple(sorted({a for im in found for s, a, _ in im.tables if s == space}))
    complete, skipped = [], {}
    for image in found:
        missing = _missing(image, space, model, methods, atlases)
        if missing:
            skipped[image.prefix] = "incomplete outputs: no " + ", no ".join(missing)
        else:
            complete.append(image)
    if not complete:
        raise InputError(
            f"no complete participant outputs in {output_dir} ({len(skipped)} image(s) "
            f"incomplete, e.g. {next(iter(skipped))}: {next(iter(skipped.values()))}); {hint}",
            EX_NOINPUT,
        )
    return Collection(tuple(complete), skipped, space, model, methods, atlases)
