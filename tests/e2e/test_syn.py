"""The paper's SyN path end to end, chosen with --registration over an affine model's card."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd

from tests.e2e.helpers import run_app

TPL = "MNI152NLin2009cAsym"


def _quality(out, sub: str) -> float:
    sidecar = out / f"sub-{sub}/anat/sub-{sub}_space-{TPL}_desc-preproc_T1w.json"
    return json.loads(sidecar.read_text())["RegistrationQuality"]["Value"]


def test_syn_registration_end_to_end(tmp_path, sim_bids, e2e_model, reference_run):
    reference, _ = reference_run
    out = tmp_path / "out"
    done = run_app(
        sim_bids,
        out,
        "participant",
        "-w",
        tmp_path / "work",
        "--participant-label",
        "001",
        "--registration",
        "syn",
        "--model",
        e2e_model,
        "--nprocs",
        "2",
        "--omp-nthreads",
        "2",
        "--skip-bids-validation",
    )
    assert done.returncode == 0, done.stderr
    assert "trained on 'affine'-registered scans" in done.stderr
    anat = out / "sub-001" / "anat"
    for direction in (f"from-T1w_to-{TPL}", f"from-{TPL}_to-T1w"):
        stem = anat / f"sub-001_{direction}_mode-image_xfm"
        warp = nib.load(f"{stem}.nii.gz")  # the displacement field
        assert warp.shape[:3] and warp.shape[-1] == 3
        assert stem.with_suffix(".mat").is_file()
        meta = json.loads(stem.with_suffix(".json").read_text())
        assert meta["Template"]["Registration"] == "syn" and meta["RandomSeed"] >= 1
    # Nonlinear registration matches the template better than the affine reference run did.
    assert _quality(out, "001") > _quality(reference, "001") + 0.01
    raw = nib.load(sim_bids / "sub-001" / "anat" / "sub-001_T1w.nii.gz")
    for desc in ("LRPb0", "GuidedBackprop"):
        tpl = nib.load(anat / f"sub-001_space-{TPL}_desc-{desc}_relevance.nii.gz")
        native = nib.load(anat / f"sub-001_space-T1w_desc-{desc}_relevance.nii.gz")
        assert native.shape == raw.shape
        a, b = np.asarray(tpl.dataobj, float), np.asarray(native.dataobj, float)
        # the inverse warp carries the relevance back: total positive relevance is kept
        assert abs(b[b > 0].sum() / a[a > 0].sum() - 1) < 0.05, desc
    assert not (out / "sub-002").exists()
    # SyN gives the native volume estimate: the Jacobian integrated per atlas label
    table = pd.read_csv(
        anat / f"sub-001_space-{TPL}_atlas-Neuromorphometrics_desc-LRPb0_relevance.tsv", sep="\t"
    )
    native = table.set_index("name")["native_volume_mm3"]
    assert np.isfinite(native).all() and (native >= 0).all()
    truth = pd.read_csv(sim_bids / "derivatives/simulation/atrophy.tsv", sep="\t")
    truth = truth[truth["participant_id"] == "sub-001"].set_index("region")["native_volume_mm3"]
    estimate = native[["Left_Hippocampus", "Right_Hippocampus"]].sum()
    assert abs(estimate / truth["hippocampus"] - 1) < 0.3


def test_full_size_model_with_two_threads_per_node(tmp_path, sim_bids):
    """Regression: a forked MultiProc worker running torch with 2 threads deadlocked."""
    import subprocess

    from tests.e2e.helpers import make_model

    model = make_model(tmp_path / "m" / "full.safetensors", grid_mm=1.0, name="full", net={})
    try:
        done = run_app(
            sim_bids,
            tmp_path / "out",
            "participant",
            "-w",
            tmp_path / "work",
            "--participant-label",
            "002",
            "--model",
            model,
            "--nprocs",
            "2",
            "--omp-nthreads",
            "2",
            "--skip-bids-validation",
            # the deadlock was in the model step: the cheapest outputs around it
            "--methods",
            "boehle2019",
            "--no-native-space",
            timeout=900,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("the participant level hung (MultiProc worker deadlock)") from None
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "out" / "sub-002" / "anat").glob("*_desc-LRPb0_relevance.nii.gz"))
