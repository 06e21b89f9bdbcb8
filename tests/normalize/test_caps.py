"""Clinica CAPS folders as ``--derivatives`` (`bids_lrp.normalize.caps`) and ClinicaDL's
min-max scaling (`bids_lrp.normalize.intensity.scale_for_network`)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from bids_lrp.grid import Grid
from bids_lrp.inputs import InputError
from bids_lrp.model.clinicadl import CAPS_GRID
from bids_lrp.model.network_input import network_input
from bids_lrp.normalize.caps import find_caps_affine, is_caps
from bids_lrp.normalize.intensity import scale_for_network
from bids_lrp.normalize.reuse import find_precomputed, read_derivatives

SYM = "MNI152NLin2009cSym"
ENTITIES = {"sub": "01", "ses": "M000"}
TEMPLATE_AFFINE = np.array([[1, 0, 0, -96], [0, 1, 0, -132], [0, 0, 1, -78], [0, 0, 0, 1.0]])


def _caps(root, name="sub-01_ses-M000", description=True):
    folder = root / "subjects" / "sub-01" / "ses-M000" / "t1_linear"
    folder.mkdir(parents=True)
    mat = folder / f"{name}_space-{SYM}_res-1x1x1_affine.mat"
    mat.write_bytes(b"affine")
    if description:
        text = {"Name": "x", "BIDSVersion": "1.7.0", "CAPSVersion": "1.0.0",
                "DatasetType": "derivative"}  # fmt: skip
        (root / "dataset_description.json").write_text(json.dumps(text))
    return mat


def test_caps_folders_are_recognized(tmp_path):
    assert is_caps(tmp_path, {"CAPSVersion": "1.0.0", "DatasetType": "derivative"})
    assert not is_caps(tmp_path, {"DatasetType": "derivative"})  # a BIDS derivatives dataset
    assert not is_caps(tmp_path, None)  # neither a description nor subjects/
    (tmp_path / "subjects").mkdir()
    assert is_caps(tmp_path, None)  # older Clinica releases wrote no description


@pytest.mark.parametrize("name", ["sub-01_ses-M000", "sub-01_ses-M000_T1w"])
def test_the_t1_linear_affine_is_found_under_both_names(tmp_path, name):
    mat = _caps(tmp_path, name)
    assert find_caps_affine(tmp_path, ENTITIES, SYM) == mat
    assert find_caps_affine(tmp_path, ENTITIES, "MNI152NLin2009cAsym") is None
    assert find_caps_affine(tmp_path, {"sub": "01"}, SYM) is None  # CAPS needs sessions
    assert find_caps_affine(tmp_path, {**ENTITIES, "ses": "M006"}, SYM) is None


def test_a_caps_folder_gives_the_affine_alone(tmp_path):
    mat = _caps(tmp_path)
    (source,) = read_derivatives({"clinicadl": tmp_path})
    assert source.layout == "caps" and source.generated_by == "Clinica t1-linear (CAPS 1.0.0)"
    found = find_precomputed((source,), ENTITIES, SYM)
    assert found.forward == () and found.inverse == () and found.affine == str(mat)
    assert "Clinica's t1-linear" in found.transform_order()
    assert (
        found.describe()
        == "precomputed by Clinica t1-linear (CAPS 1.0.0) (--derivatives clinicadl)"
    )
    assert find_precomputed((source,), ENTITIES, "MNI152NLin2009cAsym") is None


def test_an_old_caps_folder_without_description_is_read(tmp_path):
    _caps(tmp_path, description=False)
    (source,) = read_derivatives({"caps": tmp_path})
    assert source.layout == "caps" and source.generated_by == "Clinica t1-linear (CAPS)"


def test_a_folder_that_is_neither_is_one_line(tmp_path):
    with pytest.raises(InputError, match="nor a CAPS folder") as err:
        read_derivatives({"x": tmp_path})
    assert err.value.code == 64


def _head(seed=0):
    rng = np.random.default_rng(seed)
    data = rng.uniform(0, 1000, (193, 229, 193)).astype(np.float32)
    data[:12] = 5000  # bright outside ClinicaDL's crop: must not set the scale
    return nib.Nifti1Image(data, TEMPLATE_AFFINE)


def test_minmax_on_the_caps_grid_is_clinicadl_s_scaling_of_its_crop():
    image = _head()
    mask = nib.Nifti1Image(np.zeros(image.shape, np.uint8), image.affine)  # not used
    scaled = scale_for_network(image, mask, "minmax", CAPS_GRID)
    seen = np.asarray(network_input(scaled, CAPS_GRID).dataobj, dtype=np.float64)
    crop = np.asarray(image.dataobj, dtype=np.float64)[12:181, 13:221, 0:179]
    assert np.abs(seen - (crop - crop.min()) / (crop.max() - crop.min())).max() < 1e-6
    assert np.asarray(scaled.dataobj)[:12].min() > 1  # outside the crop: not seen, not clipped


@pytest.mark.parametrize("resampling", ["linear", "antialiased"])
def test_minmax_spans_what_a_coarser_network_sees(resampling):
    image = _head(1)
    mask = nib.Nifti1Image(np.ones(image.shape, np.uint8), image.affine)
    affine = TEMPLATE_AFFINE.copy()
    affine[:3, :3] *= 3.5
    affine[:3, 3] = (-80.3, -110.0, -70.0)
    grid = Grid((40, 55, 45), affine)
    scaled = scale_for_network(image, mask, "minmax", grid, resampling)
    seen = np.asarray(network_input(scaled, grid, resampling).dataobj)
    assert abs(seen.min()) < 1e-5 and abs(seen.max() - 1) < 1e-5


def test_unknown_or_constant_scaling_is_refused():
    image = nib.Nifti1Image(np.ones((193, 229, 193), np.float32), TEMPLATE_AFFINE)
    with pytest.raises(ValueError, match="unknown intensity scaling"):
        scale_for_network(image, image, "zscore", CAPS_GRID)
    with pytest.raises(ValueError, match="constant"):
        scale_for_network(image, image, "minmax", CAPS_GRID)
