"""Running the group level: read every participant's outputs, write ``<out>/group/``.

Order: labels and participant outputs are checked first (clear errors before any work), then
the small tables (area sums, group statistics, fingerprints, metrics), then the mean maps,
streamed (the slow part), then ``group_summary.json`` and the group report.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from bids_lrp import __version__
from bids_lrp.config import Settings
from bids_lrp.exitcodes import EX_NOINPUT
from bids_lrp.group.boehle2019 import VolumeInputs, write_paper_products
from bids_lrp.group.cohort import area_sums, image_table, read_area_sums
from bids_lrp.group.collect import Collection, collect_outputs
from bids_lrp.group.faithfulness import write_faithfulness
from bids_lrp.group.labels import Labels, read_labels
from bids_lrp.group.products import (
    AtlasTables,
    grouped_sums,
    write_atlas_tables,
    write_maps,
    write_metrics,
)
from bids_lrp.group.randomization import write_randomization
from bids_lrp.group.tables import group_masks
from bids_lrp.group.volumes import ExternalVolumes, read_estimated_volumes, read_external_volumes
from bids_lrp.inputs import InputError, check_output_dirs
from bids_lrp.safewrite import atomic_write_json, writable_folder, writing_into

__all__ = ["NoReport", "run_group_level"]

logger = logging.getLogger("bids_lrp")


def _few(items: list[str], n: int = 5) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _check_labels(
    labels: Labels, cohort: pd.DataFrame, found: set[str], settings: Settings
) -> list[str]:
    """Warn about labels that do not fit the outputs; return what the missing labels skip."""
    if labels.column is None:
        logger.warning("%s; gain, metrics and TP/TN/FP/FN are skipped", labels.note)
        return [f"{labels.note}: gain, metrics and TP/TN/FP/FN skipped"]
    wanted = {f"sub-{p}" for p in settings.participant_label}
    unknown = [p for p in labels.listed if p not in found and (not wanted or p in wanted)]
    if unknown:
        logger.warning(
            "participants.tsv names %d participant(s) without participant outputs (%s); "
            "they are left out",
            len(unknown),
            _few(unknown),
        )
    unlabelled = sorted(set(cohort.loc[cohort["label"].isna(), "participant_id"]))
    if unlabelled:
        values = ", ".join(f"{v!r} ({n})" for v, n in sorted(labels.other_values.items()))
        logger.warning(
            "%d participant(s) have no AD/HC label in column %r (%s)%s; they count only in "
            "the group 'all'",
            len(unlabelled),
            labels.column,
            _few(unlabelled),
            f"; other values: {values} (see --ad-labels, --hc-labels)" if values else "",
        )
    notes = []
    if cohort["label"].isna().all():
        notes.append(
            f"no image has an AD/HC label in column {labels.column!r}: gain, metrics and "
            "TP/TN/FP/FN skipped"
        )
        logger.warning(notes[-1])
    if cohort["predicted"].isna().any():
        logger.warning(
            "%d image(s) have a predicted class that is neither AD nor HC",
            int(cohort["predicted"].isna().sum()),
        )
    return notes


def _read_tables(collection: Collection, skipped: dict[str, str]) -> dict[tuple[str, str], dict]:
    """Read every region table of the images still in; record the unreadable ones."""
    images = [im for im in collection.images if im.prefix not in skipped]
    read = {}
    for atlas in collection.atlases:
        for method in collection.methods:
            tables, bad = read_area_sums(images, (collection.space, atlas, method))
            for image, reason in bad.items():
                skipped.setdefault(image, reason)
            read[(atlas, method)] = tables
    return read


#: Names of the files this module writes into ``group/`` (the report's files are left alone).
_PRODUCTS = (
    "atlas-*_desc-*_areasums.*",
    "atlas-*_desc-*_groupstats.*",
    "atlas-*_desc-*_fingerprints.*",
    "desc-*_metrics.*",
    "atlas-*_desc-*_topareas.*",
    "atlas-*_desc-betastudy*_overlap.*",
    "atlas-*_volumecorrelation.*",
    "atlas-*_volumes.*",
    "space-*_desc-*_cohort-*_mean.*",
)


def _remove_stale(folder: Path, written: list[Path]) -> None:
    """Delete products of an earlier run that this run did not write (e.g. a group now empty)."""
    keep = set()
    for path in written:
        keep.add(path.name)
        stem = path.name.removesuffix(".nii.gz").removesuffix(".tsv")
        keep.add(stem + ".json")
    for pattern in _PRODUCTS:
        for path in folder.glob(pattern):
            if path.name not in keep and path.is_file():
                logger.info("removing %s, left from an earlier group run", path.name)
                path.unlink()


def _settings_summary(settings: Settings, labels: Labels) -> dict[str, Any]:
    return {
        "label_column": labels.column,
        "ad_labels": list(settings.ad_labels),
        "hc_labels": list(settings.hc_labels),
        "merge_hemispheres": settings.area_grouping != "none",
        "area_grouping": settings.area_grouping,
        "fingerprint_areas": settings.fingerprint_areas,
        "volume_columns": dict(settings.volume_columns),
        "volume_areas": list(settings.volume_areas),
        "permutations": settings.permutations,
        "confidence": settings.confidence,
        "participant_label": list(settings.participant_label),
        "session_label": list(settings.session_label),
        "nprocs": settings.nprocs,
    }


class NoReport:
    """A group level without its HTML report: `run_group_level`'s default ``report``."""

    def __init__(self, output_dir: Path, n_images: int, nprocs: int) -> None:
        del output_dir, n_images, nprocs

    def __enter__(self) -> NoReport:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def submit(self, part: tuple[str, ...], paths: Iterable[Path]) -> None:
        """Nothing to draw."""

    def finish(self) -> None:
        """Nothing to write."""


def run_group_level(settings: Settings, report: Callable[..., Any] = NoReport) -> int:
    """Aggregate the participant outputs of ``settings.output_dir``; return the exit code.

    ``report`` makes the object that draws the HTML report beside the tables (called with the
    output folder, the number of images and ``settings.nprocs``; `NoReport` by default): the
    app passes `bids_lrp.reports.background.GroupReport`, so that the group level's data part
    does not depend on the reports.

    Raises
    ------
    InputError
        66 without participant outputs (or none usable); 64 for a label column that does not
        exist; 16 when the BIDS folder does not exist; 73 when ``group/`` cannot be written.
    """
    start = time.monotonic()
    # an output folder that holds the BIDS dataset or another dataset: refused before any work
    check_output_dirs(settings.bids_dir, settings.output_dir, settings.work_dir, "group")
    labels = read_labels(
        settings.bids_dir, settings.label_column, settings.ad_labels, settings.hc_labels
    )
    external = None
    if settings.volume_columns:
        external = read_external_volumes(
            settings.volumes_file or settings.bids_dir / "participants.tsv",
            settings.volume_columns,
        )
    collection = collect_outputs(
        settings.output_dir, settings.participant_label, settings.session_label
    )
    folder = writable_folder(settings.output_dir / "group")
    with writing_into(settings.output_dir / "logs"):
        settings.save()
    skipped = dict(collection.skipped)
    for image, reason in skipped.items():
        logger.warning("%s skipped: %s", image, reason)
    cohort, bad = image_table(collection.images, labels, collection.model)
    skipped.update(bad)
    read = _read_tables(collection, skipped)
    for image, reason in skipped.items():
        if image not in collection.skipped:
            logger.warning("%s skipped: %s", image, reason)
    cohort = cohort[~cohort["image"].isin(list(skipped))].reset_index(drop=True)
    if cohort.empty:
        raise InputError(
            f"none of the {len(skipped)} image(s) in {settings.output_dir} could be used "
            "(see the warnings); run the participant level again for them",
            EX_NOINPUT,
        )
    found = {im.participant_id for im in collection.images} | {
        i.split("_")[0] for i in collection.skipped
    }
    notes = _check_labels(labels, cohort, found, settings)
    masks = group_masks(cohort["label"].tolist(), cohort["outcome"].tolist())
    logger.info(
        "group level: %d image(s) (%s), %d skipped; methods %s; atlases %s",
        len(cohort),
        ", ".join(f"{g} {int(m.sum())}" for g, m in masks.items()),
        len(skipped),
        ", ".join(collection.methods),
        ", ".join(collection.atlases),
    )
    context = AtlasTables(
        folder=folder,
        cohort=cohort,
        masks=masks,
        labels=labels,
        space=collection.space,
        model=collection.model,
        grouping=settings.area_grouping,
        confidence=settings.confidence,
        fingerprint_areas=settings.fingerprint_areas,
    )
    with (
        writing_into(folder),
        report(settings.output_dir, len(cohort), settings.nprocs) as drawing,
    ):
        written, maps_skipped = _write_products(
            context, collection, read, notes, drawing, settings, external
        )
        _finish(settings, context, collection, labels, skipped, notes, written, maps_skipped)
        logger.info("group tables and maps written in %.1f s", time.monotonic() - start)
        drawing.finish()
    logger.info(
        "group level done in %.1f s: %d file(s) in %s%s",
        time.monotonic() - start,
        len(written) + 1,
        folder,
        f"; {len(skipped)} image(s) skipped (see group_summary.json)" if skipped else "",
    )
    return 0


def _write_products(
    context: AtlasTables,
    collection: Collection,
    read: dict[tuple[str, str], dict],
    notes: list[str],
    report: NoReport,
    settings: Settings,
    external: ExternalVolumes | None,
) -> tuple[list[Path], dict[str, str]]:
    """Tables, metrics and mean maps; each report part is drawn once its files exist."""
    written: list[Path] = []
    for (atlas, method), tables in read.items():
        files, more = write_atlas_tables(context, atlas, method, tables)
        written += files
        notes += [n for n in more if n not in notes]
        report.submit(("pair", atlas, method), files)
    for atlas in collection.atlases:
        files, more = _paper_products(context, collection, read, atlas, settings, external)
        written += files
        notes += [n for n in more if n not in notes]
    files, more = write_metrics(context)
    written += files
    notes += more
    images = {im.prefix: im for im in collection.images}
    measured = [images[i] for i in context.cohort["image"]]
    written += write_faithfulness(context.folder, measured, collection.space)
    written += write_randomization(context.folder, measured, collection.space)
    maps_skipped: dict[str, str] = {}
    for method in collection.methods:
        paths = [images[i].maps[(collection.space, method)] for i in context.cohort["image"]]
        files, failed, more = write_maps(context, method, paths, settings.nprocs)
        written += files
        maps_skipped.update(failed)
        notes += more
        report.submit(("maps", method), files)
    return written, maps_skipped


def _sidecar(path: Path) -> dict[str, Any]:
    name = path.name.removesuffix(".nii.gz").removesuffix(".nii")
    try:
        meta = json.loads(path.with_name(name + ".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _paper_products(
    context: AtlasTables,
    collection: Collection,
    read: dict[tuple[str, str], dict],
    atlas: str,
    settings: Settings,
    external: ExternalVolumes | None,
) -> tuple[list[Path], list[str]]:
    """Böhle et al. (2019)'s top areas, beta study and volume correlation of one atlas."""
    images = {im.prefix: im for im in collection.images}
    order = list(context.cohort["image"])
    grouped = {m: grouped_sums(context, read[(atlas, m)]) for m in collection.methods}
    metas = {m: _sidecar(images[order[0]].maps[(collection.space, m)]) for m in collection.methods}
    first = collection.methods[0]
    raw = area_sums(read[(atlas, first)], order)
    tables = [images[i].tables[(collection.space, atlas, first)] for i in order]
    try:
        estimate = read_estimated_volumes(tables)
    except (OSError, ValueError) as err:
        logger.warning("%s: cannot read the volume estimates (%s)", atlas, err)
        estimate = None
    if estimate is None:
        logger.info(
            "%s: the region tables hold no native_volume_mm3 (the participant level estimates "
            "it with --registration syn or --estimate-volumes): no estimated volumes",
            atlas,
        )
    volumes = VolumeInputs(
        estimate, raw.n_voxels, external, settings.volume_areas, settings.permutations
    )
    files, notes = write_paper_products(context, atlas, grouped, metas, volumes)
    for note in notes:
        logger.warning(note)
    return files, notes


def _finish(
    settings: Settings,
    context: AtlasTables,
    collection: Collection,
    labels: Labels,
    skipped: dict[str, str],
    notes: list[str],
    written: list[Path],
    maps_skipped: dict[str, str],
) -> None:
    """``group_summary.json``, and the removal of products an earlier run left behind."""
    cohort = context.cohort
    summary = {
        "GeneratedBy": {"Name": "bids_lrp", "Version": __version__},
        "ImagesUsed": len(cohort),
        "Images": cohort["image"].tolist(),
        "ImagesSkipped": dict(sorted(skipped.items())),
        "MapsSkipped": dict(sorted(maps_skipped.items())),
        "Skipped": notes,
        "GroupSizes": {g: int(m.sum()) for g, m in context.masks.items()},
        "Space": collection.space,
        "Model": collection.model,
        "Methods": list(collection.methods),
        "Atlases": list(collection.atlases),
        "Settings": _settings_summary(settings, labels),
        "Files": sorted(p.name for p in written),
    }
    _remove_stale(context.folder, written)
    atomic_write_json(context.folder / "group_summary.json", summary)
