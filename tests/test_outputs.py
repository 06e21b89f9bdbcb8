"""Derivative names, atomic writes and concurrency-safe dataset files."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from bids_lrp.dataset import write_dataset_files
from bids_lrp.names import derivative_name, derivative_path
from bids_lrp.safewrite import atomic_write_bytes


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


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "a" / "f.txt"
    atomic_write_bytes(target, b"old")

    with pytest.raises(TypeError):
        atomic_write_bytes(target, object())  # the write fails midway
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def _write(args):
    out, bids = args
    for _ in range(20):
        write_dataset_files(out, bids)
    return json.loads((Path(out) / "dataset_description.json").read_text())


def test_dataset_files_concurrent(tmp_path):
    bids = tmp_path / "bids"
    bids.mkdir()
    (bids / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.10.0"}')
    out = tmp_path / "out"
    (out).mkdir()
    (out / ".bidsignore").write_text("mine/\n")
    with ProcessPoolExecutor(4) as pool:
        results = list(pool.map(_write, [(str(out), str(bids))] * 8))
    assert all(r == results[0] for r in results)
    assert results[0]["DatasetType"] == "derivative"
    ignore = (out / ".bidsignore").read_text().splitlines()
    assert "mine/" in ignore and "*_relevance.*" in ignore
    assert sorted(p.name for p in out.iterdir()) == [".bidsignore", "dataset_description.json"]


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path):
    from bids_lrp.safewrite import remove_stale_temporaries

    folder = tmp_path / "sub-01" / "anat"
    folder.mkdir(parents=True)
    # A process killed in the middle of an atomic write leaves its temporary file behind.
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; from bids_lrp.safewrite import _atomic; "
            "_atomic(sys.argv[1], lambda handle: (handle.write(b'half'), os._exit(9)))",
            str(folder / "sub-01_desc-x_relevance.nii.gz"),
        ],
        check=False,
    )
    assert killed.returncode == 9
    (stale,) = folder.iterdir()
    kept = [folder / "sub-01_T1w.nii.gz", folder / ".bidsignore", folder / "notes.tmp"]
    for path in kept:
        path.write_bytes(b"done")
    assert remove_stale_temporaries(tmp_path / "sub-01") == [stale]
    assert not stale.exists() and all(p.exists() for p in kept)
    assert remove_stale_temporaries(tmp_path / "missing") == []


def test_container_is_recorded_only_where_it_is_known(tmp_path, monkeypatch):
    """/.dockerenv exists in any Docker container (CI, this machine): it is no provenance."""
    for variable in ("SINGULARITY_NAME", "APPTAINER_NAME", "BIDS_LRP_IMAGE"):
        monkeypatch.delenv(variable, raising=False)
    (tmp_path / "bids").mkdir()

    def container():
        write_dataset_files(tmp_path / "out", tmp_path / "bids")
        meta = json.loads((tmp_path / "out" / "dataset_description.json").read_text())
        return meta["GeneratedBy"][0].get("Container")

    assert container() is None  # a native install, whatever the machine
    monkeypatch.setenv("BIDS_LRP_IMAGE", "bids_lrp:0.1.0")  # our image (Dockerfile)
    assert container() == {"Type": "docker", "Tag": "bids_lrp:0.1.0"}
    monkeypatch.setenv("APPTAINER_NAME", "bids_lrp_0.1.0.sif")
    assert container() == {"Type": "apptainer", "Tag": "bids_lrp_0.1.0.sif"}
