"""The group report's page: its sections, what it accumulates, and reading its tables."""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

import pandas as pd
from nibabel.filebasedimages import ImageFileError

from bids_lrp.reports.html import alert, esc

__all__ = [
    "DAMAGED",
    "SECTIONS",
    "TOP_AREAS",
    "UNREADABLE",
    "VIOLIN_AREAS",
    "GroupPage",
    "read_table",
]

LOGGER = logging.getLogger("bids_lrp")

#: Section ids of the group report, in page order.
SECTIONS = {
    "summary": "Summary",
    "metrics": "Classification metrics",
    "density": "Relevance density",
    "gain": "Relevance gain",
    "violins": "Per-image area relevance",
    "maps": "Mean relevance maps",
    "similarity": "Fingerprint similarity",
    "faithfulness": "Faithfulness",
    "boehle2019": "Böhle et al. 2019",
    "skipped": "Skipped",
    "about": "About",
}
TOP_AREAS = 25
VIOLIN_AREAS = 8
UNREADABLE = (OSError, ValueError, KeyError, pd.errors.ParserError)
#: Errors a damaged or unexpected file can cause while drawing: said in the report, not raised.
DAMAGED = (*UNREADABLE, EOFError, TypeError, IndexError, zlib.error, ImageFileError)


def read_table(path: Path | None) -> pd.DataFrame | None:
    """A group TSV (``n/a`` as missing); None, with a warning, when it cannot be read."""
    if path is None:
        return None
    try:
        return pd.read_csv(path, sep="\t", na_values=["n/a"])
    except UNREADABLE as err:
        LOGGER.warning("group report: cannot read %s (%s)", path, err)
        return None


class GroupPage:
    """The group report being built: its folders and the HTML blocks of each section."""

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir
        self.group = output_dir / "group"
        self.figures = self.group / "figures"
        self.blocks: dict[str, list[str]] = {key: [] for key in SECTIONS}

    def src(self, path: Path) -> str:
        return path.relative_to(self.group).as_posix()

    def say(self, section: str, level: str, text: str) -> None:
        self.blocks[section].append(alert(level, esc(text)))
