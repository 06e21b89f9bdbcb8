"""Finding an image's outputs by name (`bids_lrp.layout`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bids_lrp.layout import find_images
from tests.group.conftest import IMAGES, MODEL, SPACE, write_outputs


@pytest.fixture(scope="module")
def fake_outputs(tmp_path_factory) -> Path:
    return write_outputs(tmp_path_factory.mktemp("layout") / "out")


def test_sessions_and_kinds(fake_outputs):
    found = {image.prefix: image for image in find_images(fake_outputs)}
    assert sorted(found) == sorted(image.prefix for image in IMAGES)
    first = found["sub-01_ses-2"]
    assert (first.participant_id, first.session_id) == ("sub-01", "ses-2")
    assert set(first.predictions) == {MODEL}
    assert set(first.maps) == {(SPACE, "LRPb0"), (SPACE, "GuidedBackprop")}  # not space-T1w
    assert len(first.tables) == 2


def test_filters(fake_outputs):
    assert [i.prefix for i in find_images(fake_outputs, ["01"])] == [
        "sub-01_ses-1",
        "sub-01_ses-2",
    ]
    assert [i.prefix for i in find_images(fake_outputs, ["01"], ["2"])] == ["sub-01_ses-2"]


def test_every_kind_an_image_has_and_nothing_else(tmp_path):
    anat = tmp_path / "out" / "sub-01" / "anat"
    anat.mkdir(parents=True)
    names = [
        "sub-01_desc-m_predictions.tsv",
        f"sub-01_space-{SPACE}_desc-preproc_T1w.nii.gz",
        f"sub-01_space-{SPACE}_desc-LRPb0_relevance.nii.gz",
        "sub-01_space-T1w_desc-LRPb0_relevance.nii.gz",
        f"sub-01_space-{SPACE}_atlas-A_desc-LRPb0_relevance.tsv",
        f"sub-01_from-T1w_to-{SPACE}_mode-image_xfm.mat",
        f"sub-01_from-T1w_to-{SPACE}_mode-image_xfm.nii.gz",
        # not outputs of the participant level: ignored
        "sub-01_space-X_res-2_desc-LRPb0_relevance.nii.gz",
        "sub-02_desc-m_predictions.tsv",  # another participant's name in sub-01's folder
        "sub-01_desc-m_predictions.json",
        "notes.txt",
    ]
    for name in names:
        (anat / name).write_bytes(b"")
    [image] = find_images(tmp_path / "out")
    assert image.prefix == "sub-01" and image.label == "T1w" and image.session_id == "n/a"
    assert image.template == SPACE
    assert image.prediction == anat / names[0]
    assert image.network_input == anat / names[1]
    assert image.relevance == {"LRPb0": anat / names[2]}
    assert image.native == {"LRPb0": anat / names[3]}
    assert image.regions == {"LRPb0": {"A": anat / names[4]}}
    assert image.transforms == [anat / names[6], anat / names[5]]  # the warp first, as ANTs
    assert image.methods == ["LRPb0"]
    assert sorted(p.name for p in image.files) == sorted(names[:7])
    assert find_images(tmp_path / "missing") == []
