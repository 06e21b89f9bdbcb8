"""The cohort of images: label, prediction and outcome per image, and their area sums."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bids_lrp.group.labels import Labels
from bids_lrp.group.readers import RegionSums, read_predictions, read_region_sums
from bids_lrp.group.tables import outcomes
from bids_lrp.layout import ImageOutputs

__all__ = ["IMAGE_COLUMNS", "AreaSums", "area_sums", "class_of", "image_table", "read_area_sums"]

#: The per-image columns that come before the area columns of an area-sums table.
IMAGE_COLUMNS = (
    "image",
    "participant_id",
    "session_id",
    "label",
    "predicted",
    "probability_AD",
    "outcome",
)


@dataclass(frozen=True)
class AreaSums:
    """Relevance sums ``S_a`` of one atlas and method: images x regions, and region sizes."""

    sums: pd.DataFrame
    n_voxels: pd.Series


def class_of(value: str, ad_values: Sequence[str], hc_values: Sequence[str]) -> str | None:
    """``"AD"``, ``"HC"`` or None for a class name or label value."""
    if value == "AD" or value in ad_values:
        return "AD"
    if value == "HC" or value in hc_values:
        return "HC"
    return None


def _probability_ad(row: Mapping[str, str], ad_values: Sequence[str]) -> float:
    for name in ("AD", *ad_values):
        text = row.get(f"probability_{name}")
        if text not in (None, "", "n/a"):
            return float(text)
    return math.nan


def image_table(
    images: Sequence[ImageOutputs], labels: Labels, model: str
) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per image: `IMAGE_COLUMNS` (None/NaN where unknown); unreadable ones skipped.

    Parameters
    ----------
    images : sequence of ImageOutputs
        Complete images (`bids_lrp.group.collect.collect_outputs`).
    labels : Labels
        Diagnosis per participant (may be empty).
    model : str
        The model label whose predictions are read.

    Returns
    -------
    (pandas.DataFrame, dict)
        The table and image -> reason for the images whose predictions could not be read.
    """
    rows, skipped = [], {}
    for image in images:
        try:
            row = read_predictions(image.predictions[model])
            predicted = class_of(row["predicted_class"], labels.ad_values, labels.hc_values)
            probability = _probability_ad(row, labels.ad_values)
        except (OSError, ValueError, UnicodeDecodeError) as err:
            skipped[image.prefix] = f"unreadable predictions ({err})"
            continue
        rows.append(
            {
                "image": image.prefix,
                "participant_id": image.participant_id,
                "session_id": image.session_id,
                "label": labels.groups.get(image.participant_id),
                "predicted": predicted,
                "probability_AD": probability,
            }
        )
    table = pd.DataFrame(rows, columns=list(IMAGE_COLUMNS[:-1]))
    table["outcome"] = outcomes([r["label"] for r in rows], [r["predicted"] for r in rows])
    # Object columns holding None for "unknown" (pandas >= 3 would infer strings with NaN).
    for column in ("label", "predicted", "outcome"):
        table[column] = pd.Series([None if pd.isna(v) else v for v in table[column]], dtype=object)
    return table.astype({"probability_AD": np.float64}), skipped


def read_area_sums(
    images: Sequence[ImageOutputs], key: tuple[str, str, str]
) -> tuple[dict[str, RegionSums], dict[str, str]]:
    """Read the region table ``key = (space, atlas, method)`` of each image.

    Returns
    -------
    (dict, dict)
        image -> `RegionSums` for the readable tables whose regions match the first readable
        one's; image -> reason for the others.
    """
    read, skipped = {}, {}
    reference: RegionSums | None = None
    for image in images:
        try:
            table = read_region_sums(image.tables[key])
        except (OSError, ValueError, UnicodeDecodeError) as err:
            skipped[image.prefix] = f"unreadable {key[1]} {key[2]} region table ({err})"
            continue
        if reference is None:
            reference = table
        elif table.names != reference.names or not np.array_equal(
            table.n_voxels, reference.n_voxels
        ):
            skipped[image.prefix] = (
                f"its {key[1]} {key[2]} region table lists other regions than the others'"
            )
            continue
        read[image.prefix] = table
    return read, skipped


def area_sums(read: Mapping[str, RegionSums], order: Sequence[str]) -> AreaSums:
    """Stack region tables into images x regions (rows in ``order``)."""
    first = read[order[0]]
    values = np.stack([read[image].sums for image in order]) if order else np.empty((0, 0))
    sums = pd.DataFrame(values, columns=list(first.names), index=list(order))
    return AreaSums(sums, pd.Series(first.n_voxels, index=list(first.names)))
