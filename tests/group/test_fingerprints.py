"""Fingerprints: cosine similarity, confident patients, most dissimilar pair."""

from __future__ import annotations

import itertools

import numpy as np
from sklearn.metrics.pairwise import cosine_similarity as sk_cosine

from bids_lrp.group.fingerprints import (
    confident_patients,
    cosine_similarity,
    most_dissimilar_pair,
)


def test_cosine_matches_sklearn():
    vectors = np.random.default_rng(0).normal(size=(7, 12))
    np.testing.assert_allclose(cosine_similarity(vectors), sk_cosine(vectors), atol=1e-12)


def test_zero_vector_has_no_similarity():
    sim = cosine_similarity(np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]]))
    assert np.isnan(sim[1]).all() and np.isnan(sim[:, 1]).all()
    assert np.isclose(sim[0, 2], 1 / np.sqrt(2))


def test_confident_threshold_and_fallback():
    probability = np.array([0.95, 0.92, 0.5, 0.3])
    predicted = probability >= 0.5
    mask, rule = confident_patients(probability, predicted, 0.9)
    assert rule == "threshold" and mask.tolist() == [True, True, False, False]
    mask, rule = confident_patients(probability, predicted, 0.99)
    assert rule == "most-confident-half" and mask.tolist() == [True, True, False, False]
    # Odd count: the half is rounded up; never fewer than two.
    mask, _ = confident_patients(np.array([0.6, 0.7, 0.8, 0.1, 0.2]), np.ones(5, bool), 0.99)
    assert mask.tolist() == [True, True, True, False, False]


def test_most_dissimilar_pair_brute_force():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(6, 5))
    sim = cosine_similarity(vectors)
    candidates = np.array([True, False, True, True, False, True])
    pair = most_dissimilar_pair(sim, candidates)
    best = min(
        itertools.combinations(np.flatnonzero(candidates), 2), key=lambda ij: sim[ij[0], ij[1]]
    )
    assert (pair.first, pair.second) == tuple(int(i) for i in best)
    assert pair.similarity == sim[best]
    assert most_dissimilar_pair(sim, np.array([True] + [False] * 5)) is None
