"""Per image, from the participant's model node: region tables and native-space maps."""

from __future__ import annotations

from collections.abc import Sequence

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from bids_lrp.interfaces.explain import SelectImage
from bids_lrp.interfaces.normalize import RelevanceToNative
from bids_lrp.interfaces.regions import RegionTables

__all__ = ["init_tables_wf"]


def init_tables_wf(
    *,
    index: int,
    atlases: Sequence[str],
    template: str,
    native_space: bool = True,
    name: str = "tables_wf",
) -> pe.Workflow:
    """Region tables and native-space maps of one image, from the participant's model node.

    The network saw the grid of its model card (`init_model_node` resampled the template-space
    image to it and mapped the relevance back onto the template grid keeping its sum). Here the
    relevance is summarized per atlas region and (optionally) warped back onto the
    participant's own T1w grid.

    Parameters
    ----------
    index : int
        Position of this image in the model node's inputs.
    atlases : sequence of str
        Atlases for the region tables (`bids_lrp.templates.ATLASES`).
    template : str
        Template of the preprocessed image.
    native_space : bool
        Also map relevance onto the native T1w grid.
    name : str
        Workflow name.

    Inputs
    ------
    relevance, predictions, metadata, faithfulness
        The model node's outputs (every image of the participant).
    reference, inverse_transforms, volume_ratio
        From `init_normalize_wf` (``volume_ratio`` ``""`` without a volume estimate).

    Outputs
    -------
    relevance, metadata
        Template-space relevance maps and their sidecar content, one per method.
    predictions
        Predictions TSV.
    tables, table_atlas, table_desc, table_meta
        Region tables with their atlas and method labels and sidecar content.
    native_relevance
        Relevance maps on the native grid (empty list unless ``native_space``).
    faithfulness
        The perturbation curves' TSV (empty list when faithfulness is not measured).
    done
        Set when every step of the image has finished (gates the output writing).
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(
        niu.IdentityInterface(
            fields=[
                "relevance",
                "predictions",
                "metadata",
                "faithfulness",
                "reference",
                "inverse_transforms",
                "volume_ratio",
            ]
        ),
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
                "table_meta",
                "native_relevance",
                "faithfulness",
                "done",
            ]
        ),
        name="outputnode",
    )
    select = pe.Node(SelectImage(index=index), name="select", run_without_submitting=True)
    regions = pe.Node(RegionTables(atlases=list(atlases), template=template), name="regions")
    done = pe.Node(niu.Merge(2), name="done")
    workflow.connect(
        [
            (
                inputnode,
                select,
                [(f, f) for f in ("relevance", "predictions", "metadata", "faithfulness")],
            ),
            (select, regions, [("relevance", "relevance"), ("metadata", "metadata")]),
            (inputnode, regions, [("volume_ratio", "volume_ratio")]),
            (
                select,
                outputnode,
                [
                    ("relevance", "relevance"),
                    ("metadata", "metadata"),
                    ("predictions", "predictions"),
                    ("faithfulness", "faithfulness"),
                ],
            ),
            (
                regions,
                outputnode,
                [
                    ("tables", "tables"),
                    ("atlas", "table_atlas"),
                    ("desc", "table_desc"),
                    ("meta", "table_meta"),
                ],
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
                (select, native, [("relevance", "relevance")]),
                (native, outputnode, [("out_file", "native_relevance")]),
                (native, done, [("out_file", "in2")]),
            ]
        )
    else:
        outputnode.inputs.native_relevance = []
        done.inputs.in2 = []
    return workflow
