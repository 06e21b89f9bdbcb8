"""Classification, explanation, region tables and the native-space maps of one image."""

from __future__ import annotations

from collections.abc import Sequence

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from bids_lrp.interfaces.explain import ExplainImage, RegionTables
from bids_lrp.interfaces.normalize import RelevanceToNative


def init_explain_wf(
    *,
    model: str,
    model_sha256: str,
    methods: Sequence[str],
    target_class: str,
    atlases: Sequence[str],
    template: str,
    device: str = "cpu",
    omp_nthreads: int = 1,
    native_space: bool = True,
    name: str = "explain_wf",
) -> pe.Workflow:
    """Explain the network's decision for one preprocessed image.

    The network sees the grid of its model card: the template-space image is resampled to it
    when the grids differ and the relevance is mapped back onto the template grid keeping its
    sum. Relevance is summarized per atlas region and (optionally) warped back onto the
    participant's own T1w grid.

    Parameters
    ----------
    model, model_sha256 : str
        Checkpoint (``.safetensors`` with its card) and its verified checksum.
    methods : sequence of str
        Explanation methods (`bids_lrp.lrp.METHODS`).
    target_class : str
        The explained class (a class name of the model card).
    atlases : sequence of str
        Atlases for the region tables (`bids_lrp.templates.ATLASES`).
    template : str
        Template of the preprocessed image.
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    omp_nthreads : int
        Torch CPU threads.
    native_space : bool
        Also map relevance onto the native T1w grid.
    name : str
        Workflow name.

    Inputs
    ------
    preproc, reference, inverse_transforms
        From `init_normalize_wf`.

    Outputs
    -------
    relevance, metadata
        Template-space relevance maps and their sidecar content, one per method.
    predictions
        Predictions TSV.
    tables, table_atlas, table_desc
        Region tables with their atlas and method labels.
    native_relevance
        Relevance maps on the native grid (empty list unless ``native_space``).
    done
        Set when every step of the image has finished (gates the output writing).
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(
        niu.IdentityInterface(fields=["preproc", "reference", "inverse_transforms"]),
        name="inputnode",
    )
    outputnode = pe.Node(
        niu.IdentityInterface(
            fields=[
                "relevance",
                "metadata",
                "predictions",
                "tables",
                "table_atlas",
                "table_desc",
                "native_relevance",
                "done",
            ]
        ),
        name="outputnode",
    )
    explain = pe.Node(
        ExplainImage(
            model_path=model,
            model_sha256=model_sha256,
            methods=list(methods),
            target_class=target_class,
            device=device,
            threads=omp_nthreads,
        ),
        name="explain",
        n_procs=omp_nthreads,
        mem_gb=2.0,
    )
    regions = pe.Node(RegionTables(atlases=list(atlases), template=template), name="regions")
    done = pe.Node(niu.Merge(2), name="done")
    workflow.connect(
        [
            (inputnode, explain, [("preproc", "in_file")]),
            (explain, regions, [("relevance", "relevance")]),
            (
                explain,
                outputnode,
                [
                    ("relevance", "relevance"),
                    ("metadata", "metadata"),
                    ("predictions", "predictions"),
                ],
            ),
            (
                regions,
                outputnode,
                [("tables", "tables"), ("atlas", "table_atlas"), ("desc", "table_desc")],
            ),
            (regions, done, [("tables", "in1")]),
            (done, outputnode, [("out", "done")]),
        ]
    )
    if native_space:
        native = pe.Node(RelevanceToNative(), name="native", mem_gb=2.0)
        workflow.connect(
            [
                (
                    inputnode,
                    native,
                    [("reference", "reference"), ("inverse_transforms", "inverse_transforms")],
                ),
                (explain, native, [("relevance", "relevance")]),
                (native, outputnode, [("out_file", "native_relevance")]),
                (native, done, [("out_file", "in2")]),
            ]
        )
    else:
        outputnode.inputs.native_relevance = []
        done.inputs.in2 = []
    return workflow
