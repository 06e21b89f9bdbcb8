"""Classification metrics of AD (positive) against healthy controls, in plain numpy.

Balanced accuracy is the mean of sensitivity and specificity (the measure Böhle et al. 2019
report); the ROC AUC is the Mann-Whitney U statistic over the AD probabilities, with tied
scores counted one half (average ranks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["average_ranks", "binary_metrics", "confusion", "metrics_rows", "roc_auc"]


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, int]:
    """Counts ``tp``, ``tn``, ``fp``, ``fn`` for boolean truth and prediction (True = AD)."""
    y_true = np.asarray(y_true, dtype=bool)
    y_pred = np.asarray(y_pred, dtype=bool)
    return {
        "tp": int(np.sum(y_true & y_pred)),
        "tn": int(np.sum(~y_true & ~y_pred)),
        "fp": int(np.sum(~y_true & y_pred)),
        "fn": int(np.sum(y_true & ~y_pred)),
    }


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values``; tied values get the mean of their ranks."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    # Start of each run of equal values, then the mean rank of the run.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    run_rank = (starts + 1 + ends) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve, ``U / (n_pos * n_neg)`` (Mann-Whitney); NaN with one class."""
    y_true = np.asarray(y_true, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    n_pos = int(y_true.sum())
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = average_ranks(score)
    u = ranks[y_true].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def binary_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray | None = None
) -> dict[str, float | int]:
    """Counts, sensitivity, specificity, balanced accuracy and ROC AUC (NaN when undefined).

    Parameters
    ----------
    y_true, y_pred : numpy.ndarray
        Boolean truth and prediction per image (True = AD).
    score : numpy.ndarray, optional
        Probability of AD per image, for the ROC AUC (NaN without it or with one class).
    """
    counts = confusion(y_true, y_pred)
    sensitivity = _ratio(counts["tp"], counts["tp"] + counts["fn"])
    specificity = _ratio(counts["tn"], counts["tn"] + counts["fp"])
    n_ad = counts["tp"] + counts["fn"]
    n_hc = counts["tn"] + counts["fp"]
    usable = score is not None and not np.any(np.isnan(np.asarray(score, dtype=np.float64)))
    return {
        "n": n_ad + n_hc,
        "n_AD": n_ad,
        "n_HC": n_hc,
        "balanced_accuracy": (sensitivity + specificity) / 2.0,
        "sensitivity": sensitivity,
        "specificity": specificity,
        "roc_auc": roc_auc(y_true, score) if usable else math.nan,
        **counts,
    }


def metrics_rows(
    labels: Sequence[str | None],
    predicted: Sequence[str | None],
    probability: Sequence[float],
    sessions: Sequence[str],
) -> list[dict[str, float | int | str]]:
    """One metrics row for all images (``scope = overall``) and one per session.

    Images without an AD/HC label or prediction are left out; sessions ``n/a`` (no session
    entity) count only in ``overall``.
    """
    labels = np.asarray([lab or "" for lab in labels], dtype=object)
    predicted = np.asarray([p or "" for p in predicted], dtype=object)
    probability = np.asarray(probability, dtype=np.float64)
    sessions = np.asarray(list(sessions), dtype=object)
    usable = np.isin(labels, ["AD", "HC"]) & np.isin(predicted, ["AD", "HC"])
    scopes = [("overall", usable)]
    for session in sorted({s for s in sessions[usable] if s != "n/a"}):
        scopes.append((session, usable & (sessions == session)))
    rows = []
    for scope, mask in scopes:
        values = binary_metrics(labels[mask] == "AD", predicted[mask] == "AD", probability[mask])
        rows.append({"scope": scope, **values})
    return rows
