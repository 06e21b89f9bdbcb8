"""Diagnosis labels of the participants, from the input dataset's ``participants.tsv``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bids_lrp.inputs import EX_INVALID_BIDS, EX_NOINPUT, EX_USAGE, InputError

__all__ = ["Labels", "read_labels"]

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
        16 when ``bids_dir`` does not exist; 64 when a named column is absent; 66 when a
        column is named but there is no ``participants.tsv``.
    """
    import pandas as pd

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
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read {path}: {err}", EX_USAGE) from None
    if "participant_id" not in table.columns:
        raise InputError(f"{path} has no participant_id column", EX_USAGE)
    if name not in table.columns:
        others = ", ".join(c for c in table.columns if c != "participant_id") or "none"
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
    groups: dict[str, str] = {}
    other: Counter[str] = Counter()
    listed = []
    for pid, raw in zip(table["participant_id"], table[name], strict=True):
        pid, value = _participant_id(pid), raw.strip()
        listed.append(pid)
        if value in ad:
            groups.setdefault(pid, "AD")
        elif value in hc:
            groups.setdefault(pid, "HC")
        elif value.lower() not in _MISSING:
            other[value] += 1
    return Labels(name, groups, ad, hc, dict(other), tuple(dict.fromkeys(listed)))
