"""Find the participant-level outputs of a derivatives folder.

The outputs are found by listing ``sub-*/[ses-*/]anat/`` and parsing BIDS names, not with a
pybids ``BIDSLayout``: pybids indexes these names correctly but takes about 25 s for 1,000
participants (benchmarks/RESULTS.md, "Group level at scale"), the listing 0.2 s.
Only the files the group level reads are kept: predictions, template-space relevance maps and
region tables.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bids_lrp.exitcodes import EX_NOINPUT
from bids_lrp.inputs import InputError
from bids_lrp.methods import label_order
from bids_lrp.names import SOURCE_ENTITIES, image_prefix, parse_name

__all__ = [
    "Collection",
    "ImageFiles",
    "collect_outputs",
    "find_outputs",
]


@dataclass
class ImageFiles:
    """The group-level inputs of one T1w image (one ``<prefix>``).

    ``maps`` is keyed by (space, method label); ``tables`` by (space, atlas, method label);
    ``predictions`` by model label.
    """

    image: str
    participant_id: str
    session_id: str
    folder: Path
    predictions: dict[str, Path] = field(default_factory=dict)
    maps: dict[tuple[str, str], Path] = field(default_factory=dict)
    tables: dict[tuple[str, str, str], Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Collection:
    """Complete images and what was skipped, for one template space and one model."""

    images: tuple[ImageFiles, ...]
    skipped: Mapping[str, str]
    space: str
    model: str
    methods: tuple[str, ...]
    atlases: tuple[str, ...]


def _anat_folders(output_dir: Path, participants: Sequence[str], sessions: Sequence[str]):
    wanted = {f"sub-{p}" for p in participants}
    wanted_ses = {f"ses-{s}" for s in sessions}
    with os.scandir(output_dir) as entries:
        subjects = sorted(e.name for e in entries if e.name.startswith("sub-") and e.is_dir())
    for subject in subjects:
        if wanted and subject not in wanted:
            continue
        root = output_dir / subject
        if not sessions and (root / "anat").is_dir():
            yield root / "anat"
        with os.scandir(root) as entries:
            names = sorted(e.name for e in entries if e.name.startswith("ses-") and e.is_dir())
        for session in names:
            if (not wanted_ses or session in wanted_ses) and (root / session / "anat").is_dir():
                yield root / session / "anat"


def _add_file(found: dict[str, ImageFiles], folder: Path, name: str) -> None:
    parsed = parse_name(name)
    if parsed is None:
        return
    entities, suffix, ext = parsed
    prefix = image_prefix(entities)
    if "sub" not in entities or not name.startswith(prefix + "_"):
        return
    derived = {k: v for k, v in entities.items() if k not in SOURCE_ENTITIES}
    if suffix == "predictions" and ext == ".tsv" and set(derived) == {"desc"}:
        kind = ("predictions", derived["desc"])
    elif suffix == "relevance" and derived.get("space", "T1w") != "T1w" and "desc" in derived:
        if ext == ".tsv" and set(derived) == {"space", "atlas", "desc"}:
            kind = ("tables", (derived["space"], derived["atlas"], derived["desc"]))
        elif ext in (".nii.gz", ".nii") and set(derived) == {"space", "desc"}:
            kind = ("maps", (derived["space"], derived["desc"]))
        else:
            return
    else:
        return
    if prefix not in found:
        session = f"ses-{entities['ses']}" if "ses" in entities else "n/a"
        found[prefix] = ImageFiles(prefix, f"sub-{entities['sub']}", session, folder)
    getattr(found[prefix], kind[0]).setdefault(kind[1], folder / name)


def find_outputs(
    output_dir: Path, participants: Sequence[str] = (), sessions: Sequence[str] = ()
) -> list[ImageFiles]:
    """List the group-level inputs of every image under ``output_dir`` (sorted by image).

    Parameters
    ----------
    output_dir : Path
        The participant level's derivatives folder.
    participants, sessions : sequence of str
        Labels (without ``sub-``/``ses-``) to keep; empty keeps all.
    """
    found: dict[str, ImageFiles] = {}
    for folder in _anat_folders(Path(output_dir), participants, sessions):
        with os.scandir(folder) as entries:
            for entry in entries:
                _add_file(found, folder, entry.name)
    return [found[k] for k in sorted(found)]


def _most_common(values: Iterable[str]) -> str | None:
    counts = Counter(values)
    if not counts:
        return None
    return max(sorted(counts), key=lambda v: counts[v])


def _method_order(labels: Iterable[str]) -> tuple[str, ...]:
    return label_order(labels)


def _missing(image: ImageFiles, space: str, model: str, methods, atlases) -> list[str]:
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
    found = find_outputs(output_dir, participants, sessions)
    space = _most_common(s for image in found for s, _ in image.maps)
    model = _most_common(m for image in found for m in image.predictions)
    if not found or space is None or model is None:
        what = "the selected participants" if participants or sessions else "any participant"
        raise InputError(
            f"no participant outputs of {what} found in {output_dir}; {hint}", EX_NOINPUT
        )
    methods = _method_order(m for image in found for s, m in image.maps if s == space)
    atlases = tuple(sorted({a for im in found for s, a, _ in im.tables if s == space}))
    complete, skipped = [], {}
    for image in found:
        missing = _missing(image, space, model, methods, atlases)
        if missing:
            skipped[image.image] = "incomplete outputs: no " + ", no ".join(missing)
        else:
            complete.append(image)
    if not complete:
        raise InputError(
            f"no complete participant outputs in {output_dir} ({len(skipped)} image(s) "
            f"incomplete, e.g. {next(iter(skipped))}: {next(iter(skipped.values()))}); {hint}",
            EX_NOINPUT,
        )
    return Collection(tuple(complete), skipped, space, model, methods, atlases)
