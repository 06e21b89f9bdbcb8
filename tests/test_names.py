"""BIDS derivative file names: the entity order and the one builder."""

from __future__ import annotations

from pathlib import Path

import pytest

from bids_lrp.names import derivative_name, derivative_path, model_desc, parse_name


def test_names_follow_design():
    ents = {"sub": "01", "ses": "1", "run": "2"}
    assert (
        derivative_name(
            {**ents, "space": "MNI152NLin2009cAsym", "desc": "preproc"}, "T1w", ".nii.gz"
        )
        == "sub-01_ses-1_run-2_space-MNI152NLin2009cAsym_desc-preproc_T1w.nii.gz"
    )
    assert (
        derivative_name({"sub": "01", "from": "T1w", "to": "X", "mode": "image"}, "xfm", "mat")
        == "sub-01_from-T1w_to-X_mode-image_xfm.mat"
    )
    assert (
        derivative_name(
            {"sub": "01", "space": "X", "atlas": "A", "desc": "LRPb0"}, "relevance", ".tsv"
        )
        == "sub-01_space-X_atlas-A_desc-LRPb0_relevance.tsv"
    )
    path = derivative_path("/o", {"sub": "01", "ses": "1", "desc": "m"}, "predictions", ".tsv")
    assert path == Path("/o/sub-01/ses-1/anat/sub-01_ses-1_desc-m_predictions.tsv")


@pytest.mark.parametrize("bad", [{"sub": "../x"}, {"sub": "01", "desc": "a-b"}, {"foo": "1"}])
def test_bad_entities_refused(bad):
    with pytest.raises(ValueError):
        derivative_name(bad, "T1w", ".nii.gz")


def test_parse_name():
    assert parse_name("sub-01_ses-1_space-X_desc-LRPb0_relevance.nii.gz") == (
        {"sub": "01", "ses": "1", "space": "X", "desc": "LRPb0"},
        "relevance",
        ".nii.gz",
    )
    for bad in ("sub-01.nii.gz", "README", "sub-01_sub-02_T1w.nii", "sub-01_T1w", "x-1_T1w.nii"):
        assert parse_name(bad) is None or "sub" not in parse_name(bad)[0]


def test_names_round_trip():
    entities = {"sub": "01", "ses": "2", "space": "X", "atlas": "A", "desc": "LRPb0"}
    assert parse_name(derivative_name(entities, "relevance", ".tsv")) == (
        entities,
        "relevance",
        ".tsv",
    )


def test_model_desc():
    assert model_desc("boehle2019-demo_sim 4mm") == "boehle2019demosim4mm"
    with pytest.raises(ValueError, match="no alphanumeric"):
        model_desc("--")
