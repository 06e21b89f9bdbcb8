"""What one participant report accumulates while it is drawn, and how a damaged file is met.

Shared by the modules that draw the participant report's sections (`bids_lrp.reports.participant`
assembles the page; `participant_maps` and `participant_registration` draw two sections).
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from bids_lrp.layout import ImageOutputs
from bids_lrp.reports.html import Notice, esc

__all__ = [
    "DAMAGED",
    "SECTIONS",
    "UNREADABLE",
    "Report",
    "guarded",
    "load_image",
    "read_tsv",
]

LOGGER = logging.getLogger("bids_lrp")

#: Section ids of the participant report, in page order.
SECTIONS = {
    "prediction": "Prediction",
    "warnings": "Warnings",
    "registration": "Registration check",
    "relevance": "Relevance maps",
    "regions": "Top regions",
    "conservation": "Conservation check",
    "faithfulness": "Faithfulness",
    "model": "Model",
    "about": "About",
}
UNREADABLE = (OSError, ValueError, EOFError, zlib.error, nib.filebasedimages.ImageFileError)
#: What a damaged file or an unexpected sidecar can raise while one image's part is drawn.
DAMAGED = (*UNREADABLE, KeyError, TypeError, IndexError, pd.errors.ParserError)


class Report:
    """What one report accumulates: notices, per-section blocks, models seen, files used."""

    def __init__(
        self,
        output_dir: Path,
        label: str,
        bids_dir: Path | None,
        native_space: bool = True,
        logged: set[str] | None = None,
    ) -> None:
        self.output_dir, self.label, self.bids_dir = output_dir, label, bids_dir
        # notices about the model, logged once for all the reports of a run (each page has them)
        self.logged: set[tuple[str, str]] = logged if logged is not None else set()
        self.native_space = native_space  # whether native-space maps were asked for
        self.figures = output_dir / f"sub-{label}" / "figures"
        self.notices: list[Notice] = []
        self.blocks: dict[str, list[str]] = {key: [] for key in SECTIONS}
        self.models: dict[str, dict[str, Any]] = {}
        self.conservation: dict[str, tuple[ImageOutputs, list[dict[str, Any]]]] = {}
        self._raw: dict[Path, nib.Nifti1Image] = {}
        self.focus: nib.Nifti1Image | None = None  # the brain on the image's native grid

    def notice(self, level: str, text: str, scope: str = "", code: str = "") -> None:
        self.notices.append(Notice(level, text, scope, code))
        level_ = logging.ERROR if level == "error" else logging.WARNING
        if scope.startswith("model"):
            if (scope, text) in self.logged:
                return
            self.logged.add((scope, text))
            LOGGER.log(level_, "reports, %s: %s", scope, text)
            return
        LOGGER.log(level_, "report of sub-%s, %s: %s", self.label, scope or "all images", text)

    def extend(self, notices: list[Notice], scope: str) -> None:
        for notice in notices:
            self.notice(notice.level, notice.text, scope, notice.code)

    def raw(self, path: Path) -> nib.Nifti1Image:
        """The raw T1w, loaded once for all methods."""
        if path not in self._raw:
            self._raw = {path: load_image(path)}  # keep one: images come one after the other
        return self._raw[path]

    def src(self, path: Path) -> str:
        """Path of a figure relative to the HTML file (``sub-<l>/figures/<name>``)."""
        return path.relative_to(self.output_dir).as_posix()

    def add(self, section: str, image: ImageOutputs, body: str) -> None:
        block_id = f"{section}-{image.prefix}"
        self.blocks[section].append(
            f'<div class="block" id="{esc(block_id)}"><h3>{esc(image.label)}</h3>{body}</div>'
        )


def load_image(path: Path) -> nib.Nifti1Image:
    """Load an image fully (decompressed once, reused by every figure)."""
    img = nib.load(path)
    return nib.Nifti1Image(np.asarray(img.dataobj, dtype=np.float32), img.affine)


def read_tsv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", na_values=["n/a"])


def guarded(report: Report, image: ImageOutputs, part: str, draw, *args) -> Any:
    """Run one part of an image's report; a damaged file becomes a notice, not a crash."""
    try:
        return draw(report, image, *args)
    except DAMAGED as err:
        LOGGER.exception("report: %s, %s", image.prefix, part)
        report.notice("error", f"{part} could not be shown: {err}", image.prefix, "unreadable")
        return None
