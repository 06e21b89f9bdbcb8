"""Atlas-wise relevance metrics (pure; DataFrame out).

Böhle et al. (2019), Front. Aging Neurosci. 11:194, section 2.5, summarize a relevance map per
atlas area: for scan ``s`` and area ``a`` the sum of relevance over the area's voxels,
``S_a(s)``, and the relevance density ``S_a / |a|`` (``|a|`` in voxels), on the
Neuromorphometrics atlas with left and right merged. `region_table` computes these per label with
one `numpy.bincount` pass per quantity; `merge_hemispheres` merges ``Left_``/``Right_`` labels into
areas. Group metrics (mean density per group, relevance gain) are built from these tables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = [
    "COLUMNS",
    "COLUMN_DESCRIPTIONS",
    "atlas_tables",
    "merge_hemispheres",
    "region_table",
]

#: Columns of `region_table`, in order (the derivatives' region TSV).
COLUMNS = (
    "index",
    "name",
    "n_voxels",
    "volume_mm3",
    "relevance_sum",
    "relevance_density",
    "relevance_positive",
    "relevance_negative",
    "relevance_fraction",
)
#: What each column of a region table holds (the tables' sidecars and the documentation say it;
#: ``native_volume_mm3`` is added by the participant level, not by `region_table`).
COLUMN_DESCRIPTIONS = {
    "index": "label value in the atlas image",
    "name": "region name in the atlas",
    "n_voxels": "voxels of the region on the template grid",
    "volume_mm3": "volume of the region on the template grid (mm^3)",
    "native_volume_mm3": "volume of the region on the participant's own scan (mm^3): the "
    "Jacobian determinant of the SyN registration integrated over the region (only with "
    "--registration syn or --estimate-volumes)",
    "relevance_sum": "sum of relevance over the region (S_a, Böhle et al. 2019)",
    "relevance_density": "relevance_sum / n_voxels",
    "relevance_positive": "sum of positive relevance over the region",
    "relevance_negative": "sum of negative relevance over the region",
    "relevance_fraction": "relevance_sum / total relevance of the image",
}
_SUMS = ("n_voxels", "volume_mm3", "relevance_sum", "relevance_positive", "relevance_negative")
_HEMISPHERE = re.compile(r"^(left|right)[_ ]", flags=re.IGNORECASE)


def _check_inputs(relevance: np.ndarray, labels: np.ndarray, label_table: pd.DataFrame) -> None:
    if relevance.shape != labels.shape:
        raise ValueError(
            f"relevance {relevance.shape} and labels {labels.shape} must lie on the same grid"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be an integer array, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError("labels must be non-negative (0 = background)")
    missing = {"index", "name"} - set(label_table.columns)
    if missing:
        raise ValueError(f"label_table lacks column(s): {', '.join(sorted(missing))}")
    if not np.all(np.isfinite(relevance)):
        raise ValueError("relevance contains NaN or infinite values")


def _fraction(sums: np.ndarray, total: float) -> np.ndarray:
    if total == 0:
        return np.full(sums.shape, np.nan)
    return sums / total


def _density(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def region_table(
    relevance: np.ndarray,
    labels: np.ndarray,
    label_table: pd.DataFrame,
    voxel_volume_mm3: float,
) -> pd.DataFrame:
    """Sum relevance per atlas label (Böhle et al. 2019, ``S_a`` and relevance density).

    Parameters
    ----------
    relevance : numpy.ndarray
        3D relevance map.
    labels : numpy.ndarray
        Integer label image on the same grid (0 = background), e.g. `bids_lrp.templates.Atlas`
        ``labels``.
    label_table : pandas.DataFrame
        Columns ``index`` and ``name`` (e.g. `bids_lrp.templates.Atlas` ``table``); one output row
        per row here, in this order. Labels in ``labels`` but not in the table are ignored
        (their relevance still counts in the image total).
    voxel_volume_mm3 : float
        Volume of one voxel (mm³).

    Returns
    -------
    pandas.DataFrame
        Columns `COLUMNS`: ``n_voxels``; ``volume_mm3``; ``relevance_sum`` (``S_a``);
        ``relevance_density`` = ``S_a / n_voxels`` (NaN for a label with no voxels on this grid);
        ``relevance_positive`` and ``relevance_negative`` (sums of the positive and negative
        values); ``relevance_fraction`` = ``S_a`` / sum of relevance over the whole image (NaN
        when that is 0).
    """
    relevance = np.asarray(relevance)
    labels = np.asarray(labels)
    _check_inputs(relevance, labels, label_table)
    index = label_table["index"].to_numpy(dtype=np.int64)
    # Background voxels (label 0) only count in the image total: dropping them first makes the
    # bincounts several times faster on a whole template grid.
    flat_all = labels.ravel()
    values_all = relevance.ravel()
    labelled = flat_all > 0
    flat = flat_all[labelled].astype(np.intp)
    values = values_all[labelled].astype(np.float64)
    total = float(values_all.sum(dtype=np.float64))
    size = int(max(flat.max(initial=0), index.max(initial=0))) + 1
    counts = np.bincount(flat, minlength=size)
    sums = np.bincount(flat, weights=values, minlength=size)
    positive = np.bincount(flat, weights=np.maximum(values, 0.0), minlength=size)
    negative = sums - positive
    n_voxels = counts[index]
    region_sums = sums[index]
    return pd.DataFrame(
        {
            "index": index,
            "name": label_table["name"].astype(str).to_numpy(),
            "n_voxels": n_voxels.astype(np.int64),
            "volume_mm3": n_voxels * float(voxel_volume_mm3),
            "relevance_sum": region_sums,
            "relevance_density": _density(region_sums, n_voxels),
            "relevance_positive": positive[index],
            "relevance_negative": negative[index],
            "relevance_fraction": _fraction(region_sums, total),
        },
        columns=list(COLUMNS),
    )


def atlas_tables(
    maps: Mapping[str, np.ndarray],
    labels: np.ndarray,
    label_table: pd.DataFrame,
    voxel_volume_mm3: float,
    native_volumes: np.ndarray | None = None,
) -> dict[str, pd.DataFrame]:
    """The `region_table` of each relevance map over one atlas, keyed as ``maps`` (by method).

    ``native_volumes`` (one value per row of ``label_table``: each region's volume on the
    participant's own scan, `bids_lrp.normalize.volumes.native_area_volumes`) adds the column
    ``native_volume_mm3`` after the fixed `COLUMNS`.
    """
    tables = {}
    for key, relevance in maps.items():
        table = region_table(relevance, labels, label_table, voxel_volume_mm3)
        if native_volumes is not None:
            table["native_volume_mm3"] = native_volumes
        tables[key] = table
    return tables


def merge_hemispheres(table: pd.DataFrame) -> pd.DataFrame:
    """Merge ``Left_<area>`` and ``Right_<area>`` rows into one row per area.

    As in Böhle et al. (2019), who report the Neuromorphometrics atlas with both hemispheres
    merged. Sums (voxels, volume, relevance) add; ``relevance_density`` is recomputed as
    merged sum / merged voxels; ``relevance_fraction`` adds (it shares one denominator). Labels
    without a hemisphere prefix (e.g. ``Brain_Stem``) stay as they are. With the bundled
    Neuromorphometrics table this gives 72 areas (64 bilateral, 8 midline).

    Parameters
    ----------
    table : pandas.DataFrame
        Output of `region_table`.

    Returns
    -------
    pandas.DataFrame
        Columns ``name`` (area), ``indices`` (the merged label indices, ``"+"``-joined), then the
        numeric columns of `region_table`; areas in order of first appearance.
    """
    missing = set(COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"not a region table; missing column(s): {', '.join(sorted(missing))}")
    work = table.copy()
    work["name"] = [_HEMISPHERE.sub("", str(n)) for n in work["name"]]
    work["indices"] = work["index"].astype(str)
    grouped = work.groupby("name", sort=False)
    merged = grouped[[*_SUMS, "relevance_fraction"]].sum(min_count=1)
    merged["n_voxels"] = merged["n_voxels"].astype(np.int64)
    merged["indices"] = grouped["indices"].agg("+".join)
    merged["relevance_density"] = _density(
        merged["relevance_sum"].to_numpy(), merged["n_voxels"].to_numpy()
    )
    merged = merged.reset_index()
    return merged[["name", "indices", *[c for c in COLUMNS if c not in ("index", "name")]]]
