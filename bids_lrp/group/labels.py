"""Diagnosis labels of the participants, from the input dataset's ``participants.tsv``."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bids_lrp.config import DEFAULT_LABEL_COLUMN
from bids_lrp.exitcodes import EX_INVALID_BIDS, EX_NOINPUT, EX_USAGE
from bids_lrp.inputs import InputError
from bids_lrp.participants import (
    MISSING,
    ParticipantsError,
    check_repeats,
    participant_id,
    read_participants,
)

__all__ = ["Labels", "read_labels"]

logger = logging.getLogger("bids_lrp")


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


def _repeats_warned(path: Path, values: list[tuple[int, str, str]], name: str) -> None:
    """Refuse (64) a participant listed twice with different labels; warn of exact repeats."""
    try:
        repeated = check_repeats(path, values, name)
    except ParticipantsError as err:
        raise InputError(str(err), EX_USAGE) from None
    if repeated:
        logger.warning(
            "%s lists %d participant(s) twice with the same %r value (%s); each counts once",
            path,
            len(repeated),
            name,
            ", ".join(repeated[:5]),
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
    name = column or DEFAULT_LABEL_COLUMN
    if not path.is_file():
        if column is not None:
            raise InputError(f"--label-column {column}: {path} does not exist", EX_NOINPUT)
        return Labels(None, {}, ad, hc, {}, (), f"no labels: {path} does not exist")
    try:
        header, rows = read_participants(path)
    except ParticipantsError as err:
        raise InputError(str(err), EX_USAGE) from None
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
    values = [(n, participant_id(row["participant_id"]), row[name].strip()) for n, row in rows]
    _repeats_warned(path, values, name)
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
        elif value.lower() not in MISSING:
            other[value] += 1
    return Labels(name, groups, ad, hc, dict(other), tuple(listed))
