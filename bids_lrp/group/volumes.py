"""Area volumes per image for the volume-relevance analysis (Böhle et al. 2019, section 3.3).

Two sources:

* ``external``: columns of a TSV the user names (``--volumes AREA=COLUMN``, read from
  ``--volumes-file`` or the input's ``participants.tsv``), e.g. FreeSurfer or ADNIMERGE
  hippocampal volumes in mm³, one row per participant (or per participant and session when the
  file has a ``session_id`` column);
* ``estimate``: the participant level's own estimate in native space, the ``native_volume_mm3``
  column of the region tables (the Jacobian of the SyN warp integrated over each atlas label).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bids_lrp.exitcodes import EX_NOINPUT, EX_USAGE
from bids_lrp.group.readers import read_tsv_rows
from bids_lrp.inputs import InputError
from bids_lrp.participants import MISSING, ParticipantsError, participant_id, read_participants

__all__ = ["ExternalVolumes", "read_estimated_volumes", "read_external_volumes"]

#: The region-table column of the participant level's volume estimate.
ESTIMATE_COLUMN = "native_volume_mm3"


@dataclass(frozen=True)
class ExternalVolumes:
    """Volumes from a TSV: (participant, session or None) -> {area: mm³ or NaN}."""

    path: Path
    columns: Mapping[str, str]
    values: Mapping[tuple[str, str | None], Mapping[str, float]]

    def for_images(self, participants: Sequence[str], sessions: Sequence[str]) -> pd.DataFrame:
        """Images x areas (NaN where the file has no value for the image)."""
        rows = []
        for pid, ses in zip(participants, sessions, strict=True):
            found = self.values.get((pid, ses if ses != "n/a" else None))
            if found is None:
                found = self.values.get((pid, None), {})
            rows.append([found.get(area, math.nan) for area in self.columns])
        return pd.DataFrame(rows, columns=list(self.columns), dtype=np.float64)


def _number(text: str, path: Path, line: int, column: str) -> float:
    if text.strip().lower() in MISSING:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            f"{path} line {line}: column {column!r} holds {text!r}, not a volume in mm3",
            EX_USAGE,
        ) from None
    if not math.isfinite(value) or value < 0:
        raise InputError(
            f"{path} line {line}: column {column!r} holds {text!r}; a volume must be a "
            "finite number >= 0",
            EX_USAGE,
        )
    return value


def read_external_volumes(path: Path, columns: Mapping[str, str]) -> ExternalVolumes:
    """Read ``area -> column`` volumes of a participants-style TSV.

    Raises
    ------
    InputError
        66 when the file does not exist; 64 when it is malformed, lacks a column, holds a
        value that is not a number >= 0, or lists a participant (and session) twice.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--volumes: {path} does not exist", EX_NOINPUT)
    try:
        header, rows = read_participants(path)
    except ParticipantsError as err:
        raise InputError(str(err), EX_USAGE) from None
    missing = [c for c in columns.values() if c not in header]
    if missing:
        others = ", ".join(c for c in header if c != "participant_id") or "none"
        raise InputError(
            f"--volumes: {path} has no column {missing[0]!r} (columns: {others})", EX_USAGE
        )
    sessions = "session_id" in header
    values: dict[tuple[str, str | None], dict[str, float]] = {}
    for line, row in rows:
        ses = row["session_id"].strip() if sessions else ""
        key = (participant_id(row["participant_id"]), None if ses.lower() in MISSING else ses)
        if key[1] is not None and not key[1].startswith("ses-"):
            key = (key[0], f"ses-{key[1]}")
        if key in values:
            raise InputError(
                f"{path} line {line} lists {'/'.join(k for k in key if k)} a second time",
                EX_USAGE,
            )
        values[key] = {area: _number(row[c], path, line, c) for area, c in columns.items()}
    return ExternalVolumes(path, dict(columns), values)


def read_estimated_volumes(paths: Sequence[Path]) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """The ``native_volume_mm3`` column of each region table (images x labels).

    Returns None when no table has the estimate (it was not asked for); NaN where a table
    says ``n/a`` or lacks the column.
    """
    names: tuple[str, ...] | None = None
    rows, any_value = [], False
    for path in paths:
        header, lines = read_tsv_rows(path)
        if names is None:
            names = tuple(line[header.index("name")] for line in lines)
        if ESTIMATE_COLUMN not in header:
            rows.append(np.full(len(names), np.nan))
            continue
        i = header.index(ESTIMATE_COLUMN)
        values = np.array(
            [math.nan if line[i] in ("n/a", "") else float(line[i]) for line in lines]
        )
        any_value = any_value or bool(np.isfinite(values).any())
        rows.append(values)
    if not any_value or names is None:
        return None
    return np.stack(rows), names
