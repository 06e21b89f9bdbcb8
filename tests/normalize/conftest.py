"""Shared inputs for the normalization tests: one simulated scan, the template, Colin27."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bids_lrp.normalize import load_template, resample_to_grid

#: Colin27 whole-head T1w from Debian's ``mricron-data`` package (apt-get install mricron-data).
COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
TEMPLATE = "MNI152NLin2009cAsym"


@pytest.fixture(scope="session")
def template() -> tuple[nib.Nifti1Image, nib.Nifti1Image]:
    """The brain-extracted template and its brain mask (1 mm, 193x229x193)."""
    return load_template(TEMPLATE)


def downsample(img: nib.Nifti1Image, zoom: float, interpolation: str = "linear"):
    """The image on a grid with ``zoom`` mm voxels covering the same field of view."""
    shape = np.ceil(np.array(img.shape[:3]) / zoom).astype(int)
    affine = img.affine.copy()
    affine[:3, :3] = img.affine[:3, :3] * zoom
    return resample_to_grid(img, tuple(shape), affine, interpolation=interpolation)


@pytest.fixture(scope="session")
def template_3mm(template) -> tuple[nib.Nifti1Image, nib.Nifti1Image]:
    brain, mask = template
    low_mask = downsample(mask, 3.0, "nearest")
    return downsample(brain, 3.0), low_mask


@pytest.fixture(scope="session")
def simulated(tmp_path_factory) -> dict[str, Path]:
    """One simulated participant: raw T1w, template-space truth, true transforms."""
    from bids_lrp.simulate import simulate_cohort

    root = tmp_path_factory.mktemp("sim")
    simulate_cohort(root, n_subjects=1, ad_fraction=0.0, seed=3, overwrite=True)
    truth = root / "derivatives" / "simulation" / "sub-001" / "anat"
    return {
        "t1w": root / "sub-001" / "anat" / "sub-001_T1w.nii.gz",
        "truth": truth / f"sub-001_space-{TEMPLATE}_desc-noiseless_T1w.nii.gz",
    }


@pytest.fixture(scope="session")
def colin27() -> Path:
    if not COLIN27.is_file():
        pytest.fail(f"{COLIN27} missing: install the Debian package mricron-data")
    return COLIN27
