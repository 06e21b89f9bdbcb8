"""Reading a BIDS ``participants.tsv`` strictly: every row checked, nothing shifted or invented.

pandas reads a row with more fields than the header by taking the first column as the index,
which shifts every value one column to the right (a label read from another column) and can
invent participants (``sub-``); it also keeps a participant listed twice without a word. The
group level and ``bids_lrp-train`` both read their labels through this module.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

__all__ = ["ParticipantsError", "check_repeats", "participant_id", "read_participants"]

#: Values that mean "no value" (compared lower-case).
MISSING = frozenset({"", "n/a", "na", "nan"})


class ParticipantsError(ValueError):
    """A ``participants.tsv`` that cannot be read as a table of participants (one line)."""


def participant_id(value: str) -> str:
    """``01`` or ``sub-01`` -> ``sub-01``."""
    value = value.strip()
    return value if value.startswith("sub-") else f"sub-{value}"


def read_participants(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and the rows (line number, column -> text) of a ``participants.tsv``.

    Blank lines are skipped and a row shorter than the header reads as missing values (``""``)
    in its last columns, as pandas reads it. A row with more fields than the header, a repeated
    column name or a row without participant_id is an error: read anyway, the fields would
    shift into the wrong columns.

    Raises
    ------
    ParticipantsError
        With the file and the line.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t")
            lines = [(reader.line_num, row) for row in reader]
    except (OSError, ValueError, csv.Error) as err:
        raise ParticipantsError(f"cannot read {path}: {err}") from None
    lines = [(n, row) for n, row in lines if any(field.strip() for field in row)]
    if not lines:
        raise ParticipantsError(f"cannot read {path}: the file is empty")
    first, header = lines[0]
    repeated = sorted(name for name, count in Counter(header).items() if count > 1)
    if repeated:
        raise ParticipantsError(f"{path} line {first} repeats the column {repeated[0]!r}")
    if "participant_id" not in header:
        raise ParticipantsError(f"{path} has no participant_id column")
    rows = []
    for number, fields in lines[1:]:
        if len(fields) > len(header):
            raise ParticipantsError(
                f"{path} line {number} has {len(fields)} tab-separated fields, the header "
                f"{len(header)}; fix that row (a value with a tab in it?)"
            )
        row = dict(zip(header, fields + [""] * (len(header) - len(fields)), strict=True))
        if row["participant_id"].strip().lower() in MISSING | {"sub-"}:
            raise ParticipantsError(f"{path} line {number} has no participant_id")
        rows.append((number, row))
    return header, rows


def check_repeats(path: Path, rows: Iterable[tuple[int, str, str]], name: str) -> list[str]:
    """Refuse a participant listed twice with different values of ``name``.

    ``rows``: (line number, participant, value) in file order. Returns the participants
    listed more than once with the same value (sorted), for a warning.

    Raises
    ------
    ParticipantsError
        Naming both lines.
    """
    first: dict[str, tuple[int, str]] = {}
    repeated = set()
    for number, pid, value in rows:
        if pid not in first:
            first[pid] = (number, value)
            continue
        line, earlier = first[pid]
        if value != earlier:
            raise ParticipantsError(
                f"{path} lists {pid} twice with different {name!r} values: {earlier!r} "
                f"(line {line}) and {value!r} (line {number}); keep one row per participant"
            )
        repeated.add(pid)
    return sorted(repeated)
