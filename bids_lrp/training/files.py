"""Files written beside trained weights: per-epoch history, training curves, CV summary.

``model.safetensors`` (+ ``model.json``, the card) gets ``model_history.tsv`` (one row per
epoch), ``model_curves.png`` and ``model_curves.svg``; a cross-validation adds
``model_cv.tsv`` (test metrics per fold, their mean and standard deviation). Every file is
written atomically (`bids_lrp.safewrite.atomic_write_bytes`); `bids_lrp.safewrite.StagedOutputs`
makes a whole set of them appear together or not at all.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from pathlib import Path

import nibabel
import numpy as np
import pandas as pd
import safetensors
import scipy
import torch
from matplotlib.figure import Figure

from bids_lrp import __version__
from bids_lrp.reports.figures import save_figure
from bids_lrp.safewrite import atomic_write_text

__all__ = [
    "side_files",
    "software_versions",
    "training_curves",
    "write_cv_summary",
    "write_history",
]

_TRAIN, _VAL, _KEPT = "#566573", "#c0392b", "#2471a3"
#: Metrics reported per set and per fold.
METRICS = ("loss", "accuracy", "balanced_accuracy", "sensitivity", "specificity", "roc_auc")


def side_files(weights: str | Path) -> dict[str, Path]:
    """The history table and curve figures that belong to a weights file."""
    stem = Path(weights).with_suffix("")
    return {
        "history": Path(f"{stem}_history.tsv"),
        "png": Path(f"{stem}_curves.png"),
        "svg": Path(f"{stem}_curves.svg"),
    }


def software_versions(device: str = "cpu") -> dict[str, str]:
    """Versions of the software that trained a model (and the GPU, if one was used)."""
    out = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "bids_lrp": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "nibabel": nibabel.__version__,
        "safetensors": safetensors.__version__,
    }
    if str(device).startswith("cuda"):
        out["cuda"] = str(torch.version.cuda)
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return out


def _tsv(table: pd.DataFrame) -> str:
    return table.to_csv(
        sep="\t", index=False, na_rep="n/a", lineterminator="\n", float_format="%.6g"
    )


def write_history(history: Sequence[Mapping], path: str | Path) -> Path:
    """One row per epoch (losses, accuracies, whether the checkpoint was kept, seconds)."""
    return atomic_write_text(path, _tsv(pd.DataFrame(list(history))))


def write_cv_summary(test_metrics: Sequence[Mapping], path: str | Path) -> Path:
    """Test metrics per fold, then their mean and standard deviation (rows ``mean``, ``sd``)."""
    rows = [
        {"fold": str(k), **{m: t.get(m) for m in METRICS}} for k, t in enumerate(test_metrics, 1)
    ]
    table = pd.DataFrame(rows)
    values = table[list(METRICS)].astype(float)
    summary = pd.DataFrame(
        [{"fold": "mean", **values.mean().to_dict()}, {"fold": "sd", **values.std().to_dict()}]
    )
    return atomic_write_text(path, _tsv(pd.concat([table, summary], ignore_index=True)))


def training_curves(
    history: Sequence[Mapping], paths: Sequence[str | Path], *, title: str = ""
) -> list[Path]:
    """Draw loss and accuracy per epoch and write the figure to each of ``paths``.

    Parameters
    ----------
    history : sequence of dict
        Records of `bids_lrp.model.train.train_model` (``epoch``, ``train_loss``, ``val_loss``,
        ``train_accuracy``, ``val_balanced_accuracy``, ``kept``).
    paths : sequence of str or Path
        ``.png`` or ``.svg`` files (`bids_lrp.reports.figures.save_figure`, atomic).
    title : str
        Figure title (e.g. the model name).

    Returns
    -------
    list of Path
    """
    epochs = [r["epoch"] for r in history]
    kept = [r["epoch"] for r in history if r.get("kept")]
    fig = Figure(figsize=(8.0, 3.2))
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [r["train_loss"] for r in history], color=_TRAIN, label="training")
    loss_ax.plot(epochs, [r["val_loss"] for r in history], color=_VAL, label="validation")
    loss_ax.set_ylabel("cross-entropy loss")
    acc_ax.plot(
        epochs, [r["train_accuracy"] for r in history], color=_TRAIN, label="training accuracy"
    )
    acc_ax.plot(
        epochs,
        [r["val_balanced_accuracy"] for r in history],
        color=_VAL,
        label="validation balanced accuracy",
    )
    acc_ax.set_ylabel("accuracy")
    acc_ax.set_ylim(-0.02, 1.02)
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("epoch")
        if kept:
            ax.axvline(kept[-1], color=_KEPT, linestyle="--", linewidth=1, label="kept checkpoint")
        ax.legend(fontsize=7, frameon=False)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return [save_figure(fig, path) for path in paths]
