"""Reliability: bad images, kill and resume, concurrent participant jobs into one folder."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from bids_lrp.safewrite import _TEMPORARY_SUFFIX
from tests.e2e.helpers import app_env, assert_same_outputs, common_args, outputs_of, run_app

BAD = {
    "bad1": "truncated",
    "bad2": "volumes",
    "bad3": "NaN",
    "bad4": "all zeros",
    "bad5": "singular",
    "bad6": "voxel size",
}


#: The NaN image is a second image of a good participant (sub-001): its other image must still
#: get its outputs (the participant's shared model node runs again without the bad one).
IMAGE_KEY = {label: f"sub-{label}" for label in BAD} | {"bad3": "sub-001_acq-nan"}


def _add_bad_images(bids: Path) -> None:
    good = bids / "sub-001" / "anat" / "sub-001_T1w.nii.gz"
    img = nib.load(good)
    data = np.asarray(img.dataobj, dtype=np.float32)
    for label in BAD:
        anat = bids / f"sub-{label}" / "anat"
        path = anat / f"sub-{label}_T1w.nii.gz"
        if label == "bad3":
            anat, path = good.parent, good.parent / "sub-001_acq-nan_T1w.nii.gz"
        anat.mkdir(parents=True, exist_ok=True)
        affine = img.affine.copy()
        if label == "bad1":
            raw = gzip.compress(nib.Nifti1Image(data, affine).to_bytes())
            path.write_bytes(raw[: len(raw) // 2])
            continue
        if label == "bad2":
            out = np.stack([data, data], axis=-1)
        elif label == "bad3":
            out = data.copy()
            out[10:20, 10:20, 10:20] = np.nan
        elif label == "bad4":
            out = np.zeros_like(data)
        elif label == "bad5":  # a singular sform (one axis of length zero)
            header = nib.Nifti1Header()
            header.set_data_shape(data.shape)
            header.set_data_dtype(np.float32)
            header.set_xyzt_units("mm")
            header["sform_code"], header["qform_code"] = 1, 0
            header["srow_x"], header["srow_y"] = [0, 0, 0, 0], [0, 1, 0, 0]
            header["srow_z"] = [0, 0, 1, 0]
            nib.save(nib.Nifti1Image(data, None, header=header), path)
            continue
        else:
            out = data
            affine[:3, :3] *= 60
        nib.save(nib.Nifti1Image(out, affine), path)


def test_killed_run_resumes_with_same_outputs(tmp_path, sim_bids, e2e_model, reference_run):
    reference, code = reference_run
    assert code == 0
    bids = tmp_path / "bids"
    shutil.copytree(sim_bids, bids)
    _add_bad_images(bids)
    out, work = tmp_path / "out", tmp_path / "work"
    args = [
        str(bids),
        str(out),
        "participant",
        "-w",
        str(work),
        "--skip-bids-validation",
        *common_args(e2e_model),
    ]
    exe = Path(sys.executable).parent / "bids_lrp"
    proc = subprocess.Popen(
        [str(exe), *args],
        env=app_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 400
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if list(out.glob("sub-00*/anat/*_relevance.nii.gz")):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    partial = outputs_of(out)
    assert any(k.startswith("sub-00") for k in partial)
    rerun = run_app(*args)
    assert rerun.returncode == 1, rerun.stderr
    assert "Traceback" not in rerun.stderr
    for label, words in BAD.items():
        key = IMAGE_KEY[label]
        lines = [line for line in rerun.stderr.splitlines() if f"{key} failed:" in line]
        assert len(lines) == 1 and words in lines[0], (label, rerun.stderr)
        assert not (out / f"sub-{label}").exists()
    assert not list(out.glob("sub-001/anat/*acq-nan*"))
    assert "6 of 8 image(s) failed" in rerun.stderr
    assert_same_outputs(out, reference)
    assert not list(out.rglob(f".*{_TEMPORARY_SUFFIX}"))  # no half-written file left


def test_concurrent_participant_jobs(tmp_path, sim_bids, e2e_model, reference_run):
    reference, _ = reference_run
    out, work = tmp_path / "out", tmp_path / "work"
    exe = Path(sys.executable).parent / "bids_lrp"
    procs = [
        subprocess.Popen(
            [
                str(exe),
                str(sim_bids),
                str(out),
                "participant",
                "-w",
                str(work),
                "--participant-label",
                label,
                "--model",
                str(e2e_model),
                "--nprocs",
                "1",
                "--omp-nthreads",
                "1",
            ],
            env=app_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for label in ("sub-001", "002")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    assert_same_outputs(out, reference)
    assert len(list((out / "logs").glob("config-*.toml"))) == 2
