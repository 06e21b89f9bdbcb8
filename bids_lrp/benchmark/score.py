"""Scores of explanations against planted atrophy (pure functions, no files).

Per AD scan and method (`image_scores`): the share of the map's positive relevance inside the
planted areas and inside them dilated by `WIDEN_MM` (registration blurs a few millimetres), and
the pointing game (is the map's maximum inside the dilated areas). Per method over the cohort
(`method_summary`): those means, the rank of the planted areas by relevance gain (mean AD /
mean CN area sum, as Böhle et al. 2019), the mean pairwise cosine similarity of AD area vectors
(are the maps individual?) and the CN/AD ratio of positive relevance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import ndimage

__all__ = [
    "WIDEN_MM",
    "dilate",
    "image_scores",
    "mean_cosine",
    "method_summary",
    "rank_by_gain",
]

#: Dilation of the planted areas for the "+3 mm" share and the pointing game.
WIDEN_MM = 3.0


def dilate(mask: np.ndarray, mm: float = WIDEN_MM, voxel_mm: float = 1.0) -> np.ndarray:
    """Binary dilation of ``mask`` by a ball of radius ``mm``."""
    r = int(np.floor(mm / voxel_mm))
    if r < 1:
        return mask.astype(bool)
    grid = np.mgrid[-r : r + 1, -r : r + 1, -r : r + 1]
    ball = (grid**2).sum(axis=0) <= r * r
    return ndimage.binary_dilation(mask, structure=ball)


def image_scores(relevance: np.ndarray, planted: np.ndarray, widened: np.ndarray) -> dict:
    """Where one map's positive relevance lies relative to the planted areas.

    ``inside`` and ``inside_wide``: shares of the positive relevance in ``planted`` and in
    ``widened``; ``pointing``: whether the maximum lies in ``widened``; ``positive``: the sum
    of positive relevance. A map without positive relevance scores NaN and no hit.
    """
    positive = np.where(relevance > 0, relevance, 0.0)
    total = float(positive.sum(dtype=np.float64))
    if total <= 0:
        return {"inside": np.nan, "inside_wide": np.nan, "pointing": False, "positive": 0.0}
    return {
        "inside": float(positive[planted].sum(dtype=np.float64)) / total,
        "inside_wide": float(positive[widened].sum(dtype=np.float64)) / total,
        "pointing": bool(widened.flat[int(np.argmax(relevance))]),
        "positive": total,
    }


def rank_by_gain(ad: pd.DataFrame, cn: pd.DataFrame) -> tuple[list[str], str]:
    """Areas by relevance gain (mean AD / mean CN area sum), best first, and the ranking used.

    ``ad``, ``cn``: one row per scan, one column per area (relevance sums). Where the CN mean
    is ~0 (below 1e-6 of the largest AD mean) the gain is undefined; when that is so for half
    the areas or more, they are ranked by the AD-CN difference of means instead.
    """
    mean_ad, mean_cn = ad.mean(axis=0), cn.mean(axis=0)
    floor = 1e-6 * float(mean_ad.abs().max() or 1.0)
    gain = (mean_ad / mean_cn.where(mean_cn.abs() > floor)).dropna()
    ranking = "gain"
    if len(cn) == 0 or len(gain) < len(mean_ad) / 2:
        gain, ranking = mean_ad - (mean_cn if len(cn) else 0.0), "AD-CN difference"
    return list(gain.sort_values(ascending=False, kind="stable").index), ranking


def mean_cosine(vectors: pd.DataFrame) -> float:
    """Mean pairwise cosine similarity of the rows of ``vectors``; NaN for fewer than 2."""
    matrix = vectors.to_numpy(dtype=np.float64)
    if len(matrix) < 2:
        return float("nan")
    norms = np.linalg.norm(matrix, axis=1)
    norms[norms == 0] = np.nan
    cos = (matrix @ matrix.T) / np.outer(norms, norms)
    return float(np.nanmean(cos[np.triu_indices(len(matrix), 1)]))


def method_summary(
    images: pd.DataFrame,
    areas: Mapping[str, pd.Series],
    is_ad: Mapping[str, bool],
    planted: Sequence[str],
) -> dict:
    """One method's scores over the cohort.

    ``images``: `image_scores` of every scan (a column ``image`` and ``ad``), with the
    sidecar figures (``randomization``, ``randomization_all``, ``aopc_morf``, ``aopc_random``,
    ``aopc_lerf``); ``areas``: image -> relevance sum per merged area; ``planted``: the merged
    planted areas' names.
    """
    ad_rows = images[images["ad"]]
    cn_rows = images[~images["ad"]]
    table = pd.DataFrame(areas).T.fillna(0.0)
    ad_areas = table[[is_ad[i] for i in table.index]]
    cn_areas = table[[not is_ad[i] for i in table.index]]
    order, ranking = rank_by_gain(ad_areas, cn_areas) if len(ad_areas) else ([], "none")
    ranks = {name: order.index(name) + 1 for name in planted if name in order}
    top3 = order[:3]

    def mean(frame: pd.DataFrame, column: str) -> float:
        values = pd.to_numeric(frame.get(column, pd.Series(dtype=float)), errors="coerce")
        return float(values.mean()) if values.notna().any() else float("nan")

    ad_positive = mean(ad_rows, "positive")
    return {
        "n_ad": len(ad_rows),
        "n_cn": len(cn_rows),
        "inside": mean(ad_rows, "inside"),
        "inside_wide": mean(ad_rows, "inside_wide"),
        "pointing": float(ad_rows["pointing"].mean()) if len(ad_rows) else float("nan"),
        "ranking": ranking,
        "n_areas": len(order),
        "planted_ranks": ranks,
        "best_planted_rank": min(ranks.values()) if ranks else None,
        "top3": top3,
        "top3_planted": sum(name in planted for name in top3),
        "randomization": mean(ad_rows, "randomization"),
        "randomization_all": mean(ad_rows, "randomization_all"),
        "aopc_morf": mean(images, "aopc_morf"),
        "aopc_random": mean(images, "aopc_random"),
        "aopc_lerf": mean(images, "aopc_lerf"),
        "ad_cosine": mean_cosine(ad_areas),
        "cn_over_ad_positive": mean(cn_rows, "positive") / ad_positive
        if ad_positive > 0
        else float("nan"),
    }
