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
from bids_lrp.grid import Grid
from bids_lrp.inputs import T1wInput
from bids_lrp.normalize.reuse import Precomputed, find_precomputed, read_derivatives
from bids_lrp.workflows.derivatives import init_derivatives_wf
from bids_lrp.workflows.model import init_model_node
from bids_lrp.workflows.normalize import init_normalize_wf
from bids_lrp.workflows.tables import init_tables_wf


@dataclass(frozen=True)
class ModelInfo:
    """What the workflows need to know about the verified model."""

    path: str
    sha256: str
    name: str
    registration: str
    meta: Mapping[str, Any]
    #: The card's input grid (None: the template grid), intensity scaling and resampling.
    grid: Grid | None = None
    scaling: str = "minmax-in-brain-mask"
    resampling: str = "linear"


#: Workflow-name prefixes of an image's two branches (before and after the model node).
IMAGE_WF_KINDS = ("t1w", "post")
_IMAGE_WF = re.compile(r"^(?:t1w|post)_(?P<image>\w+)_wf$")


#: What an image's normalization hands on to its later steps (`init_t1w_wf` -> `init_post_wf`).
NORMALIZED = (
    "preproc",
    "metadata",
    "reference",
    "forward_transforms",
    "inverse_transforms",
    "volume_ratio",
)


def image_wf_name(t1w: T1wInput, kind: str = "t1w") -> str:
    """Node-safe, unique workflow name of one image (``t1w_sub_01_ses_1_run_1_wf``)."""
    if kind not in IMAGE_WF_KINDS:
        raise ValueError(f"kind must be one of {IMAGE_WF_KINDS}, got {kind!r}")
    return f"{kind}_" + re.sub(r"[^A-Za-z0-9]", "_", t1w.prefix) + "_wf"


def image_of(fullname: str) -> str | None:
    """The image part (``sub_01_ses_1``) of a node's full name, if it is in an image branch."""
    for part in fullname.split("."):
        match = _IMAGE_WF.match(part)
        if match:
            return match["image"]
    return None


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
    """All T1w images of one participant.

    Each image is normalized in its own branch; the model node then loads the network once and
    classifies and explains the participant's images in batches; region tables, native-space
    maps and the outputs are per image again. A bad image stops its own branch and, through
    the shared model node, its participant's later steps: `run_participant_level` then runs
    again without the failed images (finished steps are reused).
    """
    workflow = pe.Workflow(name=name or f"single_subject_{subject}_wf")
    merge = pe.Node(niu.Merge(len(images)), name="merge_preproc", run_without_submitting=True)
    explain = init_model_node(
        model=model.path,
        model_sha256=model.sha256,
        methods=settings.methods,
        target_class=settings.target_class,
        method_targets=settings.method_targets,
        n_images=len(images),
        device=settings.device,
        omp_nthreads=settings.omp_nthreads,
        template=settings.template,
        atlas=settings.atlases[0],
        faithfulness_steps=settings.faithfulness_steps,
        randomization=settings.randomization_layers if settings.randomization_check else "",
    )
    workflow.connect(merge, "out", explain, "in_files")
    registration = settings.registration or model.registration
    sources = read_derivatives(settings.derivatives)
    for index, t1w in enumerate(images):
        precomputed = find_precomputed(sources, t1w.entities, settings.template)
        t1w_wf = init_t1w_wf(
            settings=settings,
            t1w=t1w,
            registration=registration,
            precomputed=precomputed,
            model=model,
        )
        done_by = registration if precomputed is None else precomputed.describe()
        post_wf = init_post_wf(
            settings=settings,
            t1w=t1w,
            index=index,
            model=model,
            template_meta={**provenance["template"], "Registration": done_by},
            atlas_meta=provenance["atlases"],
            precomputed=precomputed,
        )
        normalized = [f"outputnode.{field}" for field in NORMALIZED]
        workflow.connect(
            [
                (t1w_wf, merge, [("outputnode.preproc", f"in{index + 1}")]),
                (t1w_wf, post_wf, [(f, f.replace("outputnode", "inputnode")) for f in normalized]),
                (
                    explain,
                    post_wf,
                    [
                        ("relevance", "inputnode.relevance"),
                        ("predictions", "inputnode.predictions"),
                        ("metadata", "inputnode.explain_meta"),
                        ("faithfulness", "inputnode.faithfulness"),
                    ],
                ),
            ]
        )
    return workflow


def init_t1w_wf(
    *,
    settings: Settings,
    t1w: T1wInput,
    registration: str,
    precomputed: Precomputed | None = None,
    model: ModelInfo | None = None,
    name: str | None = None,
) -> pe.Workflow:
    """Normalize one T1w image (`init_normalize_wf`; inputs fixed at build time), scaled as
    ``model``'s card says (default: the paper's scaling on the template grid)."""
    workflow = pe.Workflow(name=name or image_wf_name(t1w))
    inputnode = pe.Node(niu.IdentityInterface(fields=["t1w"]), name="inputnode")
    inputnode.inputs.t1w = str(t1w.path)
    fields = list(NORMALIZED)
    outputnode = pe.Node(niu.IdentityInterface(fields=fields), name="outputnode")
    normalize_wf = init_normalize_wf(
        template=settings.template,
        registration=registration,
        omp_nthreads=settings.omp_nthreads,
        estimate_volumes=settings.estimate_volumes,
        precomputed=precomputed,
        scaling="minmax-in-brain-mask" if model is None else model.scaling,
        grid=None if model is None else model.grid,
        resampling="linear" if model is None else model.resampling,
    )
    workflow.connect(
        [
            (inputnode, normalize_wf, [("t1w", "inputnode.t1w")]),
            (normalize_wf, outputnode, [(f"outputnode.{f}", f) for f in fields]),
        ]
    )
    return workflow


def init_post_wf(
    *,
    settings: Settings,
    t1w: T1wInput,
    index: int,
    model: ModelInfo,
    template_meta: Mapping[str, Any],
    atlas_meta: Mapping[str, Any],
    precomputed: Precomputed | None = None,
    name: str | None = None,
) -> pe.Workflow:
    """One image after the participant's model node: region tables, native maps, outputs.

    ``index`` picks this image's share of the model node's outputs; outputs are the
    derivatives on disk.
    """
    workflow = pe.Workflow(name=name or image_wf_name(t1w, "post"))
    fields = ["relevance", "predictions", "explain_meta", "faithfulness", *NORMALIZED]
    inputnode = pe.Node(niu.IdentityInterface(fields=fields), name="inputnode")
    tables_wf = init_tables_wf(
        index=index,
        atlases=settings.atlases,
        template=settings.template,
        native_space=settings.native_space,
    )
    relative = t1w.path.relative_to(settings.bids_dir).as_posix()
    derivatives_wf = init_derivatives_wf(
        output_dir=str(settings.output_dir),
        entities=dict(t1w.entities),
        template=settings.template,
        methods=settings.methods,
        model_meta=model.meta,
        template_meta=template_meta,
        atlas_meta=atlas_meta,
        source=f"bids:raw:{relative}",
        native_space=settings.native_space,
        faithfulness=settings.atlases[0] if settings.faithfulness_steps > 0 else None,
        precomputed=precomputed,
    )
    workflow.connect(
        [
            (
                inputnode,
                tables_wf,
                [
                    ("relevance", "inputnode.relevance"),
                    ("predictions", "inputnode.predictions"),
                    ("explain_meta", "inputnode.metadata"),
                    ("faithfulness", "inputnode.faithfulness"),
                    ("reference", "inputnode.reference"),
                    ("inverse_transforms", "inputnode.inverse_transforms"),
                    ("volume_ratio", "inputnode.volume_ratio"),
                ],
            ),
            (
                inputnode,
                derivatives_wf,
                [
                    ("preproc", "inputnode.preproc"),
                    ("metadata", "inputnode.preproc_meta"),
                    ("forward_transforms", "inputnode.forward_transforms"),
                    ("inverse_transforms", "inputnode.inverse_transforms"),
                ],
            ),
            (
                tables_wf,
                derivatives_wf,
                [
                    ("outputnode.relevance", "inputnode.relevance"),
                    ("outputnode.metadata", "inputnode.metadata"),
                    ("outputnode.native_relevance", "inputnode.native_relevance"),
                    ("outputnode.faithfulness", "inputnode.faithfulness"),
                    ("outputnode.predictions", "inputnode.predictions"),
                    ("outputnode.tables", "inputnode.tables"),
                    ("outputnode.table_atlas", "inputnode.table_atlas"),
                    ("outputnode.table_desc", "inputnode.table_desc"),
                    ("outputnode.table_meta", "inputnode.table_meta"),
                    ("outputnode.done", "inputnode.done"),
                ],
            ),
        ]
    )
    return workflow
