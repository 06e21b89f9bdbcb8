"""The workflow graph, built on a fake dataset without running anything."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bids_lrp.config import Settings
from bids_lrp.inputs import T1wInput
from bids_lrp.workflows.base import ModelInfo, image_of, image_wf_name, init_bids_lrp_wf

PROV = {"template": {"Name": "MNI152NLin2009cAsym", "Source": "x"}, "atlases": {"AAL": "y"}}


def _model(tmp_path):
    (tmp_path / "m.safetensors").write_bytes(b"")
    return ModelInfo(str(tmp_path / "m.safetensors"), "0" * 64, "m", "affine", {"Name": "m"})


def _settings(tmp_path, **kw):
    return Settings(
        bids_dir=tmp_path / "bids",
        output_dir=tmp_path / "out",
        analysis_level="participant",
        work_dir=tmp_path / "work",
        model=Path("/m.safetensors"),
        atlases=("AAL",),
        **kw,
    )


def _images(tmp_path):
    bids = tmp_path / "bids"
    for name in (
        "sub-01/ses-a/anat/sub-01_ses-a_T1w.nii.gz",
        "sub-01/ses-b/anat/sub-01_ses-b_run-1_T1w.nii.gz",
        "sub-02/anat/sub-02_T1w.nii.gz",
    ):
        (bids / name).parent.mkdir(parents=True, exist_ok=True)
        (bids / name).write_bytes(b"")
    return {
        "01": [
            T1wInput(
                bids / "sub-01/ses-a/anat/sub-01_ses-a_T1w.nii.gz", {"sub": "01", "ses": "a"}
            ),
            T1wInput(
                bids / "sub-01/ses-b/anat/sub-01_ses-b_run-1_T1w.nii.gz",
                {"sub": "01", "ses": "b", "run": "1"},
            ),
        ],
        "02": [T1wInput(bids / "sub-02/anat/sub-02_T1w.nii.gz", {"sub": "02"})],
    }


def _workflow(tmp_path, **settings):
    """The whole workflow over the three test images, with these settings."""
    return init_bids_lrp_wf(
        settings=_settings(tmp_path, **settings),
        subjects=_images(tmp_path),
        model=_model(tmp_path),
        provenance=PROV,
    )


def _flat_nodes(workflow):
    """The graph nipype executes (identity nodes removed)."""
    from nipype.pipeline.engine.utils import generate_expanded_graph

    return generate_expanded_graph(workflow._create_flat_graph())


@pytest.mark.parametrize("native", [True, False])
def test_one_branch_per_image_and_gated_sinks(tmp_path, native):
    wf = _workflow(tmp_path, native_space=native)
    graph = _flat_nodes(wf)
    names = {n.fullname for n in graph.nodes}
    for image in ("sub_01_ses_a", "sub_01_ses_b_run_1", "sub_02"):
        assert any(f"t1w_{image}_wf." in n and n.endswith("register") for n in names)
        assert any(f"post_{image}_wf." in n and n.endswith("ds_relevance") for n in names)
        assert any(f"post_{image}_wf." in n and n.endswith("native") for n in names) is native
        assert {image_of(n) for n in names if f"_{image}_wf." in n} == {image}
    for node in graph.nodes:
        if node.name.startswith("ds_"):
            sources = {p.name for p in graph.predecessors(node)}
            assert "done" in sources, node.fullname  # written only when the image is complete
    registers = [n for n in graph.nodes if n.name == "register"]
    assert all(n.inputs.kind == "affine" for n in registers)


def test_registration_setting_wins(tmp_path):
    wf = _workflow(tmp_path, registration="syn")
    assert {n.inputs.kind for n in _flat_nodes(wf).nodes if n.name == "register"} == {"syn"}


def test_names_unique_and_safe():
    a = T1wInput(Path("x"), {"sub": "01", "ses": "1", "acq": "fast", "run": "2"})
    assert image_wf_name(a) == "t1w_sub_01_ses_1_acq_fast_run_2_wf"
    assert image_wf_name(a).isidentifier()


def test_one_model_node_per_participant_fed_by_every_image(tmp_path):
    wf = _workflow(tmp_path)
    graph = _flat_nodes(wf)
    models = {n.fullname: n for n in graph.nodes if n.name == "explain"}
    assert sorted(models) == [f"{wf.name}.single_subject_{s}_wf.explain" for s in ("01", "02")]
    for fullname, node in models.items():
        upstream = {p.fullname for p in nx_ancestors(graph, node) if p.name == "register"}
        downstream = {p.fullname for p in graph.successors(node) if p.name == "select"}
        n_images = 2 if "_01_" in fullname else 1
        assert len(upstream) == len(downstream) == n_images
        assert node.inputs.batch_size >= 1
    selects = sorted(n.inputs.index for n in graph.nodes if n.name == "select")
    assert selects == [0, 0, 1]


def nx_ancestors(graph, node):
    import networkx as nx

    return nx.ancestors(graph, node)


def test_an_image_counts_as_written_only_after_every_writer(tmp_path, caplog, monkeypatch):
    from types import SimpleNamespace

    from bids_lrp.workflows.execution import _Progress

    wf = _workflow(tmp_path, native_space=True)
    graph = _flat_nodes(wf)
    (collect,) = [n for n in graph.nodes if n.name == "collect_outputs" and "sub_02" in n.fullname]
    writers = {p.name for p in graph.predecessors(collect)}
    sinks = {n.name for n in graph.nodes if n.name.startswith("ds_") and "sub_02" in n.fullname}
    assert writers == sinks and len(sinks) == 8  # a failed writer (full disk) stops collect
    assert "ds_faithfulness" in sinks
    monkeypatch.setattr(logging.getLogger("bids_lrp"), "propagate", True)
    progress = _Progress(n_images=3)
    with caplog.at_level(logging.INFO, logger="bids_lrp"):
        for node in graph.nodes:
            if "sub_02" in node.fullname and node.name.startswith("ds_"):
                progress(SimpleNamespace(name=node.name, fullname=node.fullname), "end")
        assert "outputs written" not in caplog.text
        progress(SimpleNamespace(name="collect_outputs", fullname=collect.fullname), "end")
    assert "sub-02: outputs written (1/3 images)" in caplog.text  # as BIDS names it
