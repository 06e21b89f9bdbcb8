"""Training data: template-space scans, their labels and a fingerprint.

Scans are the network inputs the participant level writes (``*_space-<tpl>_desc-preproc_T1w``,
masked and min-max scaled), found in a ``bids_lrp`` output folder or in the ground truth of
``bids_lrp-simulate`` (``derivatives/simulation``, scans aligned by their true pose). Labels come
from the raw dataset's ``participants.tsv``. Loading them onto the network grid is
`bids_lrp.model.network_input`.

Problems a user can fix raise `TrainingDataError` with a one-line message, before any image is
loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import nibabel as nib
import numpy as np

from bids_lrp.config import DEFAULT_LABEL_COLUMN
from bids_lrp.grid import Grid
from bids_lrp.participants import MISSING, ParticipantsError, check_repeats, read_participants

__all__ = [
    "CLASS_NAMES",
    "Scan",
    "TrainingDataError",
    "check_same_grid",
    "default_bids_dir",
    "find_scans",
    "fingerprint",
    "label_scans",
    "read_labels",
    "voxel_text",
]

logger = logging.getLogger(__name__)

#: Output classes in logit order (the participant level explains "AD", index 1).
CLASS_NAMES: tuple[str, str] = ("HC", "AD")
_ENTITY = re.compile(r"([a-zA-Z0-9]+)-([a-zA-Z0-9]+)")


class TrainingDataError(ValueError):
    """Training data a user must fix (one-line message, reported without a traceback)."""


@dataclass(frozen=True)
class Scan:
    """One labelled template-space scan.

    Attributes
    ----------
    path : Path
        The ``*_desc-preproc_T1w.nii.gz`` file.
    prefix : str
        Its source entities, e.g. ``sub-01_ses-1_run-1``.
    subject, session : str, str or None
        Labels without ``sub-`` / ``ses-``.
    label : int
        Index into `CLASS_NAMES`.
    value : str
        The participants.tsv value it came from (e.g. ``CN``).
    """

    path: Path
    prefix: str
    subject: str
    session: str | None
    label: int = -1
    value: str = ""


def _pattern(template: str) -> str:
    return f"*_space-{template}_desc-preproc_T1w.nii.gz"


def _parse(path: Path, template: str) -> Scan:
    prefix = path.name[: path.name.index(f"_space-{template}_")]
    entities = dict(_ENTITY.findall(prefix))
    if "sub" not in entities or not prefix.startswith("sub-"):
        raise TrainingDataError(f"cannot read the participant from the file name {path.name}")
    return Scan(path, prefix, entities["sub"], entities.get("ses"))


def find_scans(scans_dir: str | Path, template: str) -> list[Scan]:
    """Find ``sub-*/[ses-*/]anat/*_space-<template>_desc-preproc_T1w.nii.gz`` (sorted).

    Raises
    ------
    TrainingDataError
        When the folder is missing or holds no such scan (with a hint for a raw dataset root).
    """
    root = Path(scans_dir)
    if not root.is_dir():
        raise TrainingDataError(f"scans folder not found: {root}")
    pattern = _pattern(template)
    paths = sorted(
        {*root.glob(f"sub-*/anat/{pattern}"), *root.glob(f"sub-*/ses-*/anat/{pattern}")}
    )
    if not paths:
        hint = ""
        simulated = root / "derivatives" / "simulation"
        if any(simulated.glob(f"sub-*/**/anat/{pattern}")):
            hint = f" (a simulated dataset: pass {simulated})"
        raise TrainingDataError(f"no {pattern} scans found in {root}{hint}")
    scans = [_parse(p, template) for p in paths]
    twice = [k for k, n in Counter(s.prefix for s in scans).items() if n > 1]
    if twice:
        raise TrainingDataError(f"scan {twice[0]} was found more than once in {root}")
    return scans


def default_bids_dir(scans_dir: str | Path) -> Path:
    """The raw dataset of a derivatives folder: its ``SourceDatasets`` or ``<root>/derivatives/``.

    Raises
    ------
    TrainingDataError
        When neither gives a folder with a ``participants.tsv``.
    """
    root = Path(scans_dir).resolve()
    candidates: list[Path] = []
    try:
        description = json.loads((root / "dataset_description.json").read_text(encoding="utf-8"))
        sources = description.get("SourceDatasets", []) if isinstance(description, dict) else []
    except (OSError, ValueError):
        sources = []
    for source in sources if isinstance(sources, list) else []:
        url = urlparse(str(source.get("URL", ""))) if isinstance(source, dict) else None
        if url is not None and url.scheme == "file":
            candidates.append(Path(unquote(url.path)))
    candidates += [p.parent for p in root.parents if p.name == "derivatives"]
    for candidate in candidates:
        if (candidate / "participants.tsv").is_file():
            return candidate
    raise TrainingDataError(
        f"cannot tell which raw dataset {root} derives from (no SourceDatasets URL with a "
        "participants.tsv, not inside derivatives/): pass --bids-dir"
    )


def read_labels(bids_dir: str | Path, column: str) -> dict[str, str | None]:
    """Participant label (without ``sub-``) -> value of ``column`` (None where missing).

    Read strictly (`bids_lrp.participants.read_participants`): a row with more fields than the
    header, a row without participant_id or a participant listed twice with different values
    is an error, not a label read from the wrong column.

    Raises
    ------
    TrainingDataError
        For a missing or malformed ``participants.tsv`` or a missing column.
    """
    path = Path(bids_dir) / "participants.tsv"
    if not path.is_file():
        raise TrainingDataError(f"participants.tsv not found in {bids_dir}")
    try:
        header, rows = read_participants(path)
        for needed in ("participant_id", column):
            if needed not in header:
                raise TrainingDataError(
                    f"{path} has no column {needed!r}; columns: {', '.join(header)}"
                )
        values = [
            (n, row["participant_id"].strip().removeprefix("sub-"), row[column].strip())
            for n, row in rows
        ]
        check_repeats(path, values, column)
    except ParticipantsError as err:
        raise TrainingDataError(str(err)) from None
    return {pid: None if value.lower() in MISSING else value for _, pid, value in values}


def _names(items: Iterable[str], limit: int = 5) -> str:
    items = sorted(set(items))
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def label_scans(
    scans: Sequence[Scan],
    labels: Mapping[str, str | None],
    *,
    ad_labels: Sequence[str],
    hc_labels: Sequence[str],
    column: str = DEFAULT_LABEL_COLUMN,
) -> tuple[list[Scan], dict[str, int]]:
    """Attach a class to every scan; leave out participants of other classes (e.g. MCI).

    Returns
    -------
    scans : list of Scan
        The scans of AD and HC participants, labelled (index into `CLASS_NAMES`).
    excluded : dict
        Other label value -> number of participants left out.

    Raises
    ------
    TrainingDataError
        For scans without a label, or fewer than two classes among the scans.
    """
    missing = sorted({s.subject for s in scans if labels.get(s.subject) is None})
    if missing:
        raise TrainingDataError(
            f"no {column!r} label in participants.tsv for {len(missing)} participant(s) with "
            f"scans: {_names(f'sub-{m}' for m in missing)}"
        )
    classes = {v: CLASS_NAMES.index("AD") for v in ad_labels}
    classes.update({v: CLASS_NAMES.index("HC") for v in hc_labels})
    kept, other = [], {}
    for scan in scans:
        value = labels[scan.subject]
        if value in classes:
            kept.append(
                Scan(scan.path, scan.prefix, scan.subject, scan.session, classes[value], value)
            )
        else:
            other.setdefault(value, set()).add(scan.subject)
    excluded = {value: len(subjects) for value, subjects in sorted(other.items())}
    if excluded:
        logger.warning(
            "left out participants whose %r is neither AD (%s) nor HC (%s): %s",
            column,
            ", ".join(ad_labels),
            ", ".join(hc_labels),
            ", ".join(f"{v} ({n})" for v, n in excluded.items()),
        )
    present = {CLASS_NAMES[s.label] for s in kept}
    if len(present) < 2:
        found = Counter(labels[s.subject] for s in scans)
        values = ", ".join(f"{v} ({n} scans)" for v, n in sorted(found.items()))
        lacking = " and ".join(c for c in CLASS_NAMES if c not in present)
        option = " / ".join(f"--{c.lower()}-labels" for c in CLASS_NAMES if c not in present)
        raise TrainingDataError(
            f"training needs both classes but no scan is {lacking}; values of {column!r}: "
            f"{values} (see {option})"
        )
    return kept, excluded


def check_same_grid(scans: Sequence[Scan]) -> Grid:
    """Return the grid all scans share (read from the headers only).

    Raises
    ------
    TrainingDataError
        For an unreadable or non-3D file, or scans on different grids.
    """
    first: Grid | None = None
    for scan in scans:
        try:
            header = nib.load(scan.path)
        except Exception as err:  # nibabel raises several kinds for broken files
            detail = str(err).replace(str(scan.path), scan.path.name)
            raise TrainingDataError(f"cannot read {scan.path}: {detail}") from None
        shape = tuple(int(n) for n in header.shape)
        if len(shape) != 3:
            raise TrainingDataError(f"{scan.path.name} is not a 3D image (shape {shape})")
        if first is None:
            first = Grid(shape, np.asarray(header.affine, float))
        elif not first.same_as(shape, header.affine):
            other = Grid(shape, np.asarray(header.affine, float))
            raise TrainingDataError(
                f"scans are on different grids: {scans[0].path.name} is {first.shape} at "
                f"{voxel_text(first.voxel_size)}, {scan.path.name} is {shape} at "
                f"{voxel_text(other.voxel_size)} (or another origin); resample them onto one "
                "template grid"
            )
    assert first is not None
    return first


def voxel_text(zooms: Sequence[float]) -> str:
    """Voxel sizes as a user reads them, e.g. ``2x2x2 mm``."""
    return "x".join(f"{z:g}" for z in zooms) + " mm"


def fingerprint(
    scans: Sequence[Scan], *, column: str, digests: Mapping[str, str] | None = None
) -> dict:
    """Identify the training data: participants, sessions, classes and a SHA-256 of the list.

    The digest covers the sorted lines ``sub-<l><TAB>ses-<s>|n/a<TAB><scan prefix><TAB><class>``
    (newline-terminated), so the same scans with the same labels give the same fingerprint
    whatever their folder. ``digests`` (scan prefix -> SHA-256 of the file) adds a second digest
    over the image contents.
    """
    lines = sorted(
        f"sub-{s.subject}\t{'ses-' + s.session if s.session else 'n/a'}\t{s.prefix}\t"
        f"{CLASS_NAMES[s.label]}"
        for s in scans
    )
    classes = {
        name: {
            "participants": len({s.subject for s in scans if s.label == i}),
            "scans": sum(s.label == i for s in scans),
            "values": sorted({s.value for s in scans if s.label == i}),
        }
        for i, name in enumerate(CLASS_NAMES)
    }
    out = {
        "participants": sorted({f"sub-{s.subject}" for s in scans}),
        "sessions": sorted({f"sub-{s.subject}/ses-{s.session}" for s in scans if s.session}),
        "n_participants": len({s.subject for s in scans}),
        "n_scans": len(scans),
        "label_column": column,
        "classes": classes,
        "sha256": hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest(),
        "sha256_of": "sorted lines 'participant<TAB>session<TAB>scan<TAB>class', newline-ended",
    }
    if digests is not None:
        text = "".join(f"{prefix}\t{digests[prefix]}\n" for prefix in sorted(digests))
        out["files_sha256"] = hashlib.sha256(text.encode()).hexdigest()
        out["files_sha256_of"] = "sorted lines 'scan<TAB>sha256 of its file', newline-ended"
    return out
