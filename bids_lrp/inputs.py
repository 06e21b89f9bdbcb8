"""BIDS input: label checks, filter files, validation and the pybids query for T1w images.

Errors a user can fix are `InputError` subclasses carrying the exit code of the BIDS-Apps
execution spec, with a one-line message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bids_lrp.exitcodes import (
    EX_CANTCREAT,
    EX_INVALID_BIDS,
    EX_NOINPUT,
    EX_NOTHING_SELECTED,
    EX_USAGE,
    CommandError,
)
from bids_lrp.names import image_prefix
from bids_lrp.safewrite import check_writable, make_folders, remove_if_empty

__all__ = [
    "InputError",
    "T1wInput",
    "check_labels",
    "check_output_dirs",
    "collect_t1w",
    "create_output_dirs",
    "load_filters",
    "validate_bids",
]

logger = logging.getLogger("bids_lrp")


_LABEL = re.compile(r"^[A-Za-z0-9]+$")
# Entities a filter file may use for the T1w query (pybids names).
FILTER_ENTITIES = frozenset(
    {
        "session",
        "acquisition",
        "ceagent",
        "reconstruction",
        "run",
        "datatype",
        "suffix",
        "extension",
        "space",
        "part",
        "chunk",
        "echo",
        "inv",
        "mt",
        "flip",
    }
)


class InputError(CommandError):
    """A problem with the user's input; ``code`` is the process exit code."""


@dataclass(frozen=True)
class T1wInput:
    """One T1w image selected for processing.

    ``entities`` are BIDS short names (``sub``, ``ses``, ``acq``, ``ce``, ``rec``, ``run``).
    """

    path: Path
    entities: Mapping[str, str]

    @property
    def prefix(self) -> str:
        """``sub-<l>[_ses-<s>][_acq-<a>][_ce-..][_rec-..][_run-<r>]``."""
        return image_prefix(self.entities)


def check_labels(labels: Iterable[str] | None, entity: str) -> tuple[str, ...]:
    """Strip an optional ``<entity>-`` prefix and refuse anything that is not a BIDS label."""
    clean = []
    for raw in labels or ():
        label = raw[len(entity) + 1 :] if raw.startswith(f"{entity}-") else raw
        if not _LABEL.match(label):
            raise InputError(
                f"{entity} label {raw!r} is not a BIDS label (letters and digits only)", EX_USAGE
            )
        if label not in clean:
            clean.append(label)
    return tuple(clean)


def load_filters(path: str | Path | None) -> dict[str, Any]:
    """Read a ``--bids-filter-file``: ``{"t1w": {entity: value, ...}}`` or the inner object."""
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"cannot read the BIDS filter file {path}: {err.strerror}") from None
    except ValueError as err:
        raise InputError(f"the BIDS filter file {path} is not valid JSON: {err}") from None
    if isinstance(data, dict) and set(data) == {"t1w"}:
        data = data["t1w"]
    if not isinstance(data, dict):
        raise InputError(f"the BIDS filter file {path} must hold a JSON object")
    unknown = sorted(set(data) - FILTER_ENTITIES)
    if unknown:
        raise InputError(
            f"the BIDS filter file {path} uses unsupported key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(FILTER_ENTITIES))}"
        )
    for key, value in data.items():
        values = value if isinstance(value, list) else [value]
        if not all(v is None or isinstance(v, (str, int)) for v in values):
            raise InputError(f"filter {key!r} must be a string, a number, null or a list of them")
    return data


def _is_within(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True


def _foreign_dataset(output_dir: Path, *, strict: bool) -> str | None:
    """Why ``output_dir`` holds another dataset (None when it is new or a bids_lrp output).

    ``strict``: a derivative must name bids_lrp in ``GeneratedBy`` (the participant level
    replaces ``dataset_description.json``); otherwise only another pipeline's name refuses it.
    """
    path = output_dir / "dataset_description.json"
    if not path.exists():
        return None
    try:
        desc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "its dataset_description.json cannot be read as JSON"
    if not isinstance(desc, dict) or desc.get("DatasetType") != "derivative":
        return "it is a raw BIDS dataset (no DatasetType 'derivative' in dataset_description.json)"
    generated = desc.get("GeneratedBy")
    first = generated[0] if isinstance(generated, list) and generated else None
    name = first.get("Name") if isinstance(first, dict) else None
    if name == "bids_lrp" or (name is None and not strict):
        return None
    if name is None:
        return "it holds derivatives of an unknown pipeline (no GeneratedBy in its description)"
    return f"it holds the derivatives of another pipeline ({name})"


def _check_creatable(folder: Path, kind: str) -> None:
    """Raise `InputError` (73) unless ``folder`` exists writable or could be created there."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        reason = f"{existing} is not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        read_only = os.statvfs(existing).f_flag & os.ST_RDONLY
        reason = "Read-only file system" if read_only else "Permission denied"
    else:
        return
    raise InputError(f"cannot create or write the {kind} folder {folder}: {reason}", EX_CANTCREAT)


def check_output_dirs(
    bids_dir: Path, output_dir: Path, work_dir: Path, analysis_level: str = "participant"
) -> None:
    """Refuse output and work folders that would put data at risk; create nothing.

    Both levels: the output folder must not hold the BIDS dataset nor another dataset. The
    participant level also needs the BIDS dataset (16), output and work folders outside it,
    the work folder outside the output folder (64) and both folders creatable (73).
    """
    participant = analysis_level == "participant"
    if participant and not (bids_dir / "dataset_description.json").is_file():
        message = f"{bids_dir} is not a BIDS dataset (no dataset_description.json)"
        if not bids_dir.exists():
            message = f"the BIDS dataset folder {bids_dir} does not exist"
        elif not bids_dir.is_dir():
            message = f"the BIDS dataset folder {bids_dir} is not a folder"
        raise InputError(message, EX_INVALID_BIDS)
    example = bids_dir.parent / "derivatives" / "bids_lrp"
    if participant and _is_within(output_dir, bids_dir):
        raise InputError(
            f"the output folder {output_dir} must not be the BIDS dataset or inside it "
            f"({bids_dir}); use e.g. {example}"
        )
    if _is_within(bids_dir, output_dir):
        raise InputError(
            f"the output folder {output_dir} must not be the BIDS dataset or contain it "
            f"({bids_dir}); use e.g. {example}"
        )
    foreign = _foreign_dataset(output_dir, strict=participant)
    if foreign:
        raise InputError(
            f"the output folder {output_dir} is not a bids_lrp output folder: {foreign}; "
            "give a new folder or one written by bids_lrp"
        )
    if not participant:
        return
    if _is_within(work_dir, bids_dir):
        raise InputError(f"the work folder {work_dir} must not be inside the BIDS dataset")
    if _is_within(work_dir, output_dir):
        raise InputError(
            f"the work folder {work_dir} must not be the output folder or inside it (nipype's "
            f"files would land among the derivatives); use e.g. -w {output_dir.parent / 'work'}"
        )
    for kind, folder in (("output", output_dir), ("work", work_dir)):
        _check_creatable(folder, kind)


def create_output_dirs(output_dir: Path, work_dir: Path) -> list[Path]:
    """Create the output and work folders (73 when one cannot be written).

    Returns the folders this call created (for `bids_lrp.safewrite.remove_if_empty`); on failure
    it removes them again, so an early error leaves nothing behind.
    """

    created: list[Path] = []
    for kind, folder in (("output", output_dir), ("work", work_dir)):
        try:
            created += make_folders(folder)
            check_writable(folder)
        except OSError as err:
            remove_if_empty(created)
            raise InputError(
                f"cannot create or write the {kind} folder {folder}: {err.strerror}", EX_CANTCREAT
            ) from None
    return created


def _validator() -> str | None:
    local = Path(sys.executable).parent / "bids-validator-deno"
    return str(local) if local.is_file() else shutil.which("bids-validator-deno")


def validate_bids(bids_dir: Path, *, timeout: float = 600) -> None:
    """Run ``bids-validator-deno`` when installed; raise `InputError` (16) on errors."""
    exe = _validator()
    if exe is None:
        logger.warning("bids-validator-deno is not installed; the input is not validated")
        return
    try:
        proc = subprocess.run(
            [exe, str(bids_dir), "--format", "json", "--ignoreWarnings"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        report = json.loads(proc.stdout)
        issues = report["issues"]["issues"]
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired) as err:
        logger.warning("the BIDS validator could not run (%s); the input is not validated", err)
        return
    errors = [i for i in issues if i.get("severity") == "error"]
    if errors:
        first = errors[0]
        where = first.get("location") or ""
        raise InputError(
            f"{bids_dir} is not valid BIDS: {len(errors)} error(s), first {first.get('code')} "
            f"{where} (run bids-validator-deno for details, or use --skip-bids-validation)",
            EX_INVALID_BIDS,
        )


def _query_values(values: Sequence[str] | str | None) -> Any:
    return list(values) if isinstance(values, (list, tuple)) else values


def collect_t1w(
    bids_dir: Path,
    participants: Sequence[str] = (),
    sessions: Sequence[str] = (),
    filters: Mapping[str, Any] | None = None,
) -> dict[str, list[T1wInput]]:
    """Query every T1w image of the selected participants with pybids.

    Returns
    -------
    dict
        Participant label -> its T1w images (sorted by path). Participants not named
        explicitly are skipped (with a log line) when they have no T1w or when the session
        or filter selection leaves them empty.

    Raises
    ------
    InputError
        66 when a named participant is absent or has no T1w image, or the dataset has
        none; 18 when the session labels or filters select nothing (for a named participant,
        or at all).
    """
    from bids import BIDSLayout  # pybids is slow to import: only when needed

    layout = BIDSLayout(str(bids_dir), validate=False, derivatives=False)
    known = sorted(layout.get_subjects())
    subjects = list(participants) or known
    missing = [s for s in subjects if s not in known]
    if missing:
        raise InputError(
            f"participant(s) {', '.join(missing)} not found in {bids_dir}", EX_NOINPUT
        )
    base = {"datatype": "anat", "suffix": "T1w", "extension": [".nii", ".nii.gz"]}
    query = {**base, **dict(filters or {})}
    if sessions:
        query["session"] = _query_values(list(sessions))
    selected: dict[str, list[T1wInput]] = {}
    with_t1w = [s for s in subjects if layout.get(subject=s, return_type="filename", **base)]
    if not participants and not with_t1w:
        raise InputError(
            f"the dataset {bids_dir} has no T1w images (sub-<label>/[ses-<label>/]anat/"
            "sub-<label>_[...]_T1w.nii[.gz])",
            EX_NOINPUT,
        )
    for subject in subjects:
        if subject not in with_t1w:
            if participants:
                raise InputError(f"No T1w images found for participant {subject}", EX_NOINPUT)
            logger.warning("participant %s has no T1w image; skipped", subject)
            continue
        files = layout.get(subject=subject, **query)
        if not files:
            if participants:
                raise InputError(
                    f"the session labels or filters select no T1w image of participant {subject}",
                    EX_NOTHING_SELECTED,
                )
            logger.info("participant %s: nothing selected by the filters, skipped", subject)
            continue
        images = []
        for bids_file in sorted(files, key=lambda f: f.path):
            entities = {
                short: str(bids_file.entities[long])
                for long, short in (
                    ("subject", "sub"),
                    ("session", "ses"),
                    ("acquisition", "acq"),
                    ("ceagent", "ce"),
                    ("reconstruction", "rec"),
                    ("run", "run"),
                )
                if bids_file.entities.get(long) not in (None, "")
            }
            images.append(T1wInput(Path(bids_file.path), entities))
        selected[subject] = images
    if not selected:
        raise InputError("the session labels or filters select no T1w image", EX_NOTHING_SELECTED)
    return selected
