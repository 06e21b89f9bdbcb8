"""Checking and running a ``bids_lrp-train`` request (the command line is `bids_lrp.cli.train`).

`plan_training` resolves and checks everything a user can get wrong before any image is loaded
or any file written; `run_training` loads the scans once, trains one model per split and writes
the weights, the model card, the per-epoch history and the training curves.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bids_lrp.exitcodes import EX_CANTCREAT, EX_USAGE
from bids_lrp.grid import Grid

__all__ = [
    "EX_CANTCREAT",
    "EX_USAGE",
    "TrainingPlan",
    "UsageError",
    "plan_training",
    "run_training",
]

logger = logging.getLogger("bids_lrp")


class UsageError(ValueError):
    """A request that cannot run; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EX_USAGE) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class TrainingPlan:
    """Everything checked and resolved before the images are loaded."""

    scans: list
    labels: np.ndarray
    grid: object
    params: dict
    splits: list
    outputs: list
    recipe: object
    device: str
    threads: int
    registration: str
    flip_axis: int
    card_base: dict
    init: dict | None = None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _registration(scans: list, given: str | None) -> str:
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


def _outputs(out: Path, folds: int | None, overwrite: bool) -> list[Path]:
    """Weights file(s) to write; refuse a bad suffix, existing files or an unwritable folder."""
    from bids_lrp.model.checkpoint import card_path
    from bids_lrp.model.outputs import side_files

    if out.suffix != ".safetensors":
        raise UsageError(f"--out must end in .safetensors, got {out.name}")
    weights = [out] if folds is None else [
        out.with_name(f"{out.stem}_fold-{k}{out.suffix}") for k in range(1, folds + 1)
    ]  # fmt: skip
    every = [p for w in weights for p in (w, card_path(w), *side_files(w).values())]
    if folds is not None:
        every.append(out.with_name(f"{out.stem}_cv.tsv"))
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
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda, but no CUDA device is available (use --device cpu)")
    return name


def _check_network(args: argparse.Namespace, grid) -> dict:
    from bids_lrp.model.network import build_model

    if len(args.channels) != len(args.pools):
        raise UsageError(
            f"--channels ({len(args.channels)} values) and --pools ({len(args.pools)}) must "
            "have one value per block"
        )
    params = {
        "channels": list(args.channels),
        "pools": list(args.pools),
        "hidden": args.hidden,
        "dropout": args.dropout,
    }
    try:
        build_model(args.architecture, input_shape=grid.shape, **params)
    except (ValueError, TypeError) as err:
        raise UsageError(
            f"the network does not fit the {args.grid_mm:g} mm grid {grid.shape}: {err} "
            "(use fewer or smaller --pools, or a finer --grid-mm)"
        ) from None
    return params


#: Architecture parameters that shape the weights: an --init-from model must have the same.
_WEIGHT_SHAPING = ("channels", "pools", "hidden")


def _init_from(args: argparse.Namespace, grid, params: dict, splits: list) -> dict:
    """Load and check the --init-from model: its weights (``state``) and provenance (``record``).

    Warns when participants of this run's test sets were in its training or validation set.
    """
    from bids_lrp.model.checkpoint import load_checkpoint, sha256_file
    from bids_lrp.model.data import CLASS_NAMES

    path = args.init_from.expanduser()
    model, card = load_checkpoint(path)  # CheckpointError: one line (missing, checksum, shape)
    given = {
        "architecture": args.architecture,
        "template": args.template,
        "class_names": tuple(CLASS_NAMES),
        "input_shape": tuple(grid.shape),
        "input_resampling": args.input_resampling,
    }
    found = {
        "architecture": card.architecture,
        "template": card.template,
        "class_names": tuple(card.class_names),
        "input_shape": tuple(card.input_shape),
        "input_resampling": card.input_resampling,
    }
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


def plan_training(args: argparse.Namespace) -> TrainingPlan:
    """Find, label, split and check everything (raises before anything is loaded or written)."""
    from bids_lrp.model import data
    from bids_lrp.model.train import Recipe, default_shift, kfold_splits, split_subjects
    from bids_lrp.templates import get_template

    ad, hc = list(dict.fromkeys(args.ad_labels)), list(dict.fromkeys(args.hc_labels))
    if set(ad) & set(hc):
        both = ", ".join(sorted(set(ad) & set(hc)))
        raise UsageError(f"label value(s) {both} given in both --ad-labels and --hc-labels")
    if args.folds is None and args.val_fraction + args.test_fraction >= 1:
        raise UsageError("--val-fraction and --test-fraction must sum to less than 1")
    if args.val_fraction == 0:
        raise UsageError("--val-fraction must be above 0 (early stopping needs a validation set)")
    if args.shift is not None and args.shift[0] > args.shift[1]:
        raise UsageError(f"--shift MIN MAX needs MIN <= MAX, got {args.shift[0]} {args.shift[1]}")
    if args.warmup and args.decay_warmup:
        raise UsageError("--warmup and --decay-warmup are two warm-ups; choose one")
    if args.monitor_from > args.epochs:
        raise UsageError(
            f"--monitor-from {args.monitor_from} is after the last epoch (--epochs {args.epochs})"
        )
    outputs = _outputs(args.out, args.folds, args.overwrite)
    if args.name is not None and not any(c.isalnum() for c in args.name):
        raise UsageError(f"--name {args.name!r} needs letters or digits")
    scans_dir = args.scans_dir.expanduser().resolve()
    scans = data.find_scans(scans_dir, args.template)
    bids_dir = (args.bids_dir or data.default_bids_dir(scans_dir)).expanduser().resolve()
    values = data.read_labels(bids_dir, args.label_column)
    scans, excluded = data.label_scans(
        scans, values, ad_labels=ad, hc_labels=hc, column=args.label_column
    )
    by_subject = {s.subject: s.label for s in scans}
    if args.folds is not None:
        splits = kfold_splits(
            by_subject, folds=args.folds, val_fraction=args.val_fraction, seed=args.seed
        )
    else:
        splits = [
            split_subjects(
                by_subject,
                val_fraction=args.val_fraction,
                test_fraction=args.test_fraction,
                seed=args.seed,
            )
        ]
    source = data.check_same_grid(scans)
    tpl = get_template(args.template)
    template_grid = Grid(tpl.shape(), tpl.affine())
    if not template_grid.same_as(source.shape, source.affine):
        logger.warning(
            "the scans' grid %s is not the %s template grid %s: the participant level feeds "
            "the network template-grid images, so its inputs may differ slightly",
            source.shape, args.template, template_grid.shape,
        )  # fmt: skip
    grid = data.network_grid(template_grid, args.grid_mm)
    params = _check_network(args, grid)
    init = _init_from(args, grid, params, splits) if args.init_from is not None else None
    registration = _registration(scans, args.registration)
    device = _device(args.device)
    recipe = Recipe(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup=args.warmup,
        decay_warmup=args.decay_warmup,
        label_smoothing=args.label_smoothing,
        patience=args.patience,
        min_epochs=args.min_epochs,
        augment=args.augment,
        flip_p=args.flip_probability,
        shift=tuple(args.shift) if args.shift else default_shift(args.grid_mm),
        pose_jitter=args.pose_jitter,
        intensity_jitter=args.intensity_jitter,
        select=args.select,
        monitor_from=args.monitor_from,
        seed=args.seed,
    )
    threads = args.threads or min(8, len(os.sched_getaffinity(0)))
    card_base = {
        "name": args.name or args.out.stem,
        "scans_dir": scans_dir,
        "bids_dir": bids_dir,
        "excluded": excluded,
        "generator": _generator(scans_dir),
    }
    return TrainingPlan(
        scans=scans,
        labels=np.array([s.label for s in scans], dtype=np.int64),
        grid=grid,
        params=params,
        splits=splits,
        outputs=outputs,
        recipe=recipe,
        device=device,
        threads=threads,
        registration=registration,
        flip_axis=int(np.argmax(np.abs(grid.affine[0, :3]))),
        card_base=card_base,
        init=init,
    )


def _generator(scans_dir: Path) -> str:
    generated = _read_json(scans_dir / "dataset_description.json").get("GeneratedBy") or [{}]
    first = generated[0] if isinstance(generated, list) and generated else {}
    return str(first.get("Name", "")) if isinstance(first, dict) else ""


def _training_text(args, plan: TrainingPlan, fingerprint: dict) -> str:
    if args.training_data:
        return args.training_data
    base = plan.card_base
    classes = fingerprint["classes"]
    kind = "simulated scans (bids_lrp-simulate)" if "simulate" in base["generator"] else "scans"
    return (
        f"{fingerprint['n_scans']} {kind} of {fingerprint['n_participants']} participants "
        f"({classes['AD']['participants']} AD, {classes['HC']['participants']} HC) from "
        f"{base['scans_dir']}; labels: {args.label_column!r} of {base['bids_dir']}/"
        f"participants.tsv"
    )


def _split_json(args, plan: TrainingPlan, split, fold: int | None) -> dict:
    sets = split.sets()
    out = {
        "unit": "participant (all sessions of a participant stay in one set)",
        "stratified_by": "class",
        "method": "holdout" if fold is None else "k-fold",
        "seed": args.seed,
        "val_fraction": args.val_fraction,
    }
    if fold is None:
        out["test_fraction"] = args.test_fraction
    else:
        out.update({"folds": args.folds, "fold": fold})
    members = {name: set(subjects) for name, subjects in sets.items()}
    out["sets"] = {name: [f"sub-{s}" for s in subjects] for name, subjects in sets.items()}
    out["n_scans"] = {
        name: sum(s.subject in chosen for s in plan.scans) for name, chosen in members.items()
    }
    return out


def _index(plan: TrainingPlan, subjects) -> np.ndarray:
    chosen = set(subjects)
    return np.array([i for i, s in enumerate(plan.scans) if s.subject in chosen], dtype=np.int64)


def _card(args, plan: TrainingPlan, weights: Path, fold, fingerprint, result, metrics, command):
    """The model card of one trained model (every field of `ModelCard`)."""
    from bids_lrp.model.card import ModelCard
    from bids_lrp.model.data import CLASS_NAMES
    from bids_lrp.model.outputs import side_files, software_versions

    grid = plan.grid
    name = plan.card_base["name"] + ("" if fold is None else f"-fold{fold}")
    n_parameters = sum(p.numel() for p in result.model.parameters())
    training = {
        **plan.recipe.to_json(),
        "shift_unit": "voxels of the network grid",
        "flip_axis": plan.flip_axis,
        "grid_mm": args.grid_mm,
        "early_stopping": "validation loss",
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "seconds": result.seconds,
        "seconds_per_epoch": round(result.seconds / max(1, result.epochs_run), 3),
        "device": plan.device,
        "threads": plan.threads,
        "n_parameters": n_parameters,
        "excluded_label_values": plan.card_base["excluded"],
        "init_from": None if plan.init is None else plan.init["record"],
        "history": side_files(weights)["history"].name,
        "working_directory": str(Path.cwd()),
    }
    return ModelCard(
        name=name,
        architecture=args.architecture,
        architecture_params=plan.params,
        input_shape=tuple(grid.shape),
        voxel_size=tuple(round(v, 6) for v in grid.voxel_size),
        affine=tuple(tuple(float(v) for v in row) for row in grid.affine),
        template=args.template,
        registration=plan.registration,
        intensity_scaling="minmax-in-brain-mask",
        class_names=CLASS_NAMES,
        input_resampling=args.input_resampling,
        training_data=_training_text(args, plan, fingerprint),
        intended_use=args.intended_use,
        training_fingerprint=fingerprint,
        split=_split_json(args, plan, plan.splits[(fold or 1) - 1], fold),
        metrics=metrics,
        training=training,
        software=software_versions(plan.device),
        command=command,
    )


def run_training(args, plan: TrainingPlan, *, command: str) -> None:
    """Load the scans once, train one model per split, write weights, card, history, curves.

    Every output is written into a staging folder beside ``--out`` and moved into place only
    when all are complete, so that a failure leaves none of them (and older ones untouched).

    Raises
    ------
    UsageError
        With code `EX_CANTCREAT` when the outputs cannot be written (a full disk).
    bids_lrp.model.data.TrainingDataError
        For a scan that cannot be read or is not a network input.
    """
    import torch
    from tqdm import tqdm

    from bids_lrp.model import build_model
    from bids_lrp.model.data import fingerprint, load_scans
    from bids_lrp.model.outputs import write_cv_summary
    from bids_lrp.outputs import StagedOutputs

    folder = plan.outputs[0].parent
    with _writing(folder):
        staged = StagedOutputs(folder)  # fails before hours of training, not after
    with staged:
        torch.set_num_threads(plan.threads)
        with tqdm(total=len(plan.scans), desc="loading", unit="scan", disable=None) as bar:
            images, digests = load_scans(
                plan.scans,
                plan.grid,
                threads=plan.threads,
                progress=lambda n: bar.update(1),
                resampling=args.input_resampling,
            )
        fp = fingerprint(plan.scans, column=args.label_column, digests=digests)

        def build() -> torch.nn.Module:
            model = build_model(args.architecture, input_shape=plan.grid.shape, **plan.params)
            if plan.init is not None:
                model.load_state_dict(plan.init["state"])
            return model

        tests = []
        for k, split in enumerate(plan.splits, start=1):
            fold = None if args.folds is None else k
            result, metrics = _train_split(args, plan, images, build, split, fold)
            tests.append(metrics["test"])
            weights = plan.outputs[k - 1]
            card = _card(args, plan, weights, fold, fp, result, metrics, command)
            with _writing(folder):
                _write_model(staged, result, card, weights)
        summary = args.out.with_name(f"{args.out.stem}_cv.tsv")
        with _writing(folder):
            if args.folds is not None:
                write_cv_summary(tests, staged.path(summary))
            staged.publish()
    for weights in plan.outputs:
        logger.info(
            "wrote %s (+ %s card, history, curves)", weights, weights.with_suffix(".json").name
        )
    if args.folds is not None:
        logger.info("cross-validation summary: %s", summary)


@contextmanager
def _writing(folder: Path) -> Iterator[None]:
    """Turn an OSError while writing the outputs (a full disk, a lost mount) into one line."""
    try:
        yield
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        raise UsageError(
            f"cannot write the outputs into {folder}: {reason}; nothing was written",
            EX_CANTCREAT,
        ) from None


def _write_model(staged, result, card, weights: Path) -> None:
    """Stage the weights, card, history and curves of one trained model."""
    from bids_lrp.model import save_checkpoint
    from bids_lrp.model.checkpoint import card_path
    from bids_lrp.model.outputs import side_files, training_curves, write_history

    files = side_files(weights)
    staged.path(card_path(weights))  # save_checkpoint writes it beside the weights
    save_checkpoint(result.model.cpu(), card, staged.path(weights))
    write_history(result.history, staged.path(files["history"]))
    curves = [staged.path(files["png"]), staged.path(files["svg"])]
    training_curves(result.history, curves, title=card.name)


def _train_split(args, plan: TrainingPlan, images, build, split, fold):
    """Train and evaluate one model; return the training result and the metrics per set."""
    from tqdm import tqdm

    from bids_lrp.model.train import evaluate, train_model

    sets = {name: _index(plan, subjects) for name, subjects in split.sets().items()}
    logger.info(
        "%straining on %d scans, validating on %d, testing on %d (%s grid %s)",
        "" if fold is None else f"fold {fold}/{args.folds}: ",
        len(sets["train"]), len(sets["validation"]), len(sets["test"]),
        f"{args.grid_mm:g} mm", "x".join(map(str, plan.grid.shape)),
    )  # fmt: skip
    n_batches = max(1, len(sets["train"]) // plan.recipe.batch_size)
    with tqdm(
        total=plan.recipe.epochs * n_batches, desc="training", unit="batch", disable=None
    ) as bar:
        result = train_model(
            build, images, plan.labels, sets["train"], sets["validation"], plan.recipe,
            device=plan.device, flip_axis=plan.flip_axis, on_batch=lambda: bar.update(1),
            on_epoch=lambda r: bar.set_postfix(
                loss=f"{r['train_loss']:.3f}", val=f"{r['val_loss']:.3f}"
            ),
        )  # fmt: skip
    metrics = {
        name: evaluate(result.model, images[index], plan.labels[index], device=plan.device)
        for name, index in sets.items()
    }
    for name, values in metrics.items():
        if values["n_scans"]:
            logger.info(
                "%s: balanced accuracy %.3f, ROC AUC %s, loss %.4f (%d scans)",
                name, values["balanced_accuracy"], _fmt(values["roc_auc"]),
                values["loss"], values["n_scans"],
            )  # fmt: skip
    for name, subjects in split.sets().items():
        metrics[name]["n_participants"] = len(subjects)
    return result, metrics


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
