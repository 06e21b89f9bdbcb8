"""Running the participant level: checks, provenance files, the nipype run and its summary."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bids_lrp.config import Settings
from bids_lrp.inputs import (
    EX_FAILED,
    EX_USAGE,
    InputError,
    check_output_dirs,
    collect_t1w,
    validate_bids,
)

logger = logging.getLogger("bids_lrp")

#: Intensity scalings this app's preprocessing produces (model cards must name one).
SUPPORTED_SCALINGS = ("minmax-in-brain-mask",)


def verify_model(settings: Settings):
    """Load the checkpoint once (checksum, card, weights) and check it fits this run."""
    from bids_lrp.model.checkpoint import (
        CheckpointError,
        check_card_compatible,
        load_checkpoint,
        read_card,
        sha256_file,
    )
    from bids_lrp.workflows.base import ModelInfo

    try:
        card, recorded = read_card(settings.model)
        load_checkpoint(settings.model, device="cpu")  # verifies the checksum and the weights
        check_card_compatible(card, template=settings.template, registration=settings.registration)
    except CheckpointError as err:
        raise InputError(str(err), EX_USAGE) from None
    if card.intensity_scaling not in SUPPORTED_SCALINGS:
        raise InputError(
            f"model {card.name!r} expects intensity scaling {card.intensity_scaling!r}; this "
            f"app produces {', '.join(SUPPORTED_SCALINGS)}"
        )
    if settings.target_class not in card.class_names:
        raise InputError(
            f"--target-class {settings.target_class!r} is not a class of model {card.name!r} "
            f"({', '.join(card.class_names)})"
        )
    sha = recorded or sha256_file(settings.model)
    meta = {
        "Name": card.name,
        "Architecture": card.architecture,
        "SHA256": sha,
        "ClassNames": list(card.class_names),
        "InputShape": list(card.input_shape),
        "VoxelSize": list(card.voxel_size),
        "IntensityScaling": card.intensity_scaling,
        "TrainingRegistration": card.registration,
    }
    return ModelInfo(str(settings.model), sha, card.name, card.registration, meta), card


def provenance(template: str, atlases: tuple[str, ...]) -> dict[str, Any]:
    """Where the template and each atlas came from (TemplateFlow or the bundled files)."""
    from bids_lrp.templates import get_atlas, get_template

    tpl = get_template(template)
    return {
        "template": {"Name": template, "Source": tpl.source, "File": tpl.t1w.name},
        "atlases": {name: get_atlas(name, template).source for name in atlases},
    }


def _configure_nipype(settings: Settings, crash_dir: Path) -> dict[str, Any]:
    from nipype import config
    from nipype import logging as nlogging

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
    return {
        "crashdump_dir": str(crash_dir),
        "crashfile_format": "txt",
        "stop_on_first_crash": settings.stop_on_first_crash,
        "remove_unnecessary_outputs": False,
        "parameterize_dirs": False,
        "poll_sleep_duration": 0.5,
    }


class _Progress:
    """Nipype status callback: one terminal line per finished or failed step."""

    STEPS = ("validate", "n4", "register", "explain", "regions", "native", "ds_regions")

    def __init__(self, n_images: int) -> None:
        self.n_images, self.done, self.failed = n_images, 0, {}
        self.start = time.monotonic()

    def __call__(self, node, status: str) -> None:
        image = next((p for p in node.fullname.split(".") if p.startswith("t1w_")), "?")
        if status == "exception":
            self.failed.setdefault(image, node.name)
            logger.error("%s: step %s failed", image[4:-3], node.name)
        elif status == "end" and node.name in self.STEPS:
            if node.name == "ds_regions":
                self.done += 1
                step = f"outputs written ({self.done}/{self.n_images} images)"
            else:
                step = f"{node.name} done"
            elapsed = time.monotonic() - self.start
            logger.info("[%5.0fs] %s: %s", elapsed, image[4:-3], step)


def _crash_messages(crash_dir: Path) -> dict[str, str]:
    """Image workflow name -> the last line (the error) of its crash file."""
    messages = {}
    for crash in sorted(crash_dir.glob("crash-*.txt")):
        text = crash.read_text(errors="replace")
        node = re.search(r"^Node: (\S+)", text, flags=re.MULTILINE)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        error = lines[-1] if lines else "unknown error"
        error = re.sub(r"^[\w.]+(Error|Exception|Interrupt): ", "", error)
        image = "?"
        if node:
            image = next((p for p in node[1].split(".") if p.startswith("t1w_")), node[1])
        messages.setdefault(image, f"{error} (details: {crash})")
    return messages


def run_participant_level(settings: Settings) -> int:
    """Check everything, write the dataset files, run the workflow; return the exit code."""
    from bids_lrp.outputs import write_citation, write_dataset_files
    from bids_lrp.workflows.base import init_bids_lrp_wf

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
    write_dataset_files(settings.output_dir, settings.bids_dir)
    settings.save()
    write_citation(
        settings.output_dir,
        template=settings.template,
        registration=registration,
        target=settings.target_class,
        methods=list(settings.methods),
        atlases=list(settings.atlases),
    )
    crash_dir = settings.work_dir / "crash" / settings.run_uuid
    workflow = init_bids_lrp_wf(
        settings=settings,
        subjects=subjects,
        model=model,
        provenance=provenance(settings.template, settings.atlases),
    )
    workflow.config["execution"] = _configure_nipype(settings, crash_dir)
    progress = _Progress(n_images)
    plugin_args: Mapping[str, Any] = {**settings.plugin_args, "status_callback": progress}
    try:
        workflow.run(plugin=settings.plugin, plugin_args=dict(plugin_args))
    except Exception as err:  # nipype raises RuntimeError when any node failed
        logger.debug("workflow error: %s", err)
        failed = _crash_messages(crash_dir) if crash_dir.is_dir() else {}
        for image, message in failed.items():
            logger.error("%s failed: %s", image[4:-3], message)
        if not failed:
            first = str(err).strip().splitlines() or [type(err).__name__]
            logger.error("the workflow failed: %s", first[-1])
        n_failed = len(failed) or 1
        logger.error(
            "%d of %d image(s) failed; rerun with the same work folder (-w %s) to resume",
            n_failed,
            n_images,
            settings.work_dir,
        )
        return EX_FAILED
    logger.info("done: %d image(s) written to %s", n_images, settings.output_dir)
    return 0
