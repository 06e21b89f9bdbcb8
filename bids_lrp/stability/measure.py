"""How much the maps of several models of the same task agree (pure functions).

- `mean_map`: the voxel-wise mean of the models' maps (the ensemble's explanation);
- `agreement_map`: per voxel, the share of models that put it among their most relevant
  voxels (the top `AGREEMENT_TOP` of the brain by relevance);
- `area_stability`: per atlas area, the rank of the mean area sum, a bootstrap interval of that
  rank (the models resampled with replacement), the share of models that rank the area in their
  own top `TOP_AREAS`, and whether a finding (an area in the mean's top `TOP_AREAS`) replicates:
  at least `REPLICATION` of the models agree.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = [
    "AGREEMENT_TOP",
    "COLUMNS",
    "REPLICATION",
    "TOP_AREAS",
    "agreement_map",
    "area_stability",
    "mean_map",
]

#: Share of brain voxels that count as a model's most relevant ones in `agreement_map`.
AGREEMENT_TOP = 0.05
#: Areas that count as an image's findings (the mean ranking's first ones).
TOP_AREAS = 10
#: Share of models that must rank a finding in their own top `TOP_AREAS`.
REPLICATION = 0.8
#: The columns of ``<prefix>_..._stability.tsv``.
COLUMNS = {
    "name": "atlas area (hemispheres merged)",
    "mean_sum": "relevance sum of the area, mean over models",
    "sd_sum": "its standard deviation over models",
    "rank": "rank of the area by mean_sum (1 = most relevant)",
    "rank_low": "2.5th percentile of the rank when the models are resampled (bootstrap)",
    "rank_high": "97.5th percentile of that rank",
    "top_share": f"share of models that rank the area among their first {TOP_AREAS}",
    "finding": f"whether the area is among the first {TOP_AREAS} by mean_sum",
    "replicated": f"for a finding: whether at least {REPLICATION:.0%} of the models rank it "
    f"among their first {TOP_AREAS} (n/a for other areas)",
}


def mean_map(maps: np.ndarray) -> np.ndarray:
    """The voxel-wise mean of ``maps`` (models first)."""
    return np.asarray(maps, dtype=np.float64).mean(axis=0)


def agreement_map(maps: np.ndarray, inside: np.ndarray, top: float = AGREEMENT_TOP) -> np.ndarray:
    """Per voxel, the share of models whose map puts it in its top ``top`` of ``inside``.

    A model's top voxels are those inside the brain whose relevance exceeds the map's
    ``1 - top`` quantile there and is positive; voxels outside ``inside`` are 0.
    """
    if not 0 < top < 1:
        raise ValueError(f"top must lie in (0, 1), got {top}")
    maps = np.asarray(maps)
    count = np.zeros(maps.shape[1:], dtype=np.float32)
    for relevance in maps:
        values = relevance[inside]
        threshold = max(float(np.quantile(values, 1.0 - top)), 0.0) if values.size else 0.0
        count += (relevance > threshold) & inside
    return count / len(maps)


def _ranks(sums: np.ndarray) -> np.ndarray:
    """Rank (1 = largest) of each column of ``sums`` (rows: repetitions)."""
    order = np.argsort(-sums, axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, sums.shape[-1] + 1), axis=-1)
    return ranks


def area_stability(
    sums: pd.DataFrame,
    *,
    top: int = TOP_AREAS,
    replication: float = REPLICATION,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per area, how stable its rank is across models.

    Parameters
    ----------
    sums : pandas.DataFrame
        One row per model, one column per area: the area's relevance sum.
    top, replication
        See `TOP_AREAS` and `REPLICATION`.
    n_boot, seed
        Bootstrap resamples of the models and their seed.

    Returns
    -------
    pandas.DataFrame
        `COLUMNS`, one row per area, by rank.
    """
    values = sums.to_numpy(dtype=np.float64)
    k = len(values)
    if k < 2:
        raise ValueError("stability needs the maps of two models or more")
    mean = values.mean(axis=0)
    rank = _ranks(mean)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, k, size=(n_boot, k))
    boot_ranks = _ranks(values[picks].mean(axis=1))
    own = _ranks(values)
    top_share = (own <= top).mean(axis=0)
    finding = rank <= top
    needed = math.ceil(replication * k - 1e-9) / k
    table = pd.DataFrame(
        {
            "name": list(sums.columns),
            "mean_sum": mean,
            "sd_sum": values.std(axis=0, ddof=1),
            "rank": rank,
            "rank_low": np.percentile(boot_ranks, 2.5, axis=0),
            "rank_high": np.percentile(boot_ranks, 97.5, axis=0),
            "top_share": top_share,
            "finding": finding,
            "replicated": pd.array(
                [
                    bool(s >= needed) if f else None
                    for s, f in zip(top_share, finding, strict=True)
                ],
                dtype="boolean",
            ),
        }
    )
    return table.sort_values("rank", kind="stable").reset_index(drop=True)
