"""The simulator's true-pose scans are what a perfect affine registration gives."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from bids_lrp.simulate import simulate_cohort
from tests.e2e.helpers import downsample_t1w

TPL = "MNI152NLin2009cAsym"
#: Pearson correlation in the brain mask between the true-pose scan and the same raw scan
#: registered by the participant level's affine registration (measured 0.95; both keep the
#: bias field: the participant level's N4 would lower it to about 0.8-0.9, see README).
MIN_CORRELATION = 0.9


@pytest.mark.slow
def test_true_pose_scan_matches_an_affine_registration(tmp_path):
    from bids_lrp.normalize import load_t1w, mask_and_scale, register_to_template
    from bids_lrp.templates import template_images

    root = tmp_path / "sim"
    simulate_cohort(root, n_subjects=1, ad_fraction=1.0, seed=5)
    anat = root / "derivatives" / "simulation" / "sub-001" / "anat"
    path = anat / f"sub-001_space-{TPL}_desc-preproc_T1w.nii.gz"
    meta = json.loads(path.with_name(path.name.replace(".nii.gz", ".json")).read_text())
    assert meta["Registration"] == "affine" and meta["SkullStripped"] is True
    assert meta["IntensityScaling"] == "minmax-in-brain-mask"
    template, mask, _ = template_images(TPL)
    true_pose = nib.load(path)
    assert true_pose.shape == template.shape and np.allclose(true_pose.affine, template.affine)
    data = np.asarray(true_pose.dataobj)
    inside = np.asarray(mask.dataobj) > 0
    assert data[inside].min() == 0.0 and data[inside].max() == 1.0 and not data[~inside].any()

    raw = root / "sub-001" / "anat" / "sub-001_T1w.nii.gz"
    downsample_t1w(raw, 2)  # 2 mm: a faster registration, same pose
    reg = register_to_template(
        load_t1w(raw), template, kind="affine", out_prefix=tmp_path / "reg_", mask=mask, threads=1
    )
    registered = np.asarray(mask_and_scale(reg.warped, mask).dataobj)
    r = np.corrcoef(registered[inside], data[inside])[0, 1]
    assert r > MIN_CORRELATION, r
