"""The ground truth is true: transforms, masks and planted volume loss."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage

from bids_lrp.simulate import plan_cohort
from bids_lrp.simulate.atrophy import atrophy_model
from bids_lrp.simulate.plan import CohortConfig
from bids_lrp.simulate.scan import render_scan
from bids_lrp.templates import get_template

TPL = "MNI152NLin2009cAsym"
#: Tolerance on the planted volume-loss fraction, absolute.
LOSS_TOLERANCE = 0.03
#: Correlation, inside the brain, between the native scan pulled through the true transform and
#: the template-space truth (noise, bias field and interpolation keep it below 1).
MIN_CORRELATION = 0.85


def _read_itk_affine(path: Path) -> np.ndarray:
    """RAS 4x4 of an ITK AffineTransform_double_3_3 text file (independent of the writer)."""
    text = path.read_text()
    params = np.array(re.search(r"^Parameters: (.*)$", text, re.M)[1].split(), float)
    lps = np.eye(4)
    lps[:3, :3] = params[:9].reshape(3, 3)
    lps[:3, 3] = params[9:]
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    return flip @ lps @ flip


def _apply(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return affine[:3, :3] @ points + affine[:3, 3:4]


def _warp(points: np.ndarray, warp_path: Path) -> np.ndarray:
    img = nib.load(warp_path)
    data = np.asarray(img.dataobj)[:, :, :, 0, :] * np.array([-1.0, -1.0, 1.0])  # LPS -> RAS
    vox = _apply(points, np.linalg.inv(img.affine))
    disp = np.stack(
        [ndimage.map_coordinates(data[..., c], vox, order=1, mode="nearest") for c in range(3)]
    )
    return points + disp


def _template_points(step: int) -> tuple[np.ndarray, tuple[int, ...], np.ndarray]:
    tpl = nib.load(get_template(TPL).t1w)
    shape = tuple(range(0, n, step) for n in tpl.shape)
    idx = np.stack(np.meshgrid(*shape, indexing="ij")).reshape(3, -1).astype(float)
    return _apply(idx, tpl.affine), tuple(len(s) for s in shape), idx


def _scan_files(root: Path, sub: str, ses: str) -> dict[str, Path]:
    anat = root / "derivatives" / "simulation" / f"sub-{sub}" / f"ses-{ses}" / "anat"
    p = f"sub-{sub}_ses-{ses}"
    return {
        "t1w": root / f"sub-{sub}" / f"ses-{ses}" / "anat" / f"{p}_T1w.nii.gz",
        "truth": anat / f"{p}_space-{TPL}_desc-noiseless_T1w.nii.gz",
        "fwd_affine": anat / f"{p}_from-T1w_to-{TPL}_mode-image_desc-affine_xfm.txt",
        "fwd_warp": anat / f"{p}_from-T1w_to-{TPL}_mode-image_desc-warp_xfm.nii.gz",
        "inv_affine": anat / f"{p}_from-{TPL}_to-T1w_mode-image_desc-affine_xfm.txt",
        "inv_warp": anat / f"{p}_from-{TPL}_to-T1w_mode-image_desc-warp_xfm.nii.gz",
        "tpl_dseg": anat / f"{p}_space-{TPL}_desc-atrophy_dseg.nii.gz",
        "native_dseg": anat / f"{p}_desc-atrophy_dseg.nii.gz",
    }


def _sample_native(files: dict[str, Path], points: np.ndarray, key: str = "t1w", order: int = 1):
    img = nib.load(files[key])
    vox = _apply(points, np.linalg.inv(img.affine))
    return ndimage.map_coordinates(np.asarray(img.dataobj, float), vox, order=order, cval=0.0)


def test_true_transform_maps_native_scan_onto_template_truth(cohort):
    root, truth = cohort
    points, _, idx = _template_points(step=2)
    for sub in sorted(set(truth["participant_id"])):
        files = _scan_files(root, sub[4:], "1")
        native_points = _apply(
            _warp(points, files["fwd_warp"]), _read_itk_affine(files["fwd_affine"])
        )
        moved = _sample_native(files, native_points)
        reference_img = nib.load(files["truth"])
        ref = np.asarray(reference_img.dataobj)[tuple(idx.astype(int))]
        brain = ref > 0
        r = np.corrcoef(moved[brain], ref[brain])[0, 1]
        assert r > MIN_CORRELATION, (sub, r)
        # Negative control: the header alone (no true transform) does not line up.
        unaligned = _sample_native(files, points)
        assert np.corrcoef(unaligned[brain], ref[brain])[0, 1] < r - 0.2


def test_native_masks_are_template_masks_through_the_inverse_transform(cohort):
    root, truth = cohort
    sub = sorted(set(truth["participant_id"]))[0][4:]
    files = _scan_files(root, sub, "2")
    native = nib.load(files["native_dseg"])
    idx = np.stack(np.meshgrid(*[np.arange(0, n, 2) for n in native.shape], indexing="ij"))
    points = _apply(idx.reshape(3, -1).astype(float), native.affine)
    tpl_points = _warp(_apply(points, _read_itk_affine(files["inv_affine"])), files["inv_warp"])
    tpl = nib.load(files["tpl_dseg"])
    vox = _apply(tpl_points, np.linalg.inv(tpl.affine))
    pulled = ndimage.map_coordinates(np.asarray(tpl.dataobj), vox, order=0)
    expected = np.asarray(native.dataobj)[tuple(idx.reshape(3, -1))]
    for label in range(1, 5):
        a, b = pulled == label, expected == label
        dice = 2 * (a & b).sum() / (a.sum() + b.sum())
        assert dice > 0.95, (label, dice)


def test_truth_table_loss_matches_request(cohort):
    _, truth = cohort
    ad = truth[truth["diagnosis"] == "AD"]
    cn = truth[truth["diagnosis"] == "CN"]
    assert (ad["requested_loss"] > 0.05).all()
    assert np.allclose(ad["achieved_loss"], ad["requested_loss"], atol=LOSS_TOLERANCE)
    assert np.allclose(cn["requested_loss"], 0) and np.allclose(cn["achieved_loss"], 0, atol=1e-4)
    # Atrophy progresses with time.
    by_session = ad.groupby("session_id")["achieved_loss"].mean()
    assert by_session["ses-2"] > by_session["ses-1"]


def test_planted_volume_loss_in_native_space():
    """Independent check: the same scan rendered with and without atrophy (native masks)."""
    config = CohortConfig(n_subjects=1, ad_fraction=1.0, seed=11, severity=0.3)
    spec = plan_cohort(config)[0]
    model = atrophy_model(config.atrophy_regions)
    ill = render_scan(spec, model)
    healthy = render_scan(spec.without_atrophy(), model)
    for label, area in enumerate(model.areas, start=1):
        v_ill = (ill.native_regions == label).sum()
        v_healthy = (healthy.native_regions == label).sum()
        loss = 1 - v_ill / v_healthy
        assert abs(loss - spec.volume_loss) < LOSS_TOLERANCE + 0.02, (area.name, loss)
    # Outside the planted areas and their surroundings nothing changes.
    far = ndimage.distance_transform_edt(healthy.native_regions == 0) > 25
    assert np.array_equal(ill.native_regions[far], healthy.native_regions[far])
    assert np.abs(ill.native_loss[far]).max() < 1e-3


def test_healthy_volumes_follow_head_size_only(cohort):
    _, truth = cohort
    cn = truth[truth["diagnosis"] == "CN"]
    ratio = cn["native_volume_mm3"] / cn["template_volume_mm3"]
    # Head size (+-10 %) and smooth normal variability, but no atrophy.
    assert ((ratio > 0.75) & (ratio < 1.25)).all(), ratio
    assert isinstance(truth, pd.DataFrame)


def test_transform_is_exact_without_scanner_effects():
    """With bias, noise and head switched off only interpolation separates the two images."""
    config = CohortConfig(n_subjects=1, ad_fraction=1.0, seed=2, severity=0.3)
    spec = dataclasses.replace(plan_cohort(config)[0], bias_strength=1e-6, noise=1e-6, head=False)
    model = atrophy_model(config.atrophy_regions)
    result = render_scan(spec, model)
    points, _, idx = _template_points(step=2)
    fields = model.anatomy.fields
    vox = _apply(points, np.linalg.inv(fields.affine))
    disp = np.stack(
        [
            ndimage.map_coordinates(
                result.template_to_native_field[c], vox, order=1, mode="nearest"
            )
            for c in range(3)
        ]
    )
    native_points = _apply(points + disp, np.linalg.inv(result.native_to_template_affine))
    nvox = _apply(native_points, np.linalg.inv(result.native.affine))
    moved = ndimage.map_coordinates(result.t1w.astype(float), nvox, order=1)
    ref = result.template_t1w[tuple(idx.astype(int))]
    brain = ref > 0
    assert np.corrcoef(moved[brain], ref[brain])[0, 1] > 0.975
    assert result.inverse_error_mm < 0.05
