"""Classification metrics against scikit-learn (an independent implementation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.metrics import (
    balanced_accuracy_score,
    confusion_matrix,
    recall_score,
    roc_auc_score,
)

from bids_lrp.group.metrics import average_ranks, binary_metrics, metrics_rows, roc_auc


@pytest.mark.parametrize("seed", range(5))
def test_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 200))
    y_true = rng.random(n) < 0.4
    # Rounded scores: many ties, the case the rank formula must get right.
    score = np.round(np.clip(y_true * 0.3 + rng.random(n) * 0.7, 0, 1), 1)
    y_pred = score >= 0.5
    ours = binary_metrics(y_true, y_pred, score)
    assert ours["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert ours["sensitivity"] == pytest.approx(recall_score(y_true, y_pred))
    assert ours["specificity"] == pytest.approx(recall_score(~y_true, ~y_pred))
    assert ours["roc_auc"] == pytest.approx(roc_auc_score(y_true, score))
    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[False, True]).ravel()
    assert (ours["tn"], ours["fp"], ours["fn"], ours["tp"]) == (tn, fp, fn, tp)
    assert ours["n"] == n and ours["n_AD"] == int(y_true.sum())


def test_average_ranks_match_scipy():
    values = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0])
    np.testing.assert_array_equal(average_ranks(values), rankdata(values))


def test_one_class_gives_nan():
    y_true = np.ones(4, dtype=bool)
    assert math.isnan(roc_auc(y_true, np.array([0.1, 0.2, 0.3, 0.4])))
    result = binary_metrics(y_true, np.array([True, True, False, True]), np.zeros(4))
    assert result["sensitivity"] == 0.75
    assert math.isnan(result["specificity"]) and math.isnan(result["balanced_accuracy"])
    assert math.isnan(result["roc_auc"])


def test_perfect_and_inverted_auc():
    y_true = np.array([False, False, True, True])
    assert roc_auc(y_true, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(y_true, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert roc_auc(y_true, np.full(4, 0.5)) == 0.5


def test_rows_per_session_and_unusable_images_left_out():
    labels = ["AD", "HC", "AD", "HC", None, "AD"]
    predicted = ["AD", "HC", "HC", "AD", "AD", "AD"]
    probability = [0.9, 0.1, 0.4, 0.6, 0.7, 0.8]
    sessions = ["ses-1", "ses-1", "ses-2", "ses-2", "ses-1", "n/a"]
    rows = metrics_rows(labels, predicted, probability, sessions)
    assert [r["scope"] for r in rows] == ["overall", "ses-1", "ses-2"]
    overall, first, second = rows
    assert overall["n"] == 5 and (overall["tp"], overall["fn"]) == (2, 1)
    assert first["n"] == 2 and first["balanced_accuracy"] == 1.0 and first["roc_auc"] == 1.0
    assert second["balanced_accuracy"] == 0.0 and second["roc_auc"] == 0.0
