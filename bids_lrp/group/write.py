"""Writing the group outputs: TSV tables and NIfTI maps, each with a JSON sidecar, atomically."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nibabel as nib
import pandas as pd

from bids_lrp.fastgz import sparse_gzip
from bids_lrp.group.tables import NEAR_ZERO_DENSITY
from bids_lrp.safewrite import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = [
    "METRICS_COLUMNS",
    "areasums_columns",
    "group_words",
    "groupstats_columns",
    "write_nifti",
    "write_tsv",
]

_IMAGE_COLUMNS = {
    "image": "image (source entities of the T1w, e.g. sub-01_ses-1)",
    "participant_id": "participant",
    "session_id": "session, n/a without one",
    "label": "diagnosis from participants.tsv mapped to AD or HC; n/a when unknown",
    "predicted": "class predicted by the model, as AD or HC",
    "probability_AD": "the model's probability of AD",
    "outcome": "TP, TN, FP or FN with AD as the positive class; n/a without label",
}

METRICS_COLUMNS = {
    "scope": "overall, or the session the row is about",
    "n": "images with an AD/HC label and a prediction",
    "n_AD": "of which labelled AD",
    "n_HC": "of which labelled HC",
    "balanced_accuracy": "(sensitivity + specificity) / 2",
    "sensitivity": "tp / (tp + fn), AD positive",
    "specificity": "tn / (tn + fp)",
    "roc_auc": "area under the ROC curve of probability_AD (Mann-Whitney U, ties count "
    "one half); n/a with one class",
    "tp": "true positives",
    "tn": "true negatives",
    "fp": "false positives",
    "fn": "false negatives",
}

_GROUP_WORDS = {
    "all": "all images",
    "AD": "images labelled AD",
    "HC": "images labelled HC",
    "TP": "true positives (AD classified AD)",
    "TN": "true negatives (HC classified HC)",
    "FP": "false positives (HC classified AD)",
    "FN": "false negatives (AD classified HC)",
}


def areasums_columns(areas: Iterable[str]) -> dict[str, str]:
    """Column descriptions of an area-sums table."""
    columns = dict(_IMAGE_COLUMNS)
    for area in areas:
        columns[area] = f"S_a: relevance summed over {area} (Böhle et al. 2019)"
    return columns


def groupstats_columns(columns: Iterable[str]) -> dict[str, str]:
    """Column descriptions of a group-stats table."""
    described = {
        "name": "atlas area",
        "n_voxels": "|a|: voxels of the area on the template grid",
    }
    for column in columns:
        kind, _, group = column.partition("_")
        if column in described:
            continue
        if column.startswith("unstable_gain_"):
            den = column.rsplit("_", 1)[-1]
            described[column] = (
                f"1 where the denominator of {column[9:]} is near 0: |mean_{den}| below its "
                f"standard error, or its density below {NEAR_ZERO_DENSITY:g} of the median "
                f"density of the {den} areas; the gain and its rank are then noise; 0 "
                f"otherwise; n/a with fewer than 2 {den} images"
            )
        elif column.startswith("rank_gain_"):
            described[column] = f"rank of {column[5:]} (1 = highest)"
        elif column.startswith("rank_density_"):
            described[column] = f"rank of density_{column[13:]} (1 = highest)"
        elif kind == "gain":
            num, den = group.split("_")
            described[column] = f"relevance gain: mean_{num} / mean_{den}"
        elif kind == "mean":
            described[column] = f"mean of S_a over the {_GROUP_WORDS.get(group, group)}"
        elif kind == "density":
            described[column] = f"relevance density: mean_{group} / n_voxels"
    return described


def _tsv_text(table: pd.DataFrame) -> str:
    return table.to_csv(
        sep="\t", index=False, na_rep="n/a", float_format="%.8g", lineterminator="\n"
    )


def write_tsv(path: Path, table: pd.DataFrame, sidecar: Mapping[str, Any]) -> Path:
    """Write ``table`` as TSV (``n/a`` for missing values) and its JSON sidecar."""
    atomic_write_text(path, _tsv_text(table))
    atomic_write_json(path.with_suffix(".json"), dict(sidecar))
    return path


def write_nifti(path: Path, img: nib.Nifti1Image, sidecar: Mapping[str, Any]) -> Path:
    """Write ``img`` as ``.nii.gz`` (`sparse_gzip`: fast to read back) and its JSON sidecar."""
    atomic_write_bytes(path, sparse_gzip(img.to_bytes()))
    name = path.name[: -len(".nii.gz")] if path.name.endswith(".nii.gz") else path.stem
    atomic_write_json(path.with_name(name + ".json"), dict(sidecar))
    return path


def group_words(group: str) -> str:
    """What a group name means, in words (``all`` -> ``all images``)."""
    return _GROUP_WORDS.get(group, f"{group} images")
