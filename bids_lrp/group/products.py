"""The group products of one cohort: tables per atlas and method, metrics, mean maps.

File names (``<out>/group/``; the group report relies on them):

* ``atlas-<A>_desc-<M>_areasums.tsv``, ``atlas-<A>_desc-<M>_groupstats.tsv``,
  ``atlas-<A>_desc-<M>_fingerprints.tsv``
* ``desc-<model>_metrics.tsv``
* ``space-<tpl>_desc-<M>_cohort-<g>_mean.nii.gz``

each with a JSON sidecar.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bids_lrp.group.areas import group_areas
from bids_lrp.group.cohort import IMAGE_COLUMNS, AreaSums, area_sums
from bids_lrp.group.fingerprints import confident_patients, cosine_similarity, most_dissimilar_pair
from bids_lrp.group.labels import Labels
from bids_lrp.group.maps import mean_image, stream_sums
from bids_lrp.group.metrics import metrics_rows
from bids_lrp.group.niftistream import read_grid
from bids_lrp.group.paper import ranking_values, top_areas
from bids_lrp.group.readers import RegionSums
from bids_lrp.group.tables import (
    EMPTY_MAP_SHARE,
    GAINS,
    GROUPS,
    group_stats,
    images_with_relevance,
)
from bids_lrp.group.write import (
    METRICS_COLUMNS,
    areasums_columns,
    groupstats_columns,
    write_nifti,
    write_tsv,
)
from bids_lrp.methods import method_of_label

__all__ = ["AtlasTables", "grouped_sums", "write_atlas_tables", "write_maps", "write_metrics"]

logger = logging.getLogger("bids_lrp")

#: Areas of the authors' fingerprints (the top 25 by AD relevance density).
TOP_FINGERPRINT_AREAS = 25


@dataclass(frozen=True)
class AtlasTables:
    """What every group product shares: the cohort, its groups and the settings used."""

    folder: Path
    cohort: pd.DataFrame
    masks: Mapping[str, np.ndarray]
    labels: Labels
    space: str
    model: str
    grouping: str
    confidence: float
    fingerprint_areas: str = "top25"

    def common(self) -> dict[str, Any]:
        """Sidecar fields shared by every group table."""
        return {
            "GroupSizes": {g: int(m.sum()) for g, m in self.masks.items()},
            "LabelColumn": self.labels.column,
            "ADLabels": list(self.labels.ad_values),
            "HCLabels": list(self.labels.hc_values),
            "Space": self.space,
            "Model": self.model,
            "SourceFiles": len(self.cohort),
        }


def _described(columns: Mapping[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"Description": text} for name, text in columns.items()}


def _fingerprints(
    ctx: AtlasTables, sums: pd.DataFrame, n_voxels: pd.Series, stem: str, meta: dict
) -> list[Path]:
    """Cosine similarity of the patients' area vectors (Böhle et al. 2019).

    ``top25`` (the authors'): true positives (without labels: images predicted AD) with
    probability_AD above the confidence threshold, over the 25 areas of highest AD relevance
    density. ``all``: every AD patient over every area, the confident ones named.
    """
    cohort = ctx.cohort
    labelled = cohort["label"].notna().any()
    predicted_ad = (cohort["predicted"] == "AD").to_numpy()
    probability = cohort["probability_AD"].to_numpy()
    columns = list(sums.columns)
    if ctx.fingerprint_areas == "top25":
        patients = (cohort["outcome"] == "TP").to_numpy() if labelled else predicted_ad
        patients = patients & (probability > ctx.confidence)
        source = (
            f"true positives with probability_AD > {ctx.confidence:g}"
            if labelled
            else f"predicted AD with probability_AD > {ctx.confidence:g} (no labels)"
        )
        masks = {"AD": patients if not labelled else (cohort["label"] == "AD").to_numpy()}
        density = ranking_values(sums.to_numpy(), n_voxels.to_numpy(), masks, "density")
        columns = [columns[i] for i in top_areas(density, TOP_FINGERPRINT_AREAS)]
    else:
        patients = (cohort["label"] == "AD").to_numpy() if labelled else predicted_ad
        source = "label AD" if labelled else "predicted AD (no labels)"
    index = np.flatnonzero(patients)
    if len(index) < 2 or not columns:
        return []
    images = cohort["image"].to_numpy()[index]
    similarity = cosine_similarity(sums[columns].to_numpy()[index])
    if ctx.fingerprint_areas == "top25":
        confident, rule = np.ones(len(index), dtype=bool), "threshold"
    else:
        confident, rule = confident_patients(
            probability[index], predicted_ad[index], ctx.confidence
        )
    pair = most_dissimilar_pair(similarity, confident)
    table = pd.DataFrame(similarity, columns=list(images))
    table.insert(0, "image", images)
    sidecar = {
        **meta,
        "Description": "cosine similarity between the area-sum vectors (S_a) of the AD "
        "patients' images: relevance fingerprints (Böhle et al. 2019)",
        "Patients": source,
        "FingerprintAreas": {
            "Selection": ctx.fingerprint_areas,
            "Areas": columns,
            "Definition": "top25: the 25 areas of highest AD relevance density "
            "mean_AD(S_a) / |a|, as Böhle et al. 2019; all: every area",
        },
        "Confident": {
            "Rule": rule,
            "Threshold": ctx.confidence,
            "Definition": "predicted AD with probability_AD >= Threshold; when fewer than two "
            "pass, the most confident half by probability_AD (Rule most-confident-half)"
            if ctx.fingerprint_areas == "all"
            else "every image of the table (all pass the threshold)",
            "Images": [str(i) for i in images[confident]],
        },
        "MostDissimilarPair": None
        if pair is None
        else {
            "Images": [str(images[pair.first]), str(images[pair.second])],
            "Similarity": pair.similarity,
        },
        "image": {"Description": "image of the row; the other columns are images too"},
    }
    return [write_tsv(ctx.folder / f"{stem}_fingerprints.tsv", table, sidecar)]


def grouped_sums(ctx: AtlasTables, tables: Mapping[str, RegionSums]) -> AreaSums:
    """The cohort's area sums of one atlas and method, in the chosen area grouping."""
    read = area_sums(tables, list(ctx.cohort["image"]))
    sums, n_voxels = group_areas(read.sums, read.n_voxels, ctx.grouping)
    return AreaSums(sums.reset_index(drop=True), n_voxels)


def write_atlas_tables(
    ctx: AtlasTables, atlas: str, method: str, tables: Mapping[str, RegionSums]
) -> tuple[list[Path], list[str]]:
    """Write the area sums, group statistics and fingerprints of one atlas and method.

    Returns
    -------
    (list of Path, list of str)
        Written files, and the analyses skipped (e.g. a gain without one of its groups).
    """
    grouped = grouped_sums(ctx, tables)
    sums, n_voxels = grouped.sums, grouped.n_voxels
    stem = f"atlas-{atlas}_desc-{method}"
    meta = {
        **ctx.common(),
        "Atlas": atlas,
        **_method_fields(method),
        "MergedHemispheres": ctx.grouping != "none",
        "AreaGrouping": ctx.grouping,
        "Areas": len(sums.columns),
    }
    images = ctx.cohort[list(IMAGE_COLUMNS)].astype(object)
    areasums = pd.concat([images.where(images.notna(), None), sums], axis=1)
    files = [
        write_tsv(
            ctx.folder / f"{stem}_areasums.tsv",
            areasums,
            {**meta, **_described(areasums_columns(sums.columns))},
        )
    ]
    stats = group_stats(sums, n_voxels, ctx.masks)
    with_relevance = images_with_relevance(sums, ctx.masks)
    files.append(
        write_tsv(
            ctx.folder / f"{stem}_groupstats.tsv",
            stats,
            {
                **meta,
                "ImagesWithRelevance": {
                    "Counts": with_relevance,
                    "Definition": "images of the group whose map holds any relevance (sum of "
                    f"|S_a| over the areas above {EMPTY_MAP_SHARE:g} of the largest image's); the "
                    "group's mean, and a gain with the group as denominator, rest on these",
                },
                **_described(groupstats_columns(stats.columns)),
            },
        )
    )
    fingerprints = _fingerprints(ctx, sums, n_voxels, stem, meta)
    files += fingerprints
    notes = []
    if ctx.labels.column is not None:
        for num, den in GAINS:
            if num not in ctx.masks or den not in ctx.masks:
                missing = den if num in ctx.masks else num
                notes.append(f"no {missing} images: gain_{num}_{den} skipped")
            elif with_relevance[den] == 0:
                notes.append(
                    f"{method}, {atlas}: gain_{num}_{den} undefined (n/a): none of the "
                    f"{int(ctx.masks[den].sum())} {den} maps holds any relevance"
                )
    if not fingerprints:
        notes.append(
            f"{method}, {atlas}: fewer than 2 "
            + (
                f"true positives (without labels: images predicted AD) with probability_AD > "
                f"{ctx.confidence:g}"
                if ctx.fingerprint_areas == "top25"
                else "AD images"
            )
            + ": fingerprints skipped"
        )
    return files, notes


def write_metrics(ctx: AtlasTables) -> tuple[list[Path], list[str]]:
    """Write ``desc-<model>_metrics.tsv`` (overall and per session) when labels exist."""
    cohort = ctx.cohort
    if ctx.labels.column is None or cohort["label"].isna().all():
        return [], []
    rows = metrics_rows(
        cohort["label"].tolist(),
        cohort["predicted"].tolist(),
        cohort["probability_AD"].tolist(),
        cohort["session_id"].tolist(),
    )
    if rows[0]["n"] == 0:
        return [], ["no image has both an AD/HC label and a prediction: metrics skipped"]
    table = pd.DataFrame(rows, columns=list(METRICS_COLUMNS))
    sidecar = {
        **ctx.common(),
        "PositiveClass": "AD",
        "Description": f"classification of model {ctx.model} against the labels",
        **_described(METRICS_COLUMNS),
    }
    path = ctx.folder / f"desc-{ctx.model}_metrics.tsv"
    return [write_tsv(path, table, sidecar)], []


def _method_fields(label: str) -> dict[str, str]:
    """``Method`` (the registry name, e.g. boehle2019) and ``MethodLabel`` (e.g. LRPb0)."""
    return {"Method": method_of_label(label) or label, "MethodLabel": label}


def _method_meta(path: Path) -> dict[str, Any]:
    name = path.name[: -len(".nii.gz")] if path.name.endswith(".nii.gz") else path.stem
    try:
        meta = json.loads(path.with_name(name + ".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(meta, dict):
        return {}
    keep = ["MethodParameters", "TargetSelection", "Template"]
    if meta.get("TargetSelection") != "predicted class":  # else it differs from map to map
        keep.append("TargetClass")
    return {k: meta[k] for k in keep if k in meta}


def _cells_of(group: str, cells: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    if group == "all":
        return list(cells)
    return [c for c in cells if group in c]


def write_maps(
    ctx: AtlasTables, method: str, paths: Sequence[Path], n_workers: int
) -> tuple[list[Path], dict[str, str], list[str]]:
    """Stream one method's relevance maps into a mean map per group and write them.

    A group none of whose maps could be read gets no mean map (a mean of nothing would be a
    map of zeros that looks like a result): it is skipped with a warning and a note.

    Returns
    -------
    (list of Path, dict, list of str)
        Written files, image -> reason for the maps left out, and the mean maps skipped.
    """
    start = time.monotonic()
    cohort = ctx.cohort
    cells = [
        ("n/a" if pd.isna(label) else label, "n/a" if pd.isna(outcome) else outcome)
        for label, outcome in zip(cohort["label"], cohort["outcome"], strict=True)
    ]
    images = dict(zip(map(str, paths), cohort["image"], strict=True))
    grid = None
    failed: dict[str, str] = {}
    for path in paths:
        try:
            grid = read_grid(path)
            break
        except Exception as err:
            failed[images[str(path)]] = f"unreadable {method} relevance map ({err})"
    groups = [g for g in GROUPS if g in ctx.masks]
    if grid is None:
        for image, reason in failed.items():
            logger.warning("%s: %s", image, reason)
        return [], failed, [_no_mean_note(method, groups)]
    total = stream_sums(list(zip(paths, cells, strict=True)), grid, n_workers)
    for path, reason in total.failed.items():
        failed[images[path]] = f"{method} relevance map left out of the means: {reason}"
        logger.warning("%s: %s", images[path], failed[images[path]])
    logger.info(
        "%s: %d map(s) streamed in %.1f s",
        method,
        sum(total.counts.values()),
        time.monotonic() - start,
    )
    meta = _method_meta(Path(paths[0]))
    keys = sorted(set(cells))
    empty = [g for g in groups if total.count(_cells_of(g, keys)) == 0]
    notes = [_no_mean_note(method, empty)] if empty else []
    if notes:
        logger.warning(notes[0])

    def write(group: str) -> Path | None:
        summed, count = total.total(_cells_of(group, keys))
        if summed is None or count == 0:
            return None
        if not np.all(np.isfinite(summed)):
            logger.warning("the %s maps of group %s hold NaN or infinite values", method, group)
        path = ctx.folder / f"space-{ctx.space}_desc-{method}_cohort-{group}_mean.nii.gz"
        sidecar = {
            **meta,
            **_method_fields(method),
            "Description": f"mean {method} relevance map of the group {group}, computed "
            "streaming (a running sum, one volume at a time)",
            "Cohort": group,
            "SourceFiles": count,
            "Space": ctx.space,
            "Model": ctx.model,
            "LabelColumn": ctx.labels.column,
        }
        return write_nifti(path, mean_image(summed, count, grid), sidecar)

    # Compression releases the GIL: the maps are written in parallel.
    with ThreadPoolExecutor(max(1, n_workers)) as pool:
        files = [f for f in pool.map(write, groups) if f is not None]
    return files, failed, notes


def _no_mean_note(method: str, groups: Sequence[str]) -> str:
    return (
        f"{method}: no readable relevance map in group(s) {', '.join(groups)}: "
        "their mean maps are not written"
    )
