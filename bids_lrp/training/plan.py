"""Checking a ``bids_lrp-train`` request against the scans, the labels and the disk.

`plan_training` resolves and checks everything a user can get wrong before any image is loaded
or any file written, and returns a `TrainingPlan`: the labelled scans, their splits, the
network grid and everything the model card records about the request.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bids_lrp.exitcodes import EX_CANTCREAT
from bids_lrp.grid import Grid
from bids_lrp.model import data
from bids_lrp.model.checkpoint import card_path, load_checkpoint, sha256_file
from bids_lrp.model.distributed import Processes, device_of, from_environment
from bids_lrp.model.network import build_model
from bids_lrp.model.network_input import network_grid
from bids_lrp.model.scan_cache import is_cache_folder
from bids_lrp.model.split import Split, kfold_splits, split_subjects
from bids_lrp.model.train import Recipe
from bids_lrp.templates import get_template
from bids_lrp.training.files import side_files
from bids_lrp.training.settings import TrainingSettings, UsageError

__all__ = ["TrainingPlan", "plan_training"]

logger = logging.getLogger("bids_lrp")


@dataclass(frozen=True)
class TrainingPlan:
    """Everything checked and resolved before the images are loaded.

    ``outputs`` are the weights files (one per split); ``init`` is the ``--init-from`` model's
    weights (``state``) and provenance (``record``), or None.
    """

    scans: list[data.Scan]
    labels: np.ndarray
    grid: Grid
    params: dict[str, Any]
    splits: list[Split]
    outputs: list[Path]
    recipe: Recipe
    device: str
    threads: int
    registration: str
    flip_axis: int
    name: str
    scans_dir: Path
    bids_dir: Path
    excluded: dict[str, Any]
    generator: str
    init: dict[str, Any] | None = None
    processes: Processes | None = None
    workers: int = 0


def _read_json(path: Path) -> dict:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _registration(scans: list[data.Scan], given: str | None) -> str:
    """The registration kind: given, else what the scans' sidecars say (all the same)."""
    found: dict[str, int] = {}
    for scan in scans:
        meta = _read_json(scan.path.with_name(scan.path.name.replace(".nii.gz", ".json")))
        template = meta.get("Template") if isinstance(meta.get("Template"), dict) else {}
        kind = meta.get("Registration") or template.get("Registration")
        if isinstance(kind, str):
            found[kind] = found.get(kind, 0) + 1
    if given is not None:
        if set(found) - {given}:
            logger.warning("--registration %s, but the scans' sidecars say %s", given, found)
        return given
    if len(found) == 1 and next(iter(found)) in ("affine", "syn"):
        return next(iter(found))
    if not found:
        raise UsageError(
            "cannot tell how the scans were registered (no 'Registration' in their "
            "sidecars): pass --registration affine|syn"
        )
    counts = ", ".join(f"{k} ({n} scans)" for k, n in sorted(found.items()))
    raise UsageError(f"the scans were registered differently: {counts}; train on one kind")


def cv_summary_path(out: Path) -> Path:
    """The cross-validation summary that ``--folds`` writes beside ``out``."""
    return out.with_name(f"{out.stem}_cv.tsv")


def _outputs(out: Path, folds: int | None, overwrite: bool) -> list[Path]:
    """Weights file(s) to write; refuse existing files or an unwritable folder."""
    weights = [out] if folds is None else [
        out.with_name(f"{out.stem}_fold-{k}{out.suffix}") for k in range(1, folds + 1)
    ]  # fmt: skip
    every = [p for w in weights for p in (w, card_path(w), *side_files(w).values())]
    if folds is not None:
        every.append(cv_summary_path(out))
    existing = [p for p in every if p.exists()]
    if existing and not overwrite:
        raise UsageError(f"{existing[0]} exists; choose another --out or pass --overwrite")
    folder = out.parent.resolve()
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write into {folder}", EX_CANTCREAT)
    return weights


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda, but no CUDA device is available (use --device cpu)")
    return name


def _check_network(settings: TrainingSettings, grid: Grid) -> None:
    try:
        build_model(settings.architecture, input_shape=grid.shape, **settings.network_params)
    except (ValueError, TypeError) as err:
        raise UsageError(
            f"the network does not fit the {settings.grid_mm:g} mm grid {grid.shape}: {err} "
            "(use fewer or smaller --pools, or a finer --grid-mm)"
        ) from None


#: Architecture parameters that shape the weights: an --init-from model must have the same.
_WEIGHT_SHAPING = ("channels", "pools", "hidden")


def _init_from(settings: TrainingSettings, grid: Grid, splits: list[Split]) -> dict[str, Any]:
    """Load and check the --init-from model: its weights (``state``) and provenance (``record``).

    Warns when participants of this run's test sets were in its training or validation set.
    """
    path = settings.init_from.expanduser()
    model, card = load_checkpoint(path)  # CheckpointError: one line (missing, checksum, shape)
    given = {
        "architecture": settings.architecture,
        "template": settings.template,
        "class_names": tuple(data.CLASS_NAMES),
        "input_shape": tuple(grid.shape),
        "input_resampling": settings.input_resampling,
    }
    found = {
        "architecture": card.architecture,
        "template": card.template,
        "class_names": tuple(card.class_names),
        "input_shape": tuple(card.input_shape),
        "input_resampling": card.input_resampling,
    }
    params = settings.network_params
    for key in _WEIGHT_SHAPING:
        given[key], found[key] = params[key], card.architecture_params.get(key)
    problems = [
        f"{key} {found[key]} (here {given[key]})" for key in given if found[key] != given[key]
    ]
    if not problems and not np.allclose(np.asarray(card.affine), grid.affine, atol=1e-4):
        problems.append("another grid affine (use the same --grid-mm and --template)")
    if problems:
        raise UsageError(f"--init-from {path}: its card does not match: {'; '.join(problems)}")
    seen = set()
    for name in ("train", "validation"):
        seen |= {
            str(s).removeprefix("sub-") for s in (card.split or {}).get("sets", {}).get(name, [])
        }
    tested = {s for split in splits for s in split.sets()["test"]}
    if seen & tested:
        logger.warning(
            "%d of the test participants here (%s) were in the --init-from model's training or "
            "validation set; if they are the same people, the test metrics are optimistic",
            len(seen & tested), ", ".join(f"sub-{s}" for s in sorted(seen & tested)[:3]),
        )  # fmt: skip
    return {
        "state": model.state_dict(),  # on the CPU, detached
        "record": {"file": path.name, "name": card.name, "sha256": sha256_file(path)},
    }


def _splits(settings: TrainingSettings, by_subject: dict[str, int]) -> list[Split]:
    if settings.folds is not None:
        return kfold_splits(
            by_subject,
            folds=settings.folds,
            val_fraction=settings.val_fraction,
            seed=settings.seed,
        )
    return [
        split_subjects(
            by_subject,
            val_fraction=settings.val_fraction,
            test_fraction=settings.test_fraction,
            seed=settings.seed,
        )
    ]


def _network_grid(settings: TrainingSettings, scans: list[data.Scan]) -> Grid:
    source = data.check_same_grid(scans)
    template = get_template(settings.template)
    template_grid = Grid(template.shape(), template.affine())
    if not template_grid.same_as(source.shape, source.affine):
        logger.warning(
            "the scans' grid %s is not the %s template grid %s: the participant level feeds "
            "the network template-grid images, so its inputs may differ slightly",
            source.shape, settings.template, template_grid.shape,
        )  # fmt: skip
    return network_grid(template_grid, settings.grid_mm)


def plan_training(settings: TrainingSettings) -> TrainingPlan:
    """Find, label, split and check everything (raises before anything is loaded or written).

    Raises
    ------
    UsageError
        64 for a request that cannot run, 73 for an output folder that cannot be written.
    bids_lrp.model.data.TrainingDataError, bids_lrp.model.split.SplitError
        No scans, no labels, a class too small for the split.
    bids_lrp.model.checkpoint.CheckpointError
        An ``--init-from`` model that cannot be loaded.
    """
    outputs = _outputs(settings.out, settings.folds, settings.overwrite)
    scans_dir = settings.scans_dir.expanduser().resolve()
    scans = data.find_scans(scans_dir, settings.template)
    bids_dir = (settings.bids_dir or data.default_bids_dir(scans_dir)).expanduser().resolve()
    values = data.read_labels(bids_dir, settings.label_column)
    scans, excluded = data.label_scans(
        scans,
        values,
        ad_labels=list(settings.ad_labels),
        hc_labels=list(settings.hc_labels),
        column=settings.label_column,
    )
    splits = _splits(settings, {s.subject: s.label for s in scans})
    grid = _network_grid(settings, scans)
    _check_network(settings, grid)
    init = _init_from(settings, grid, splits) if settings.init_from is not None else None
    registration = _registration(scans, settings.registration)
    processes = from_environment()
    device = _device(settings.device)
    if processes is not None:
        device = device_of(processes, device)
        _check_processes(settings, processes, len(splits[0].train))
    if settings.cache is not None and not is_cache_folder(settings.cache.expanduser()):
        raise UsageError(
            f"--cache {settings.cache} holds other files: give a new or empty folder, or an "
            "earlier cache"
        )
    generated = _read_json(scans_dir / "dataset_description.json").get("GeneratedBy") or [{}]
    first = generated[0] if isinstance(generated, list) and generated else {}
    return TrainingPlan(
        scans=scans,
        labels=np.array([s.label for s in scans], dtype=np.int64),
        grid=grid,
        params=settings.network_params,
        splits=splits,
        outputs=outputs,
        recipe=settings.recipe(),
        device=device,
        threads=settings.threads or _threads(),
        registration=registration,
        flip_axis=int(np.argmax(np.abs(grid.affine[0, :3]))),
        name=settings.name or settings.out.stem,
        scans_dir=scans_dir,
        bids_dir=bids_dir,
        excluded=excluded,
        generator=str(first.get("Name", "")) if isinstance(first, dict) else "",
        init=init,
        processes=processes,
        workers=_workers(settings, device),
    )


def _workers(settings: TrainingSettings, device: str) -> int:
    """DataLoader workers: as asked; by default 2 reading a cache for a GPU, else none.

    On the CPU a batch read from the page cache takes well under 1% of a training step, and
    handing it over from a worker costs more than the read (benchmarks/training_scale.py); a
    GPU's step is short enough for reading ahead to matter.
    """
    if settings.loader_workers is not None:
        return settings.loader_workers
    return 2 if settings.cache is not None and device.startswith("cuda") else 0


def _threads() -> int:
    """All CPUs this process may use (at most 8), shared by torchrun's processes on a node."""
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, min(8, len(os.sched_getaffinity(0)) // per_node))


def _check_processes(settings: TrainingSettings, processes: Processes, n_train: int) -> None:
    if processes.world > settings.batch_size:
        raise UsageError(
            f"{processes.world} processes share each batch of --batch-size "
            f"{settings.batch_size}: give a batch of at least {processes.world} scans"
        )
    if processes.world > n_train:
        raise UsageError(f"{processes.world} processes but only {n_train} training scans")
