"""The model card of a model ``bids_lrp-train`` trained: every field of `ModelCard`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bids_lrp.model.card import ModelCard
from bids_lrp.model.data import CLASS_NAMES
from bids_lrp.model.scan_cache import max_error
from bids_lrp.model.split import Split
from bids_lrp.model.train import TrainResult
from bids_lrp.training.files import side_files, software_versions
from bids_lrp.training.plan import TrainingPlan
from bids_lrp.training.settings import TrainingSettings

__all__ = ["training_card"]


def _training_text(settings: TrainingSettings, plan: TrainingPlan, fingerprint: dict) -> str:
    if settings.training_data:
        return settings.training_data
    classes = fingerprint["classes"]
    kind = "simulated scans (bids_lrp-simulate)" if "simulate" in plan.generator else "scans"
    return (
        f"{fingerprint['n_scans']} {kind} of {fingerprint['n_participants']} participants "
        f"({classes['AD']['participants']} AD, {classes['HC']['participants']} HC) from "
        f"{plan.scans_dir}; labels: {settings.label_column!r} of {plan.bids_dir}/"
        f"participants.tsv"
    )


def _split_json(
    settings: TrainingSettings, plan: TrainingPlan, split: Split, fold: int | None
) -> dict[str, Any]:
    sets = split.sets()
    out: dict[str, Any] = {
        "unit": "participant (all sessions of a participant stay in one set)",
        "stratified_by": "class",
        "method": "holdout" if fold is None else "k-fold",
        "seed": settings.seed,
        "val_fraction": settings.val_fraction,
    }
    if fold is None:
        out["test_fraction"] = settings.test_fraction
    else:
        out.update({"folds": settings.folds, "fold": fold})
    members = {name: set(subjects) for name, subjects in sets.items()}
    out["sets"] = {name: [f"sub-{s}" for s in subjects] for name, subjects in sets.items()}
    out["n_scans"] = {
        name: sum(s.subject in chosen for s in plan.scans) for name, chosen in members.items()
    }
    return out


def training_card(
    settings: TrainingSettings,
    plan: TrainingPlan,
    weights: Path,
    fold: int | None,
    fingerprint: dict[str, Any],
    result: TrainResult,
    metrics: dict[str, Any],
    command: str,
) -> ModelCard:
    """The card of the model trained on split ``fold`` (None: the one hold-out split)."""
    grid = plan.grid
    name = plan.name + ("" if fold is None else f"-fold{fold}")
    n_parameters = sum(p.numel() for p in result.model.parameters())
    training = {
        **plan.recipe.to_json(),
        "shift_unit": "voxels of the network grid",
        "flip_axis": plan.flip_axis,
        "grid_mm": settings.grid_mm,
        "early_stopping": "validation loss",
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "seconds": result.seconds,
        "seconds_per_epoch": round(result.seconds / max(1, result.epochs_run), 3),
        "device": plan.device,
        "threads": plan.threads,
        "processes": 1 if plan.processes is None else plan.processes.world,
        "precision": settings.precision,
        "loader_workers": plan.workers,
        "input_cache": None
        if settings.cache is None
        else {"type": settings.cache_type, "max_error": max_error(settings.cache_type)},
        "n_parameters": n_parameters,
        "excluded_label_values": plan.excluded,
        "init_from": None if plan.init is None else plan.init["record"],
        "history": side_files(weights)["history"].name,
        "working_directory": str(Path.cwd()),
    }
    return ModelCard(
        name=name,
        architecture=settings.architecture,
        architecture_params=plan.params,
        input_shape=tuple(grid.shape),
        voxel_size=tuple(round(v, 6) for v in grid.voxel_size),
        affine=tuple(tuple(float(v) for v in row) for row in grid.affine),
        template=settings.template,
        registration=plan.registration,
        intensity_scaling="minmax-in-brain-mask",
        class_names=CLASS_NAMES,
        input_resampling=settings.input_resampling,
        training_data=_training_text(settings, plan, fingerprint),
        intended_use=settings.intended_use,
        training_fingerprint=fingerprint,
        split=_split_json(settings, plan, plan.splits[(fold or 1) - 1], fold),
        metrics=metrics,
        training=training,
        software=software_versions(plan.device),
        command=command,
    )
