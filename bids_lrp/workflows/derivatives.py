"""Writing the derivatives of one image (names and layout: DESIGN.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from bids_lrp.faithfulness import COLUMN_DESCRIPTIONS as FAITHFULNESS_COLUMNS
from bids_lrp.faithfulness import REFERENCE as FAITHFULNESS_REFERENCE
from bids_lrp.interfaces.io import DerivativesSink
from bids_lrp.methods import method_label
from bids_lrp.names import model_desc
from bids_lrp.normalize.intensity import SCALINGS
from bids_lrp.normalize.registration import DEFAULT_SEED
from bids_lrp.normalize.reuse import Precomputed
from bids_lrp.regions import COLUMN_DESCRIPTIONS


def init_derivatives_wf(
    *,
    output_dir: str,
    entities: Mapping[str, str],
    template: str,
    methods: Sequence[str],
    model_meta: Mapping[str, Any],
    template_meta: Mapping[str, Any],
    atlas_meta: Mapping[str, Any],
    source: str,
    native_space: bool = True,
    faithfulness: str | None = None,
    precomputed: Precomputed | None = None,
    name: str = "derivatives_wf",
) -> pe.Workflow:
    """Write every derivative of one T1w image, atomically, once the image is done.

    Parameters
    ----------
    output_dir : str
        Derivatives root.
    entities : mapping
        Source entities of the T1w (``sub``, ``ses``, ``acq``, ``run``, ...).
    template : str
        Template name (the ``space`` label).
    methods : sequence of str
        Explanation methods, in the order of the relevance inputs.
    model_meta, template_meta, atlas_meta : mapping
        Provenance for the sidecars (model id and checksum, template and atlas sources).
    source : str
        BIDS URI of the raw T1w (``bids:raw:sub-01/anat/...``).
    native_space : bool
        Whether native-space relevance maps are written.
    faithfulness : str, optional
        The atlas of the faithfulness curves, whose TSV is then written (None: not measured).
    precomputed : Precomputed, optional
        The transforms another pipeline computed, when they were used
        (`bids_lrp.normalize.reuse`); None: registered here.
    name : str
        Workflow name.

    Inputs
    ------
    preproc, preproc_meta, forward_transforms, inverse_transforms, relevance, metadata,
    native_relevance, faithfulness, predictions, tables, table_atlas, table_desc, table_meta
        From `init_normalize_wf` and `init_tables_wf`.
    done
        Connect the last computing step: nothing is written before the image is complete.

    Outputs
    -------
    out_files
        Every written file.
    """
    fields = [
        "preproc",
        "preproc_meta",
        "forward_transforms",
        "inverse_transforms",
        "relevance",
        "metadata",
        "native_relevance",
        "faithfulness",
        "predictions",
        "tables",
        "table_atlas",
        "table_desc",
        "table_meta",
        "done",
    ]
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=fields), name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=["out_files"]), name="outputnode")
    base = {"base_directory": str(output_dir), "entities": dict(entities)}
    common = {"Sources": [source], "Model": dict(model_meta), "Template": dict(template_meta)}
    descs = [method_label(m) for m in methods]
    scaling = model_meta.get("IntensityScaling", "minmax-in-brain-mask")

    def sink(node_name: str, suffix: str, extra: dict, meta: dict) -> pe.Node:
        return pe.Node(
            DerivativesSink(**base, suffix=suffix, common_meta={**common, **meta}, **extra),
            name=node_name,
            run_without_submitting=True,
        )

    ds_preproc = sink(
        "ds_preproc",
        "T1w",
        {"space": template, "desc": "preproc"},
        {
            "SkullStripped": scaling == "minmax-in-brain-mask",
            "Description": f"network input: {SCALINGS[scaling]}",
        },
    )

    xfm_meta = {
        "Software": "ANTsPy (antspyx)",
        "RandomSeed": DEFAULT_SEED,
        "TransformOrder": "ANTs order: with a displacement field (.nii.gz) and an affine (.mat), "
        "pass both to antsApplyTransforms as listed, field first; neither is inverted",
    }
    if precomputed is not None:
        xfm_meta = {
            "Software": precomputed.describe(),
            "TransformOrder": precomputed.transform_order(),
        }
    fwd = {"entities": {**entities, "from": "T1w", "to": template, "mode": "image"}}
    inv = {"entities": {**entities, "from": template, "to": "T1w", "mode": "image"}}
    ds_fwd = sink("ds_forward_xfm", "xfm", {}, xfm_meta)
    ds_fwd.inputs.entities = fwd["entities"]
    ds_inv = sink("ds_inverse_xfm", "xfm", {}, xfm_meta)
    ds_inv.inputs.entities = inv["entities"]
    ds_rel = sink("ds_relevance", "relevance", {"space": template, "desc": descs}, {})
    ds_pred = sink(
        "ds_predictions",
        "predictions",
        {"desc": model_desc(model_meta["Name"])},
        {
            "Columns": "probability_<class> (softmax), logit_<class>, predicted_class "
            "(argmax), target_class (the class --target-class explained for this image; each "
            "relevance map's sidecar names the class that map explains: TargetClass)"
        },
    )
    ds_tables = sink(
        "ds_regions",
        "relevance",
        {"space": template},
        {"Atlases": dict(atlas_meta), **COLUMN_DESCRIPTIONS},
    )
    writers = [ds_preproc, ds_fwd, ds_inv, ds_rel, ds_pred, ds_tables]
    n_writers = len(writers) + int(native_space) + int(faithfulness is not None)
    collect = pe.Node(niu.Merge(n_writers), name="collect_outputs")
    workflow.connect(
        [
            (inputnode, ds_preproc, [("preproc", "in_file"), ("preproc_meta", "meta")]),
            (inputnode, ds_fwd, [("forward_transforms", "in_file")]),
            (inputnode, ds_inv, [("inverse_transforms", "in_file")]),
            (inputnode, ds_rel, [("relevance", "in_file"), ("metadata", "meta")]),
            (inputnode, ds_pred, [("predictions", "in_file")]),
            (
                inputnode,
                ds_tables,
                [
                    ("tables", "in_file"),
                    ("table_atlas", "atlas"),
                    ("table_desc", "desc"),
                    ("table_meta", "meta"),
                ],
            ),
            (collect, outputnode, [("out", "out_files")]),
        ]
    )
    if native_space:
        ds_native = sink("ds_relevance_native", "relevance", {"space": "T1w", "desc": descs}, {})
        workflow.connect(
            [
                (inputnode, ds_native, [("native_relevance", "in_file"), ("metadata", "meta")]),
            ]
        )
        writers.append(ds_native)
    if faithfulness is not None:
        ds_faithfulness = sink(
            "ds_faithfulness",
            "faithfulness",
            {"space": template, "atlas": faithfulness},
            {
                "Description": "how the score falls as the maps' most relevant atlas areas "
                "are removed (and, as controls, the least relevant and random ones); the AOPC "
                "of each map is in its relevance sidecar (Faithfulness)",
                "Reference": FAITHFULNESS_REFERENCE,
                **FAITHFULNESS_COLUMNS,
            },
        )
        workflow.connect(inputnode, "faithfulness", ds_faithfulness, "in_file")
        writers.append(ds_faithfulness)
    for i, writer in enumerate(writers, start=1):
        workflow.connect(
            [
                (inputnode, writer, [("done", "ready")]),
                (writer, collect, [("out_file", f"in{i}")]),
            ]
        )
    return workflow
