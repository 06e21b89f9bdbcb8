"""Running the participant level: checks, provenance files, the nipype run and its summary."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from nipype import config
from nipype import logging as nlogging

from bids_lrp.config import CLUSTER_PLUGINS, PREDICTED, Settings
from bids_lrp.dataset import write_citation, write_dataset_files
from bids_lrp.exitcodes import EX_FAILED, EX_NOINPUT, EX_USAGE
from bids_lrp.grid import Grid
from bids_lrp.inputs import (
    InputError,
    check_output_dirs,
    collect_t1w,
    create_output_dirs,
    validate_bids,
)
from bids_lrp.model.checkpoint import (
    CheckpointError,
    check_card_compatible,
    load_checkpoint,
    sha256_file,
)
from bids_lrp.normalize.intensity import SCALINGS
from bids_lrp.process.signals import start_fork_server
from bids_lrp.reports import write_participant_report
from bids_lrp.safewrite import remove_stale_temporaries
from bids_lrp.templates import get_atlas, get_template
from bids_lrp.workflows.base import ModelInfo, image_of, image_wf_name, init_bids_lrp_wf

logger = logging.getLogger("bids_lrp")

#: Intensity scalings this app's preprocessing produces (model cards must name one).
SUPPORTED_SCALINGS = tuple(SCALINGS)


def verify_model(settings: Settings):
    """Load the checkpoint once (checksum, card, weights) and check it fits this run."""
    try:
        # reads the card once, verifies the recorded checksum and the weights
        _, card = load_checkpoint(settings.model, device="cpu")
        warnings = check_card_compatible(
            card, template=settings.template, registration=settings.registration
        )
    except CheckpointError as err:
        raise InputError(str(err), EX_USAGE) from None
    _check_device(settings)
    try:
        get_template(settings.template)
    except (FileNotFoundError, ValueError) as err:
        raise InputError(str(err), EX_NOINPUT) from None
    if card.intensity_scaling not in SUPPORTED_SCALINGS:
        raise InputError(
            f"model {card.name!r} expects intensity scaling {card.intensity_scaling!r}; this "
            f"app produces {', '.join(SUPPORTED_SCALINGS)}"
        )
    for flag, value in (
        ("--target-class", settings.target_class),
        ("--guided-backprop-target", settings.guided_backprop_target),
    ):
        if value != PREDICTED and value not in card.class_names:
            raise InputError(
                f"{flag} {value!r} is not a class of model {card.name!r} "
                f"({', '.join(card.class_names)}) nor {PREDICTED!r}"
            )
    for warning in warnings:
        logger.warning("warning: %s", warning)
    sha = sha256_file(settings.model)  # the card's, if it has one: load_checkpoint checked
    meta = {
        "Name": card.name,
        "Architecture": card.architecture,
        "SHA256": sha,
        "ClassNames": list(card.class_names),
        "InputShape": list(card.input_shape),
        "VoxelSize": list(card.voxel_size),
        "IntensityScaling": card.intensity_scaling,
        "InputResampling": card.input_resampling,
        "TrainingRegistration": card.registration,
        "TrainingData": card.training_data,
        "IntendedUse": card.intended_use,
    }
    info = ModelInfo(
        str(settings.model),
        sha,
        card.name,
        card.registration,
        meta,
        grid=Grid.of_card(card),
        scaling=card.intensity_scaling,
        resampling=card.input_resampling,
    )
    return info, card


def _check_device(settings: Settings) -> None:
    """``--device cuda`` needs a GPU here, unless a batch system runs the steps elsewhere."""
    if settings.device != "cuda" or settings.plugin in CLUSTER_PLUGINS:
        return

    if not torch.cuda.is_available():
        why = "built without CUDA" if torch.version.cuda is None else "no GPU is visible"
        raise InputError(
            f"--device cuda: no usable CUDA GPU on this machine (torch {torch.__version__}, "
            f"{why}); use --device cpu or auto"
        )


def provenance(template: str, atlases: tuple[str, ...]) -> dict[str, Any]:
    """Where the template and each atlas came from (TemplateFlow or the bundled files)."""
    tpl = get_template(template)
    return {
        "template": {"Name": template, "Source": tpl.source, "File": tpl.t1w.name},
        "atlases": {name: get_atlas(name, template).source for name in atlases},
    }


def _configure_nipype(settings: Settings, crash_dir: Path) -> dict[str, Any]:
    level = "INFO" if settings.verbosity > 0 else "CRITICAL"
    config.update_config(
        {
            "logging": {
                "workflow_level": level,
                "interface_level": level,
                "utils_level": level,
                "log_to_file": False,
            },
            "execution": {"check_version": False},
            "monitoring": {"enabled": False},
        }
    )
    nlogging.update_logging(config)
    # MultiProc workers start from a fork server and read nipype's configuration afresh: give
    # them the same logging levels through a nipype.cfg (NIPYPE_CONFIG_DIR is inherited).
    cfg_dir = settings.work_dir / "nipype_config"
    cfg_dir.mkdir(parents=True, exist_ok=True)
    (cfg_dir / "nipype.cfg").write_text(
        "[logging]\n"
        f"workflow_level = {level}\ninterface_level = {level}\nutils_level = {level}\n"
        "log_to_file = false\n\n[execution]\ncheck_version = false\n\n"
        "[monitoring]\nenabled = false\n"
    )
    os.environ["NIPYPE_CONFIG_DIR"] = str(cfg_dir)
    # ITK reads its thread count once per process, at its first use: set before the workers
    # (and this process) use it, N4 in every worker runs with --omp-nthreads threads.
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(settings.omp_nthreads)
    return {
        "crashdump_dir": str(crash_dir),
        "crashfile_format": "txt",
        "stop_on_first_crash": settings.stop_on_first_crash,
        "remove_unnecessary_outputs": False,
        "parameterize_dirs": False,
        "poll_sleep_duration": 0.5,
    }


def _where(fullname: str) -> str:
    """``sub_01_ses_1`` for a node of an image branch, ``sub-01`` for a participant's node."""
    image = image_of(fullname)
    if image is not None:
        return image
    part = next((p for p in fullname.split(".") if p.startswith("single_subject_")), fullname)
    return "sub-" + part.removeprefix("single_subject_").removesuffix("_wf")


def shown(where: str) -> str:
    """An image key as BIDS writes it: ``sub_01_ses_1`` -> ``sub-01_ses-1`` (labels are
    alphanumeric, so the underscores alternate between entity and label)."""
    if not where.startswith("sub_"):
        return where
    parts = where.split("_")
    if len(parts) % 2:
        return where
    return "_".join(f"{k}-{v}" for k, v in zip(parts[::2], parts[1::2], strict=True))


class _Progress:
    """Nipype status callback: one terminal line per finished or failed step."""

    #: ``collect_outputs`` merges what every writer of an image wrote: it runs only when all
    #: of them succeeded (a full disk fails one, and the image must not count as written).
    STEPS = (
        "validate",
        "n4",
        "register",
        "register_volumes",
        "volume_ratio",
        "explain",
        "regions",
        "native",
        "collect_outputs",
    )

    def __init__(self, n_images: int) -> None:
        self.n_images, self.done = n_images, 0
        self.start = time.monotonic()

    def __call__(self, node, status: str) -> None:
        where = shown(_where(node.fullname))
        if status == "exception":
            logger.error("%s: step %s failed", where, node.name)
        elif status == "end" and node.name in self.STEPS:
            if node.name == "collect_outputs":
                self.done += 1
                step = f"outputs written ({self.done}/{self.n_images} images)"
            elif node.name == "explain":
                step = "classified and explained"
            else:
                step = f"{node.name} done"
            elapsed = time.monotonic() - self.start
            logger.info("[%5.0fs] %s: %s", elapsed, where, step)


def _crash_messages(crash_dir: Path) -> dict[str, str]:
    """Image (``sub_01``) or participant (``sub-01``) -> the error of its first crash file."""
    messages = {}
    for crash in sorted(crash_dir.glob("crash-*.txt")):
        text = crash.read_text(errors="replace")
        node = re.search(r"^Node: (\S+)", text, flags=re.MULTILINE)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        error = lines[-1] if lines else "unknown error"
        error = re.sub(r"^[\w.]+(Error|Exception|Interrupt): ", "", error)
        where = _where(node[1]) if node else "?"
        messages.setdefault(where, f"{error} (details: {crash})")
    return messages


def _image_key(t1w) -> str:
    return image_of(image_wf_name(t1w))


def _without(subjects: Mapping[str, list], failed: Mapping[str, str]) -> dict[str, list]:
    """The selection without the failed images (and without participants left with none)."""
    kept = {s: [t for t in ts if _image_key(t) not in failed] for s, ts in subjects.items()}
    return {s: ts for s, ts in kept.items() if ts}


def _run_workflows(settings: Settings, subjects, model, prov, crash_dir: Path) -> dict[str, str]:
    """Run the workflow; when images fail, once more without them (finished steps are reused).

    A failed image stops its participant's shared model node; the second run gives the
    participant's other images their outputs. Returns image or participant -> error.
    """
    failed: dict[str, str] = {}
    for attempt in (1, 2):
        workflow = init_bids_lrp_wf(
            settings=settings, subjects=subjects, model=model, provenance=prov
        )
        workflow.config["execution"] = _configure_nipype(settings, crash_dir)
        if settings.plugin_args.get("mp_context") == "forkserver":
            # Workers then ignore Ctrl-C (the main process stops them); started after
            # _configure_nipype, as they inherit the fork server's environment.
            start_fork_server()
        n_images = sum(len(v) for v in subjects.values())
        plugin_args = {**settings.plugin_args, "status_callback": _Progress(n_images)}
        try:
            workflow.run(plugin=settings.plugin, plugin_args=plugin_args)
            return failed
        except Exception as err:  # nipype raises RuntimeError when any node failed
            logger.debug("workflow error: %s", err)
            new = _crash_messages(crash_dir) if crash_dir.is_dir() else {}
            if not new:
                first = str(err).strip().splitlines() or [type(err).__name__]
                new = {"workflow": first[-1]}
            failed.update({k: v for k, v in new.items() if k not in failed})
        remaining = _without(subjects, failed)
        if attempt == 2 or remaining == subjects or settings.stop_on_first_crash:
            break
        if not remaining:
            break
        logger.info("running again without the failed image(s)")
        subjects = remaining
    return failed


def write_reports(
    output_dir: Path, subjects: Mapping[str, list], bids_dir: Path, native_space: bool = True
) -> None:
    """One HTML report per participant with outputs (``<out>/sub-<label>.html``).

    A report that cannot be made is a warning, not a failed run: the derivatives are complete.
    """
    logged: set = set()  # a warning about the model is logged once, not per report
    for subject in subjects:
        if not (output_dir / f"sub-{subject}").is_dir():
            continue  # every image of the participant failed: nothing to report on
        try:
            path = write_participant_report(
                output_dir, subject, bids_dir=bids_dir, native_space=native_space, logged=logged
            )
        except Exception as err:  # a report problem must not fail the run
            logger.warning("the report of sub-%s could not be written: %s", subject, err)
        else:
            logger.info("report: %s", path)


def run_participant_level(settings: Settings) -> int:
    """Check everything, write the dataset files, run the workflow; return the exit code."""
    # Folders that put data at risk are refused before anything runs; they are created only
    # once the input and the model are known to be fine, so a mistake leaves no empty folder.
    check_output_dirs(settings.bids_dir, settings.output_dir, settings.work_dir)
    if not settings.skip_bids_validation:
        validate_bids(settings.bids_dir)
    subjects = collect_t1w(
        settings.bids_dir,
        settings.participant_label,
        settings.session_label,
        settings.bids_filters,
    )
    model, card = verify_model(settings)
    n_images = sum(len(v) for v in subjects.values())
    registration = settings.registration or card.registration
    logger.info(
        "%d T1w image(s) of %d participant(s); model %s; %s registration to %s",
        n_images,
        len(subjects),
        card.name,
        registration,
        settings.template,
    )
    create_output_dirs(settings.output_dir, settings.work_dir)
    write_dataset_files(settings.output_dir, settings.bids_dir)
    settings.save()
    write_citation(
        settings.output_dir,
        template=settings.template,
        registration=registration,
        targets={m: settings.target_of(m) for m in settings.methods},
        atlases=list(settings.atlases),
    )
    for subject in subjects:  # a killed run's half-written files (its outputs are redone)
        for path in remove_stale_temporaries(settings.output_dir / f"sub-{subject}"):
            logger.info("removed %s, left half-written by an interrupted run", path)
    crash_dir = settings.work_dir / "crash" / settings.run_uuid
    prov = provenance(settings.template, settings.atlases)
    failed = _run_workflows(settings, subjects, model, prov, crash_dir)
    write_reports(settings.output_dir, subjects, settings.bids_dir, settings.native_space)
    if not failed:
        logger.info("done: %d image(s) written to %s", n_images, settings.output_dir)
        return 0
    keys = {_image_key(t): subject for subject, ts in subjects.items() for t in ts}
    n_failed = 0
    for key, subject in keys.items():
        if key in failed:
            logger.error("%s failed: %s", shown(key), failed[key])
            n_failed += 1
        elif f"sub-{subject}" in failed:
            logger.error("%s failed: %s", shown(key), failed[f"sub-{subject}"])
            n_failed += 1
    for key, message in failed.items():
        if key not in keys and key.removeprefix("sub-") not in subjects:
            logger.error("the workflow failed: %s", message)
    logger.error(
        "%d of %d image(s) failed; rerun with the same work folder (-w %s) to resume",
        max(n_failed, 1),
        n_images,
        settings.work_dir,
    )
    return EX_FAILED
