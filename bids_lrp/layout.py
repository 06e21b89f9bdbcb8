"""The participant level's outputs as found on disk: one `ImageOutputs` per T1w image.

The group level and the reports find an image's files here, by listing
``sub-*/[ses-*/]anat/`` and parsing BIDS names (`bids_lrp.names.parse_name`), not with a pybids
``BIDSLayout``: pybids indexes these names correctly but takes about 25 s for 1,000 participants
(benchmarks/RESULTS.md, "Group level at scale"), the listing 0.2 s. A file is kept only when its
name is one the participant level writes (the entities of each kind, in BIDS order); anything
else in the folder is ignored.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bids_lrp.names import SOURCE_ENTITIES, image_prefix, parse_name

__all__ = ["ImageOutputs", "find_images"]

LOGGER = logging.getLogger("bids_lrp")

#: Transform files in the order ANTs applies them: a displacement field before its affine.
TRANSFORM_EXTENSIONS = (".nii.gz", ".h5", ".mat")
_NIFTI = (".nii.gz", ".nii")


@dataclass
class ImageOutputs:
    """The outputs of one T1w image (``prefix`` = ``sub-<l>[_ses-<s>][_acq-..][_run-..]``).

    ``predictions`` is keyed by model label; ``preproc`` by template space; ``maps`` by
    (template space, method label); ``native`` (maps on the participant's own T1w) by method
    label; ``tables`` by (template space, atlas, method label); ``faithfulness`` (the
    perturbation curves of every map) by (template space, atlas). ``transforms`` are the
    T1w-to-template transforms, in the order ANTs applies them.
    """

    prefix: str
    entities: dict[str, str]
    folder: Path
    predictions: dict[str, Path] = field(default_factory=dict)
    preproc: dict[str, Path] = field(default_factory=dict)
    maps: dict[tuple[str, str], Path] = field(default_factory=dict)
    native: dict[str, Path] = field(default_factory=dict)
    tables: dict[tuple[str, str, str], Path] = field(default_factory=dict)
    faithfulness: dict[tuple[str, str], Path] = field(default_factory=dict)
    transforms: list[Path] = field(default_factory=list)

    @property
    def participant_id(self) -> str:
        """``sub-<label>``."""
        return f"sub-{self.entities['sub']}"

    @property
    def session_id(self) -> str:
        """``ses-<label>``, or ``n/a`` for an image without a session."""
        return f"ses-{self.entities['ses']}" if "ses" in self.entities else "n/a"

    @property
    def label(self) -> str:
        """The image's entities without the subject, e.g. ``ses-1 run-2`` (or ``T1w``)."""
        rest = [f"{k}-{v}" for k, v in self.entities.items() if k != "sub"]
        return " ".join(rest) if rest else "T1w"

    @property
    def template(self) -> str | None:
        """The template space of the network input, else of the first map; None if neither."""
        spaces = [*sorted(self.preproc), *(space for space, _ in sorted(self.maps))]
        return spaces[0] if spaces else None

    @property
    def prediction(self) -> Path | None:
        """The predictions file (of the first model by label); None if there is none."""
        return self.predictions[min(self.predictions)] if self.predictions else None

    @property
    def network_input(self) -> Path | None:
        """The network input (``desc-preproc``) in `template` space."""
        return self.preproc.get(self.template or "")

    @property
    def relevance(self) -> dict[str, Path]:
        """Template-space relevance maps of `template` by method label."""
        return {desc: path for (space, desc), path in self.maps.items() if space == self.template}

    @property
    def regions(self) -> dict[str, dict[str, Path]]:
        """Region tables in `template` space: method label -> atlas -> path."""
        found: dict[str, dict[str, Path]] = {}
        for (space, atlas, desc), path in sorted(self.tables.items()):
            if space == self.template:
                found.setdefault(desc, {})[atlas] = path
        return found

    @property
    def methods(self) -> list[str]:
        """Method labels with any output for this image, sorted."""
        return sorted(set(self.relevance) | set(self.native) | set(self.regions))

    @property
    def files(self) -> list[Path]:
        """Every file found for this image (predictions, inputs, maps, tables, transforms)."""
        return [
            *self.predictions.values(),
            *self.preproc.values(),
            *self.maps.values(),
            *self.native.values(),
            *self.tables.values(),
            *self.faithfulness.values(),
            *self.transforms,
        ]


def _kind(derived: dict[str, str], suffix: str, ext: str) -> tuple[str, object] | None:
    """Where a file with these derivative entities goes in `ImageOutputs`; None: not ours."""
    keys = set(derived)
    space, desc = derived.get("space"), derived.get("desc")
    if suffix == "predictions" and ext == ".tsv" and keys == {"desc"}:
        return "predictions", desc
    if suffix == "T1w" and ext in _NIFTI and keys == {"space", "desc"} and desc == "preproc":
        return "preproc", space
    if suffix == "relevance" and ext in _NIFTI and keys == {"space", "desc"}:
        return ("native", desc) if space == "T1w" else ("maps", (space, desc))
    if suffix == "relevance" and ext == ".tsv" and keys == {"space", "atlas", "desc"}:
        return ("tables", (space, derived["atlas"], desc)) if space != "T1w" else None
    if suffix == "faithfulness" and ext == ".tsv" and keys == {"space", "atlas"}:
        return "faithfulness", (space, derived["atlas"])
    if suffix == "xfm" and derived.get("from") == "T1w" and ext in TRANSFORM_EXTENSIONS:
        return "transforms", None
    return None


def _add(found: dict[str, ImageOutputs], folder: Path, name: str, subject: str) -> None:
    parsed = parse_name(name)
    if parsed is None:
        return
    entities, suffix, ext = parsed
    prefix = image_prefix(entities)
    if entities.get("sub") != subject or not name.startswith(prefix + "_"):
        return
    kind = _kind({k: v for k, v in entities.items() if k not in SOURCE_ENTITIES}, suffix, ext)
    if kind is None:
        LOGGER.debug("not a participant-level output: %s", folder / name)
        return
    if prefix not in found:
        source = {k: entities[k] for k in SOURCE_ENTITIES if k in entities}
        found[prefix] = ImageOutputs(prefix, source, folder)
    image, (attribute, key) = found[prefix], kind
    if attribute == "transforms":
        image.transforms = sorted(
            [*image.transforms, folder / name],
            key=lambda p: TRANSFORM_EXTENSIONS.index(parse_name(p.name)[2]),
        )
    else:
        getattr(image, attribute).setdefault(key, folder / name)


def _listing(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries)


def _anat_folders(
    output_dir: Path, participants: Sequence[str], sessions: Sequence[str]
) -> Iterator[tuple[str, Path]]:
    wanted = {f"sub-{p}" for p in participants}
    wanted_ses = {f"ses-{s}" for s in sessions}
    for subject in _listing(output_dir):
        if not subject.startswith("sub-") or (wanted and subject not in wanted):
            continue
        root = output_dir / subject
        if not root.is_dir():
            continue
        label = subject.removeprefix("sub-")
        if not sessions and (root / "anat").is_dir():
            yield label, root / "anat"
        for session in _listing(root):
            if not session.startswith("ses-") or (wanted_ses and session not in wanted_ses):
                continue
            if (root / session / "anat").is_dir():
                yield label, root / session / "anat"


def find_images(
    output_dir: str | Path, participants: Sequence[str] = (), sessions: Sequence[str] = ()
) -> list[ImageOutputs]:
    """The outputs of every image under ``output_dir``, sorted by image.

    Files are grouped by their source entities (sub, ses, acq, ce, rec, run), so
    ``sub-01_run-2_...`` never mixes with ``sub-01_...``.

    Parameters
    ----------
    output_dir : str or Path
        The participant level's derivatives folder.
    participants, sessions : sequence of str
        Labels (without ``sub-``/``ses-``) to keep; empty keeps all.
    """
    found: dict[str, ImageOutputs] = {}
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    for subject, folder in _anat_folders(output_dir, participants, sessions):
        for name in _listing(folder):
            _add(found, folder, name, subject)
    return [found[k] for k in sorted(found)]


def most_common(values: Iterable[str]) -> str | None:
    """The most frequent value (the first in sort order among ties); None if there is none."""
    counts = Counter(values)
    if not counts:
        return None
    return max(sorted(counts), key=lambda v: counts[v])
