"""Registration with the real ANTs engine: simulated scans with a known pose, and Colin27.

Thresholds were measured on this machine (see benchmarks/RESULTS.md, "Normalization speed") and
set a margin below the measured values.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from bids_lrp.normalize import (
    PROFILES,
    apply_transforms,
    load_t1w,
    mask_and_scale,
    register_to_template,
    registration_quality,
    relevance_to_native,
)
from bids_lrp.normalize.quality import check_registration
from bids_lrp.simulate.native import rotation
from bids_lrp.templates import get_template
from tests.normalize.conftest import TEMPLATE as TPL
from tests.normalize.conftest import downsample


def _quality(reg, template) -> float:
    brain, mask = template
    return registration_quality(reg.warped, brain, mask)


@pytest.fixture(scope="module")
def affine_sim(simulated, template, tmp_path_factory):
    brain, mask = template
    moving = load_t1w(simulated["t1w"])
    prefix = tmp_path_factory.mktemp("affine") / "sub-001_"
    reg = register_to_template(moving, brain, kind="affine", out_prefix=prefix, mask=mask)
    return moving, reg


def test_affine_recovers_the_simulated_pose(affine_sim, simulated, template):
    moving, reg = affine_sim
    brain, mask = template
    truth = nib.load(simulated["truth"])
    # Before registration (native grid resampled straight onto the template by its header) the
    # head is posed at random; afterwards the scan matches the template-space truth.
    before = registration_quality(
        apply_transforms(moving, brain, []), nib.Nifti1Image(truth.get_fdata(), truth.affine), mask
    )
    after = registration_quality(reg.warped, truth, mask)
    assert after > 0.80, after  # measured 0.84-0.85; the true affine alone gives 0.85
    assert after > before + 0.2, (before, after)
    assert reg.kind == "affine"
    assert [p.rsplit("_", 1)[-1] for p in reg.forward_transforms] == ["0GenericAffine.mat"]
    assert [p.rsplit("_", 1)[-1] for p in reg.inverse_transforms] == ["0InverseGenericAffine.mat"]


def test_transform_files_reproduce_the_warped_image_and_invert(affine_sim, template):
    moving, reg = affine_sim
    brain, mask = template
    again = apply_transforms(moving, brain, reg.forward_transforms)
    assert registration_quality(again, reg.warped, mask) > 0.999
    back = apply_transforms(brain, moving, reg.inverse_transforms)
    head = np.asarray(back.dataobj) > 0
    assert np.corrcoef(np.asarray(back.dataobj)[head], moving.get_fdata()[head])[0, 1] > 0.75
    x = mask_and_scale(reg.warped, mask)
    inside = np.asarray(mask.dataobj) > 0
    assert x.get_fdata()[inside].min() == 0 and x.get_fdata()[inside].max() == pytest.approx(1)


def test_relevance_back_on_the_native_grid(affine_sim, template):
    moving, reg = affine_sim
    _, mask = template
    rng = np.random.default_rng(0)
    relevance = rng.standard_normal(mask.shape) * (np.asarray(mask.dataobj) > 0)
    native = relevance_to_native(
        nib.Nifti1Image(relevance, mask.affine), moving, reg.inverse_transforms
    )
    assert native.shape == moving.shape
    assert np.allclose(native.affine, moving.affine)
    data = native.get_fdata()
    assert data.sum() == pytest.approx(relevance.sum(), rel=1e-4, abs=1e-3)
    assert data[data > 0].sum() == pytest.approx(relevance[relevance > 0].sum(), rel=1e-4)


def test_deterministic_for_a_fixed_seed(simulated, template_3mm, tmp_path):
    brain, mask = template_3mm
    moving = downsample(load_t1w(simulated["t1w"]), 3.0)
    runs = [
        register_to_template(
            moving,
            brain,
            kind="affine",
            out_prefix=tmp_path / f"run{i}_",
            mask=mask,
            seed=7,
            threads=1,
        )
        for i in range(2)
    ]
    a, b = (np.asarray(r.warped.dataobj) for r in runs)
    assert np.array_equal(a, b)


def test_syn_at_2mm(simulated, template, tmp_path):
    brain, mask = (downsample(template[0], 2.0), downsample(template[1], 2.0, "nearest"))
    moving = downsample(load_t1w(simulated["t1w"]), 2.0)
    truth = downsample(nib.load(simulated["truth"]), 2.0)
    quality = {}
    for kind in ("affine", "syn"):
        reg = register_to_template(
            moving, brain, kind=kind, out_prefix=tmp_path / kind, mask=mask, threads=1
        )
        quality[kind] = registration_quality(reg.warped, truth, mask)
    # Measured at 2 mm (twice): affine 0.848, SyN 0.897-0.898. At 3 mm both profiles are
    # unstable (the coarsest level is then 24 mm), so the app should not register below 2 mm.
    assert quality["syn"] > 0.85, quality
    assert quality["syn"] > quality["affine"] + 0.02, quality
    assert len(reg.forward_transforms) == len(reg.inverse_transforms) == 2
    assert reg.forward_transforms[0].endswith("1Warp.nii.gz")
    assert reg.inverse_transforms[1].endswith("1InverseWarp.nii.gz")


def test_colin27_whole_head_registers(colin27, template, tmp_path):
    brain, mask = template
    img = load_t1w(colin27)
    # Colin27 already lies near MNI space: re-pose its header (rotation 12/-8/10 degrees, shift
    # 20 mm) so that registration has a real pose to recover.
    pose = np.eye(4)
    pose[:3, :3] = rotation(np.array([12.0, -8.0, 10.0]))
    pose[:3, 3] = [20.0, -15.0, 10.0]
    posed = nib.Nifti1Image(img.get_fdata(dtype=np.float32), pose @ img.affine)
    before = registration_quality(apply_transforms(posed, brain, []), brain, mask)
    reg = register_to_template(
        posed, brain, kind="affine", out_prefix=tmp_path / "colin_", mask=mask
    )
    after = _quality(reg, template)
    # Measured 0.649 for the posed and the unposed header alike (affine ceiling for Colin27's
    # contrast against this template); 0.59 for the unposed header without registration.
    assert after > 0.62, after
    assert after > before + 0.2, (before, after)
    # the check passes it despite its contrast (0.63 < the 0.7 a fixed threshold wanted) and
    # fails the same scan left where its re-posed header put it
    assert check_registration(reg.warped, nib.load(get_template(TPL).t1w), mask).passed
    unregistered = apply_transforms(posed, brain, [])
    assert not check_registration(unregistered, nib.load(get_template(TPL).t1w), mask).passed


def _moved(img: nib.Nifti1Image, matrix: np.ndarray, offset) -> nib.Nifti1Image:
    data = np.asarray(img.dataobj, dtype=np.float32)
    return nib.Nifti1Image(ndimage.affine_transform(data, matrix, offset, order=1), img.affine)


def test_the_registration_check_fails_broken_registrations(affine_sim, template):
    """Good registration passes; shifted, rotated, flipped or wrongly moved scans fail."""
    moving, reg = affine_sim
    brain, mask = template
    whole_head = nib.load(get_template(TPL).t1w)
    good = check_registration(reg.warped, whole_head, mask)
    assert good.passed and good.improvement < -0.2, good
    centre = (np.array(reg.warped.shape) - 1) / 2
    angle = np.deg2rad(15)
    pitch = np.array(
        [[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]]
    )
    flip_y, flip_x = np.diag([1.0, -1.0, 1.0]), np.diag([-1.0, 1.0, 1.0])
    broken = {
        "shifted 8 mm": _moved(reg.warped, np.eye(3), [0, 8, 0]),
        "rotated 15 degrees": _moved(reg.warped, pitch, centre - pitch @ centre),
        "flipped back-front": _moved(reg.warped, flip_y, [0, 2 * centre[1], 0]),
        "not registered": apply_transforms(moving, brain, []),
        "a wrong transform": apply_transforms(moving, brain, reg.inverse_transforms),
    }
    for name, img in broken.items():
        check = check_registration(img, whole_head, mask)
        assert not check.passed, (name, check)
        assert "not registered" in check.reason or "not where it belongs" in check.reason
    # left-right flips look like a good registration (the docstring says why)
    flipped = _moved(reg.warped, flip_x, [2 * centre[0], 0, 0])
    assert check_registration(flipped, whole_head, mask).passed


def test_unknown_kind_and_bad_prefix(template_3mm, tmp_path):
    brain, _ = template_3mm
    with pytest.raises(ValueError, match="unknown registration kind 'rigid'"):
        register_to_template(brain, brain, kind="rigid", out_prefix=tmp_path / "x_")
    with pytest.raises(ValueError, match="glob characters"):
        register_to_template(brain, brain, kind="affine", out_prefix=tmp_path / "x[1]_")
    assert set(PROFILES) == {"affine", "syn"}


@pytest.mark.parametrize("seed", [0, -3, 1.5, True])
def test_seed_must_be_a_positive_integer(template_3mm, tmp_path, seed):
    brain, _ = template_3mm
    with pytest.raises(ValueError, match="seed must be an integer >= 1"):
        register_to_template(brain, brain, kind="affine", out_prefix=tmp_path / "x_", seed=seed)
