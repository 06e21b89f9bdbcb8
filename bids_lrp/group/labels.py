"""Diagnosis labels of the participants, from the input dataset's ``participants.tsv``."""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bids_lrp.inputs import EX_INVALID_BIDS, EX_NOINPUT, EX_USAGE, InputError

__all__ = ["Labels", "read_labels"]

logger = logging.getLogger("bids_lrp")

_MISSING = {"", "n/a", "na", "nan"}


@dataclass(frozen=True)
class Labels:
    """Diagnosis per participant from the input's ``participants.tsv``.

    ``groups`` maps ``sub-<l>`` to ``"AD"`` or ``"HC"`` (participants whose value is neither,
    or missing, are absent); ``note`` says why there are no labels when ``column`` is None.
    """

    column: str | None
    groups: Mapping[str, str]
    ad_values: tuple[str, ...]
    hc_values: tuple[str, ...]
    other_values: Mapping[str, int]
    listed: tuple[str, ...]
    note: str = ""


def _participant_id(value: str) -> str:
    value = value.strip()
    return value if value.startswith("sub-") else f"sub-{value}"


def _read_table(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and the rows (line number, column -> text) of ``participants.tsv``.

    Blank lines are skipped and a row shorter than the header reads as missing values (``""``)
    in its last columns, as pandas reads it. A row with more fields than the header, a repeated
    column name or a row without participant_id is an error: read anyway, the fields would
    shift into the wrong columns (a label read from another column, invented participants).

    Raises
    ------
    InputError
        64, with the file and the line.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t")
            lines = [(reader.line_num, row) for row in reader]
    except (OSError, ValueError, csv.Error) as err:
        raise InputError(f"cannot read {path}: {err}", EX_USAGE) from None
    lines = [(n, row) for n, row in lines if any(field.strip() for field in row)]
    if not lines:
        raise InputError(f"cannot read {path}: the file is empty", EX_USAGE)
    first, header = lines[0]
    repeated = sorted(name for name, count in Counter(header).items() if count > 1)
    if repeated:
        raise InputError(f"{path} line {first} repeats the column {repeated[0]!r}", EX_USAGE)
    if "participant_id" not in header:
        raise InputError(f"{path} has no participant_id column", EX_USAGE)
    rows = []
    for number, fields in lines[1:]:
        if len(fields) > len(header):
            raise InputError(
                f"{path} line {number} has {len(fields)} tab-separated fields, the header "
                f"{len(header)}; fix that row (a value with a tab in it?)",
                EX_USAGE,
            )
        row = dict(zip(header, fields + [""] * (len(header) - len(fields)), strict=True))
        if row["participant_id"].strip().lower() in _MISSING | {"sub-"}:
            raise InputError(f"{path} line {number} has no participant_id", EX_USAGE)
        rows.append((number, row))
    return header, rows


def _check_duplicates(path: Path, rows: list[tuple[int, str, str]], name: str) -> None:
    """Refuse a participant listed twice with different values of ``name``; warn otherwise.

    ``rows``: (line number, participant, value) in file order.
    """
    first: dict[str, tuple[int, str]] = {}
    repeated = []
    for number, pid, value in rows:
        if pid not in first:
            first[pid] = (number, value)
            continue
        line, earlier = first[pid]
        if value != earlier:
            raise InputError(
                f"{path} lists {pid} twice with different {name!r} values: {earlier!r} "
                f"(line {line}) and {value!r} (line {number}); keep one row per participant",
                EX_USAGE,
            )
        repeated.append(pid)
    if repeated:
        logger.warning(
            "%s lists %d participant(s) twice with the same %r value (%s); each counts once",
            path,
            len(set(repeated)),
            name,
            ", ".join(sorted(set(repeated))[:5]),
        )


def read_labels(
    bids_dir: Path,
    column: str | None,
    ad_values: Sequence[str],
    hc_values: Sequence[str],
) -> Labels:
    """Read the diagnosis of each participant from ``<bids_dir>/participants.tsv``.

    Parameters
    ----------
    bids_dir : Path
        The input BIDS dataset.
    column : str or None
        The label column; None means ``"diagnosis"`` if present, no labels otherwise.
    ad_values, hc_values : sequence of str
        Values of the column meaning AD and healthy control (compared exactly).

    Raises
    ------
    InputError
        16 when ``bids_dir`` does not exist; 64 when a named column is absent, or for a
        malformed ``participants.tsv`` (a row with more fields than the header, a row without
        participant_id, a participant listed twice with different labels); 66 when a column
        is named but there is no ``participants.tsv``.
    """
    bids_dir = Path(bids_dir)
    ad, hc = tuple(ad_values), tuple(hc_values)
    if not bids_dir.is_dir():
        raise InputError(f"the BIDS dataset folder {bids_dir} does not exist", EX_INVALID_BIDS)
    path = bids_dir / "participants.tsv"
    name = column or "diagnosis"
    if not path.is_file():
        if column is not None:
            raise InputError(f"--label-column {column}: {path} does not exist", EX_NOINPUT)
        return Labels(None, {}, ad, hc, {}, (), f"no labels: {path} does not exist")
    header, rows = _read_table(path)
    if name not in header:
        others = ", ".join(c for c in header if c != "participant_id") or "none"
        if column is not None:
            raise InputError(
                f"participants.tsv has no column {column!r} (columns: {others}); "
                "choose one with --label-column",
                EX_USAGE,
            )
        return Labels(
            None,
            {},
            ad,
            hc,
            {},
            (),
            f"no labels: participants.tsv has no column 'diagnosis' (columns: {others}; "
            "choose one with --label-column)",
        )
    values = [(n, _participant_id(row["participant_id"]), row[name].strip()) for n, row in rows]
    _check_duplicates(path, values, name)
    groups: dict[str, str] = {}
    other: Counter[str] = Counter()
    listed: dict[str, None] = {}
    for _, pid, value in values:
        if pid in listed:
            continue
        listed[pid] = None
        if value in ad:
            groups[pid] = "AD"
        elif value in hc:
            groups[pid] = "HC"
        elif value.lower() not in _MISSING:
            other[value] += 1
    return Labels(name, groups, ad, hc, dict(other), tuple(listed))
