"""Relevance "fingerprints": how alike two patients' area vectors are (Böhle et al. 2019).

Böhle et al. show that LRP heatmaps are individual: the vectors of area sums ``S_a`` of two
confidently classified AD patients can differ strongly. We measure the likeness of two
vectors by their cosine similarity and name the most dissimilar pair among the confident
patients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["DissimilarPair", "confident_patients", "cosine_similarity", "most_dissimilar_pair"]


@dataclass(frozen=True)
class DissimilarPair:
    """Positions of the two images (``first < second``) and their cosine similarity."""

    first: int
    second: int
    similarity: float


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of the rows of ``vectors`` (n, areas) -> (n, n).

    Rows of zeros (or with NaN) have no direction: their similarities are NaN.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    valid = np.isfinite(norms) & (norms > 0)
    unit = np.zeros_like(vectors)
    unit[valid] = vectors[valid] / norms[valid, None]
    similarity = np.clip(unit @ unit.T, -1.0, 1.0)
    similarity[~valid, :] = np.nan
    similarity[:, ~valid] = np.nan
    return similarity


def confident_patients(
    probability: np.ndarray, predicted_ad: np.ndarray, threshold: float
) -> tuple[np.ndarray, str]:
    """Which patients count as confidently classified, and the rule that was used.

    Confident: predicted AD with ``probability >= threshold``. When fewer than two patients
    pass, the most confident half (at least two, by probability of AD) is used instead.

    Returns
    -------
    (numpy.ndarray, str)
        Boolean mask and ``"threshold"`` or ``"most-confident-half"``.
    """
    probability = np.asarray(probability, dtype=np.float64)
    predicted_ad = np.asarray(predicted_ad, dtype=bool)
    mask = predicted_ad & (probability >= threshold)
    if mask.sum() >= 2:
        return mask, "threshold"
    known = np.flatnonzero(~np.isnan(probability))
    keep = max(2, math.ceil(len(known) / 2))
    best = known[np.argsort(-probability[known], kind="mergesort")[:keep]]
    half = np.zeros(len(probability), dtype=bool)
    half[best] = True
    return half, "most-confident-half"


def most_dissimilar_pair(similarity: np.ndarray, candidates: np.ndarray) -> DissimilarPair | None:
    """The pair of candidates with the lowest similarity (first such pair); None if < 2."""
    similarity = np.asarray(similarity, dtype=np.float64)
    index = np.flatnonzero(np.asarray(candidates, dtype=bool))
    if len(index) < 2:
        return None
    sub = similarity[np.ix_(index, index)]
    upper = np.triu(np.ones(sub.shape, dtype=bool), k=1) & np.isfinite(sub)
    if not upper.any():
        return None
    values = np.where(upper, sub, np.inf)
    i, j = np.unravel_index(int(np.argmin(values)), values.shape)
    return DissimilarPair(int(index[i]), int(index[j]), float(sub[i, j]))
