"""The participant-level workflow: one sub-workflow per participant, one per T1w image."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from bids_lrp import __version__
from bids_lrp.config import Settings
from bids_lrp.inputs import T1wInput
from bids_lrp.workflows.explain import init_explain_wf
from bids_lrp.workflows.normalize import init_normalize_wf
from bids_lrp.workflows.outputs import init_outputs_wf


@dataclass(frozen=True)
class ModelInfo:
    """What the workflows need to know about the verified model."""

    path: str
    sha256: str
    name: str
    registration: str
    meta: Mapping[str, Any]


def image_wf_name(t1w: T1wInput) -> str:
    """Node-safe, unique workflow name of one image (``t1w_sub_01_ses_1_run_1_wf``)."""
    return "t1w_" + re.sub(r"[^A-Za-z0-9]", "_", t1w.prefix) + "_wf"


def init_bids_lrp_wf(
    *,
    settings: Settings,
    subjects: Mapping[str, Sequence[T1wInput]],
    model: ModelInfo,
    provenance: Mapping[str, Any],
) -> pe.Workflow:
    """Build the participant-level workflow (fMRIPrep-like: one branch per participant).

    Parameters
    ----------
    settings : Settings
        The run's settings.
    subjects : mapping
        Participant label -> its T1w images (`bids_lrp.inputs.collect_t1w`).
    model : ModelInfo
        The verified model.
    provenance : mapping
        ``template`` and ``atlases`` provenance for the sidecars.
    """
    name = f"bids_lrp_{__version__.replace('.', '_')}_wf"
    workflow = pe.Workflow(name=name, base_dir=str(settings.work_dir))
    for subject, images in subjects.items():
        if not images:
            raise ValueError(f"No T1w images found for participant {subject}")
        workflow.add_nodes(
            [
                init_single_subject_wf(
                    settings=settings,
                    subject=subject,
                    images=images,
                    model=model,
                    provenance=provenance,
                )
            ]
        )
    return workflow


def init_single_subject_wf(
    *,
    settings: Settings,
    subject: str,
    images: Sequence[T1wInput],
    model: ModelInfo,
    provenance: Mapping[str, Any],
    name: str | None = None,
) -> pe.Workflow:
    """All T1w images of one participant, each in its own branch (a bad image stops only its
    own branch)."""
    workflow = pe.Workflow(name=name or f"single_subject_{subject}_wf")
    for t1w in images:
        workflow.add_nodes(
            [init_t1w_wf(settings=settings, t1w=t1w, model=model, provenance=provenance)]
        )
    return workflow


def init_t1w_wf(
    *,
    settings: Settings,
    t1w: T1wInput,
    model: ModelInfo,
    provenance: Mapping[str, Any],
    name: str | None = None,
) -> pe.Workflow:
    """Normalize, classify, explain and write one T1w image.

    Inputs are fixed at build time (``t1w.path``); outputs are the derivatives on disk.
    """
    workflow = pe.Workflow(name=name or image_wf_name(t1w))
    inputnode = pe.Node(niu.IdentityInterface(fields=["t1w"]), name="inputnode")
    inputnode.inputs.t1w = str(t1w.path)
    registration = settings.registration or model.registration
    normalize_wf = init_normalize_wf(
        template=settings.template,
        registration=registration,
        omp_nthreads=settings.omp_nthreads,
    )
    explain_wf = init_explain_wf(
        model=model.path,
        model_sha256=model.sha256,
        methods=settings.methods,
        target_class=settings.target_class,
        atlases=settings.atlases,
        template=settings.template,
        device=settings.device,
        omp_nthreads=settings.omp_nthreads,
        native_space=settings.native_space,
    )
    relative = t1w.path.relative_to(settings.bids_dir).as_posix()
    outputs_wf = init_outputs_wf(
        output_dir=str(settings.output_dir),
        entities=dict(t1w.entities),
        template=settings.template,
        methods=settings.methods,
        model_meta=model.meta,
        template_meta={**provenance["template"], "Registration": registration},
        atlas_meta=provenance["atlases"],
        source=f"bids:raw:{relative}",
        native_space=settings.native_space,
    )
    workflow.connect(
        [
            (inputnode, normalize_wf, [("t1w", "inputnode.t1w")]),
            (
                normalize_wf,
                explain_wf,
                [
                    ("outputnode.preproc", "inputnode.preproc"),
                    ("outputnode.reference", "inputnode.reference"),
                    ("outputnode.inverse_transforms", "inputnode.inverse_transforms"),
                ],
            ),
            (
                normalize_wf,
                outputs_wf,
                [
                    ("outputnode.preproc", "inputnode.preproc"),
                    ("outputnode.metadata", "inputnode.preproc_meta"),
                    ("outputnode.forward_transforms", "inputnode.forward_transforms"),
                    ("outputnode.inverse_transforms", "inputnode.inverse_transforms"),
                ],
            ),
            (
                explain_wf,
                outputs_wf,
                [
                    ("outputnode.relevance", "inputnode.relevance"),
                    ("outputnode.metadata", "inputnode.metadata"),
                    ("outputnode.native_relevance", "inputnode.native_relevance"),
                    ("outputnode.predictions", "inputnode.predictions"),
                    ("outputnode.tables", "inputnode.tables"),
                    ("outputnode.table_atlas", "inputnode.table_atlas"),
                    ("outputnode.table_desc", "inputnode.table_desc"),
                    ("outputnode.done", "inputnode.done"),
                ],
            ),
        ]
    )
    return workflow
