"""Classification metrics of the trained network: logits, loss, balanced accuracy, ROC AUC."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

__all__ = ["POSITIVE", "binary_metrics", "evaluate", "predict"]

#: The positive class (index into the logits) for sensitivity, specificity and ROC AUC.
POSITIVE = 1


def predict(
    model: nn.Module, images: np.ndarray, *, device: str = "cpu", batch_size: int = 8
) -> np.ndarray:
    """Logits (float64, ``(N, n_classes)``) of ``images`` ``(N, X, Y, Z)`` in eval mode."""
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
                out.append(model(x[:, None].to(device)).double().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 2))


def _roc_auc(labels: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    positive = labels == POSITIVE
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_metrics(labels: np.ndarray, logits: np.ndarray) -> dict:
    """Loss and classification metrics of one set (AD = class 1 is the positive class).

    Returns
    -------
    dict
        ``n_scans``, ``loss`` (mean cross-entropy), ``accuracy``, ``balanced_accuracy`` (mean of
        sensitivity and specificity, or the one defined), ``sensitivity`` (recall of AD),
        ``specificity`` (recall of HC), ``roc_auc`` (of the AD probability); ``None`` where a
        value is undefined (e.g. a set without one class).
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    if n == 0:
        return {"n_scans": 0}
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    predicted = logits.argmax(axis=1)
    recall = {}
    for name, cls in (("sensitivity", POSITIVE), ("specificity", 1 - POSITIVE)):
        mask = labels == cls
        recall[name] = float((predicted[mask] == cls).mean()) if mask.any() else None
    defined = [v for v in recall.values() if v is not None]
    return {
        "n_scans": n,
        "loss": float(-log_p[np.arange(n), labels].mean()),
        "accuracy": float((predicted == labels).mean()),
        "balanced_accuracy": float(np.mean(defined)),
        **recall,
        "roc_auc": _roc_auc(labels, np.exp(log_p[:, POSITIVE])),
    }


def evaluate(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    device: str = "cpu",
    batch_size: int = 8,
) -> dict:
    """`binary_metrics` of the model on ``images`` (eval mode, no augmentation)."""
    return binary_metrics(labels, predict(model, images, device=device, batch_size=batch_size))
