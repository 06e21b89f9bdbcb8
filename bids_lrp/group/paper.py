"""The analyses of Böhle et al. (2019) as the authors' notebooks compute them (pure numpy).

``S_a(i)`` is image ``i``'s relevance summed over area ``a`` and ``|a|`` the area's voxels. The
authors ("Plotting result graphs", "Compare intersection of top 10 regions", "Beta Correlation"
in github.com/moboehle/Pytorch-LRP):

* rank areas by the mean AD sum ``mean_AD(S_a)`` ("absolute"), the AD density
  ``mean_AD(S_a) / |a|`` ("area_norm") and the TP gain ``mean_TP(S_a) / mean_HC(S_a)``
  ("gain_tp"), with a stable ascending sort whose last ``n`` entries are the top ``n``;
* draw per-image densities ``S_a(i) / |a|`` of AD and HC over the top 25 density areas, and
  per-image gains ``S_a(i) / mean_HC(S_a)`` of TP and TN over the top 25 TP-gain areas;
* compare the top 10 areas of the betas: ``|top_i & top_j| / 10`` in percent;
* fingerprints: true positives with ``p(AD) > 0.9``, cosine similarity of their raw ``S_a``
  over the top 25 density areas;
* correlate the hippocampal volume with the hippocampal ``S_a`` over the true positives
  (Pearson r, NaN volumes left out) with a permutation test of 1,000 shuffles of the volumes.

Two of their steps are corrected here: their guided-backprop permutation count compared its r
with the LRP null distribution (each method is tested against its own here), and their count
was one-sided without the observed value (here two-sided, ``(1 + #{|r_perm| >= |r|}) / (1 +
permutations)``, so that p is never 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MIN_CORRELATION_IMAGES",
    "RANKINGS",
    "Correlation",
    "overlap_matrix",
    "per_image_density",
    "per_image_gain",
    "ranking_values",
    "top_areas",
    "volume_correlation",
]

#: The rankings of the authors: name -> what is ranked.
RANKINGS = {
    "sum": "mean AD area sum, mean_AD(S_a) (the authors' 'absolute')",
    "density": "AD relevance density, mean_AD(S_a) / |a| (the authors' 'area_norm')",
    "gain_TP_HC": "TP gain, mean_TP(S_a) / mean_HC(S_a) (the authors' 'gain_tp')",
}
#: A correlation needs at least this many images with a volume.
MIN_CORRELATION_IMAGES = 3


def _mean(sums: np.ndarray, mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.full(sums.shape[1], np.nan)
    return sums[mask].mean(axis=0)


def ranking_values(
    sums: np.ndarray, n_voxels: np.ndarray, masks: Mapping[str, np.ndarray], ranking: str
) -> np.ndarray:
    """Per-area values of one of `RANKINGS` (NaN where undefined, e.g. no TP or HC image)."""
    sums = np.asarray(sums, dtype=np.float64)
    voxels = np.asarray(n_voxels, dtype=np.float64)
    none = np.zeros(len(sums), dtype=bool)
    mean_ad = _mean(sums, masks.get("AD", none))
    with np.errstate(divide="ignore", invalid="ignore"):
        if ranking == "sum":
            return mean_ad
        if ranking == "density":
            return np.where(voxels > 0, mean_ad / np.where(voxels > 0, voxels, 1), np.nan)
        if ranking == "gain_TP_HC":
            mean_hc = _mean(sums, masks.get("HC", none))
            mean_tp = _mean(sums, masks.get("TP", none))
            return np.where(mean_hc != 0, mean_tp / np.where(mean_hc != 0, mean_hc, 1), np.nan)
    raise ValueError(f"unknown ranking {ranking!r}; known: {', '.join(RANKINGS)}")


def top_areas(values: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` highest finite values, highest first.

    The authors' order: a stable ascending sort and its last ``n`` entries (ties keep the
    area order, the later area ranking higher); NaN values are left out.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(values))
    ascending = finite[np.argsort(values[finite], kind="stable")]
    return ascending[-n:][::-1] if n > 0 else ascending[:0]


def per_image_density(sums: np.ndarray, n_voxels: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """``S_a(i) / |a|`` for every image and the given areas (images x areas)."""
    sums = np.asarray(sums, dtype=np.float64)[:, areas]
    voxels = np.asarray(n_voxels, dtype=np.float64)[areas]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(voxels > 0, sums / np.where(voxels > 0, voxels, 1), np.nan)


def per_image_gain(sums: np.ndarray, hc_mask: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """``S_a(i) / mean_HC(S_a)`` for every image and the given areas (NaN where the mean is 0)."""
    sums = np.asarray(sums, dtype=np.float64)
    mean_hc = _mean(sums, hc_mask)[areas]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean_hc != 0, sums[:, areas] / np.where(mean_hc != 0, mean_hc, 1), np.nan)


def overlap_matrix(tops: Sequence[Sequence[str]], n: int) -> np.ndarray:
    """``|top_i & top_j| / n * 100`` for every pair of top-``n`` area lists."""
    sets = [set(top) for top in tops]
    return np.array([[len(a & b) / n * 100.0 for b in sets] for a in sets], dtype=np.float64)


@dataclass(frozen=True)
class Correlation:
    """Pearson r of volume and area relevance, its permutation p, and why it may be missing."""

    n: int
    r: float
    p: float
    permutations: int
    reason: str = ""


def _pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """r of each row of ``x`` (k, n) with ``y`` (n,)."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        return (xc @ yc) / (np.sqrt((xc * xc).sum(axis=-1)) * math.sqrt(float(yc @ yc)))


def volume_correlation(
    volumes: np.ndarray, relevance: np.ndarray, permutations: int, seed: int = 0
) -> Correlation:
    """Pearson r between area volume and area relevance, with a permutation test.

    Parameters
    ----------
    volumes, relevance : numpy.ndarray
        Per image (the true positives, in Böhle et al. 2019); images without a volume (NaN)
        are left out, as the authors did.
    permutations : int
        Shuffles of the volumes (0: no test).
    seed : int
        Seed of the shuffles (the result is reproducible).

    Returns
    -------
    Correlation
        With ``reason`` set and r, p NaN when fewer than `MIN_CORRELATION_IMAGES` images have
        a volume or either variable is constant.
    """
    volumes = np.asarray(volumes, dtype=np.float64)
    relevance = np.asarray(relevance, dtype=np.float64)
    keep = np.isfinite(volumes) & np.isfinite(relevance)
    x, y = volumes[keep], relevance[keep]
    n = int(keep.sum())
    if n < MIN_CORRELATION_IMAGES:
        return Correlation(n, math.nan, math.nan, 0, f"{n} image(s) with a volume (needs 3)")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        what = "volume" if np.ptp(x) == 0 else "relevance"
        return Correlation(n, math.nan, math.nan, 0, f"the {what} is the same in every image")
    r = float(_pearson(x[None], y)[0])
    if permutations < 1:
        return Correlation(n, r, math.nan, 0)
    rng = np.random.default_rng(seed)
    shuffled = np.stack([rng.permutation(x) for _ in range(permutations)])
    null = _pearson(shuffled, y)
    extreme = int(np.count_nonzero(np.abs(null) >= abs(r) - 1e-12))
    return Correlation(n, r, (1 + extreme) / (1 + permutations), permutations)
