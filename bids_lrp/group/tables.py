"""Group tables of atlas-area relevance (pure pandas; Böhle et al. 2019, section 2.5).

For image ``s`` and atlas area ``a``, ``S_a(s)`` is the relevance summed over the area (the
participant level's region tables). Per group ``g`` of images:

* mean area sum ``mean_g(S_a)``;
* relevance density ``mean_g(S_a) / |a|`` with ``|a|`` the area's voxels;
* relevance gain ``mean_AD(S_a) / mean_HC(S_a)``, and, as the authors' code computes them,
  ``mean_TP(S_a) / mean_HC(S_a)`` and ``mean_TN(S_a) / mean_HC(S_a)`` (both over all
  controls);

each with ranks (1 = highest). Böhle et al. report these on the Neuromorphometrics atlas with
the left and right areas merged (`merge_area_columns`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bids_lrp.regions import COLUMNS, merge_hemispheres

__all__ = [
    "EMPTY_MAP_SHARE",
    "GAINS",
    "GROUPS",
    "LABEL_GROUPS",
    "NEAR_ZERO_DENSITY",
    "OUTCOMES",
    "group_masks",
    "group_stats",
    "images_with_relevance",
    "merge_area_columns",
    "outcomes",
    "rank_descending",
    "relevance_gain",
    "standard_error",
    "unstable_areas",
    "unstable_denominator",
]

#: Groups by diagnosis label and by classification outcome (positive = AD).
LABEL_GROUPS = ("AD", "HC")
OUTCOMES = ("TP", "TN", "FP", "FN")
#: Every group of the group tables, in column order; ``all`` is always present.
GROUPS = ("all", *LABEL_GROUPS, *OUTCOMES)
#: Gains: (numerator group, denominator group).
GAINS = (("AD", "HC"), ("TP", "HC"), ("TN", "HC"))
#: An image's map is empty when its absolute area sums add up to at most this share of the
#: largest image's: under alpha1-beta0 a clear control's map is exactly 0.
EMPTY_MAP_SHARE = 1e-6

_OUTCOME = {("AD", "AD"): "TP", ("AD", "HC"): "FN", ("HC", "HC"): "TN", ("HC", "AD"): "FP"}


def outcomes(labels: Sequence[str | None], predicted: Sequence[str | None]) -> list[str | None]:
    """Classification outcome per image: TP, TN, FP, FN (positive = AD) or None.

    Parameters
    ----------
    labels, predicted : sequence
        ``"AD"``, ``"HC"`` or None (unknown) per image.
    """
    return [_OUTCOME.get((lab, pred)) for lab, pred in zip(labels, predicted, strict=True)]


def merge_area_columns(sums: pd.DataFrame, n_voxels: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """Merge left and right atlas areas: add ``Left_<area>`` and ``Right_<area>`` columns.

    The areas and their order are those of `bids_lrp.regions.merge_hemispheres` (72 areas for
    the bundled Neuromorphometrics atlas; Böhle et al. 2019 report 68 for theirs).

    Parameters
    ----------
    sums : pandas.DataFrame
        One row per image, one column per atlas region (``S_a``).
    n_voxels : pandas.Series
        Voxels per region, indexed like the columns of ``sums``.

    Returns
    -------
    (pandas.DataFrame, pandas.Series)
        Area sums (a NaN in either hemisphere gives NaN) and voxels per merged area.
    """
    names = [str(c) for c in sums.columns]
    if list(n_voxels.index) != list(sums.columns):
        raise ValueError("n_voxels must be indexed like the columns of sums")
    table = pd.DataFrame({c: np.zeros(len(names)) for c in COLUMNS})
    table["index"] = np.arange(len(names))
    table["name"] = names
    table["n_voxels"] = n_voxels.to_numpy(dtype=np.int64)
    merged = merge_hemispheres(table)
    values = sums.to_numpy(dtype=np.float64)
    columns = {}
    for area, indices in zip(merged["name"], merged["indices"], strict=True):
        columns[area] = values[:, [int(i) for i in indices.split("+")]].sum(axis=1)
    out = pd.DataFrame(columns, index=sums.index)
    return out, pd.Series(merged["n_voxels"].to_numpy(), index=list(merged["name"]))


def group_masks(
    labels: Sequence[str | None], image_outcomes: Sequence[str | None]
) -> dict[str, np.ndarray]:
    """Boolean membership per group (`GROUPS` order); groups without an image are left out."""
    labels = np.asarray([lab or "" for lab in labels], dtype=object)
    found = np.asarray([o or "" for o in image_outcomes], dtype=object)
    masks = {"all": np.ones(len(labels), dtype=bool)}
    for group in LABEL_GROUPS:
        masks[group] = labels == group
    for group in OUTCOMES:
        masks[group] = found == group
    return {g: m for g, m in masks.items() if g == "all" or m.any()}


def images_with_relevance(sums: pd.DataFrame, masks: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Per group, how many images have a map that holds any relevance.

    A group's mean area sum, and with it a gain's denominator, rests on these: when only a few
    controls have a non-empty map, the gain ``mean_AD / mean_HC`` divides by the mean of a few
    maps. A map is empty when ``sum_a |S_a|`` is at most `EMPTY_MAP_SHARE` of the largest
    image's (NaN sums count as 0).

    Parameters
    ----------
    sums : pandas.DataFrame
        One row per image, one column per area (``S_a``).
    masks : mapping
        Group -> boolean membership per row of ``sums`` (`group_masks`).
    """
    totals = np.nan_to_num(sums.abs().to_numpy(dtype=np.float64), nan=0.0).sum(axis=1)
    largest = float(totals.max()) if totals.size else 0.0
    live = totals > EMPTY_MAP_SHARE * largest
    return {g: int(np.count_nonzero(live & np.asarray(m, dtype=bool))) for g, m in masks.items()}


def rank_descending(values: pd.Series) -> pd.Series:
    """Ranks, 1 = highest; ties share the lowest rank; NaN gets no rank (``<NA>``)."""
    return values.rank(ascending=False, method="min", na_option="keep").astype("Int64")


def relevance_gain(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """Relevance gain ``numerator / denominator`` (Böhle et al. 2019); NaN where it is 0."""
    num = numerator.to_numpy(dtype=np.float64)
    den = denominator.to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)
    return pd.Series(gain, index=numerator.index)


def group_stats(
    sums: pd.DataFrame, n_voxels: pd.Series, masks: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """Mean area sum, relevance density and gain per group, with ranks.

    Parameters
    ----------
    sums : pandas.DataFrame
        One row per image, one column per area (``S_a``).
    n_voxels : pandas.Series
        Voxels per area (``|a|``), indexed like the columns of ``sums``.
    masks : mapping
        Group -> boolean membership per row of ``sums`` (`group_masks`).

    Returns
    -------
    pandas.DataFrame
        One row per area: ``name``, ``n_voxels``, then per group ``mean_<g>``,
        ``density_<g>`` (NaN for an area without voxels) and ``rank_density_<g>``; then
        ``gain_<g>_HC``/``rank_gain_<g>_HC`` for g in AD, TP, TN when both groups have
        images, with ``unstable_gain_<g>_HC`` (`unstable_denominator`).
    """
    voxels = n_voxels.reindex(sums.columns).to_numpy(dtype=np.float64)
    out = pd.DataFrame({"name": list(sums.columns), "n_voxels": voxels.astype(np.int64)})
    means, errors = {}, {}
    for group in GROUPS:
        if group not in masks:
            continue
        mask = np.asarray(masks[group], dtype=bool)
        if not mask.any():
            continue
        mean = sums.loc[mask].mean(axis=0).reset_index(drop=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            density = pd.Series(np.where(voxels > 0, mean / np.maximum(voxels, 1), np.nan))
        means[group] = mean
        errors[group] = standard_error(sums.loc[mask])
        out[f"mean_{group}"] = mean
        out[f"density_{group}"] = density
        out[f"rank_density_{group}"] = rank_descending(density)
    for num, den in GAINS:
        if num in means and den in means:
            gain = relevance_gain(means[num], means[den])
            out[f"gain_{num}_{den}"] = gain
            out[f"rank_gain_{num}_{den}"] = rank_descending(gain)
            out[f"unstable_gain_{num}_{den}"] = unstable_denominator(
                means[den], errors[den], voxels
            )
    return out


def standard_error(sums: pd.DataFrame) -> pd.Series:
    """Standard error of each column's mean (NaN for fewer than 2 rows)."""
    n = len(sums)
    if n < 2:
        return pd.Series(np.nan, index=range(sums.shape[1]))
    return (sums.std(axis=0, ddof=1) / np.sqrt(n)).reset_index(drop=True)


#: A denominator whose density is below this share of the group's median area density is near 0.
NEAR_ZERO_DENSITY = 0.05


def unstable_denominator(mean: pd.Series, error: pd.Series, voxels: np.ndarray) -> pd.Series:
    """1 where a gain's denominator is near 0, else 0 (``Int64``; NA if it cannot be told).

    The denominator is the mean of a group's area sums. It is near 0 when its magnitude is
    below its standard error (its sign and size are noise), or when its density (mean / voxels)
    is below `NEAR_ZERO_DENSITY` of the group's median area density (an area the group's maps
    barely touch: a gain of thousands from a mean of 1e-5). Such gains are flagged, not
    dropped, so that the paper's rankings stay intact.
    """
    m = mean.to_numpy(dtype=np.float64)
    e = error.to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.abs(np.where(voxels > 0, m / np.maximum(voxels, 1), np.nan))
    typical = float(np.nanmedian(density)) if np.isfinite(density).any() else 0.0
    tiny = density < NEAR_ZERO_DENSITY * typical
    noisy = np.abs(m) < np.where(np.isfinite(e), e, 0.0)
    flags = pd.array(tiny | noisy, dtype="Int64")
    flags[~np.isfinite(e) & ~tiny] = pd.NA
    return pd.Series(flags, index=mean.index)


def unstable_areas(stats: pd.DataFrame, num: str, den: str) -> list[str]:
    """Names of the areas in ``stats`` whose gain ``num``/``den`` is flagged unstable."""
    column = f"unstable_gain_{num}_{den}"
    if column not in stats or "name" not in stats:
        return []
    flags = pd.to_numeric(stats[column], errors="coerce").fillna(0).to_numpy() > 0
    return [str(n) for n in stats["name"][flags]]
