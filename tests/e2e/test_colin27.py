"""A real whole-head T1w (Colin27, ch2.nii.gz from Debian's mricron-data) through the app."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np

from bids_lrp.cli.run import main


def _colin27() -> Path:
    listing = subprocess.run(
        ["dpkg", "-L", "mricron-data"], capture_output=True, text=True, check=True
    ).stdout.split()
    return Path(next(p for p in listing if p.endswith("/ch2.nii.gz")))


def test_colin27_whole_head(tmp_path, e2e_model):
    bids = tmp_path / "bids"
    anat = bids / "sub-colin27" / "anat"
    anat.mkdir(parents=True)
    shutil.copy(_colin27(), anat / "sub-colin27_T1w.nii.gz")
    (anat / "sub-colin27_T1w.json").write_text("{}")
    (bids / "dataset_description.json").write_text(
        json.dumps({"Name": "Colin27", "BIDSVersion": "1.10.0", "Authors": ["MNI"]})
    )
    (bids / "README").write_text("Colin27 (Holmes et al. 1998), from Debian's mricron-data.\n")
    out = tmp_path / "out"
    # one image: both cores go to its steps (N4 and registration at 1 mm take the time)
    options = ["--model", str(e2e_model), "--nprocs", "2", "--omp-nthreads", "2"]
    code = main([str(bids), str(out), "participant", "-w", str(tmp_path / "work"), *options])
    assert code == 0
    anat_out = out / "sub-colin27" / "anat"
    tpl = "MNI152NLin2009cAsym"
    meta = json.loads((anat_out / f"sub-colin27_space-{tpl}_desc-preproc_T1w.json").read_text())
    assert meta["RegistrationQuality"]["Value"] > 0.5
    raw = nib.load(anat / "sub-colin27_T1w.nii.gz")
    native = nib.load(anat_out / "sub-colin27_space-T1w_desc-LRPb0_relevance.nii.gz")
    assert native.shape == raw.shape[:3]
    assert np.isfinite(np.asarray(native.dataobj)).all()
    assert (
        anat_out / f"sub-colin27_space-{tpl}_atlas-Neuromorphometrics_desc-LRPb0_relevance.tsv"
    ).is_file()
