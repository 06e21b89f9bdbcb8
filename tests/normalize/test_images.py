"""load_t1w: every way an input T1w can be unusable gives one clear line naming the file."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from bids_lrp.normalize import InvalidImageError, load_t1w, load_template
from bids_lrp.normalize.images import from_ants, to_ants


def head(shape=(20, 22, 18)) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random(shape) * 100).astype(np.float32)


def save(tmp_path, data, affine=None, name="sub-01_T1w.nii.gz"):
    path = tmp_path / name
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), path)
    return path


def test_valid_image_and_single_volume_4d(tmp_path):
    data = head()
    img = load_t1w(save(tmp_path, data))
    assert img.shape == data.shape and img.get_data_dtype() == np.float32
    squeezed = load_t1w(save(tmp_path, data[..., None], name="four.nii.gz"))
    assert squeezed.shape == data.shape
    assert np.array_equal(squeezed.get_fdata(), data)


def test_truncated_gzip(tmp_path):
    path = save(tmp_path, head())
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InvalidImageError, match=r"cannot read .*sub-01_T1w.*truncated or corrupt"):
        load_t1w(path)


def test_not_nifti_and_missing(tmp_path):
    path = tmp_path / "sub-01_T1w.nii.gz"
    path.write_bytes(gzip.compress(b"hello" * 100))
    with pytest.raises(InvalidImageError, match="cannot read"):
        load_t1w(path)
    with pytest.raises(InvalidImageError, match="no such file"):
        load_t1w(tmp_path / "absent.nii.gz")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: np.stack([d, d], axis=-1), r"expected a 3D .*\(2 volumes\)"),
        (lambda d: d[..., 0], "expected a 3D"),
        (lambda d: np.where(d > 50, np.nan, d).astype(np.float32), "NaN or infinite"),
        (lambda d: np.where(d > 50, np.inf, d).astype(np.float32), "NaN or infinite"),
        (lambda d: np.zeros_like(d), "all zeros"),
        (lambda d: np.full_like(d, 7.0), "constant"),
    ],
)
def test_bad_data(tmp_path, make, message):
    path = save(tmp_path, make(head()))
    with pytest.raises(InvalidImageError, match=message) as info:
        load_t1w(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def save_raw_sform(tmp_path, data, sform):
    """Write a header whose sform is taken as is (nibabel refuses to set a singular qform)."""
    path = save(tmp_path, data)
    img = nib.load(path)
    header = img.header.copy()
    for row, key in enumerate(("srow_x", "srow_y", "srow_z")):
        header[key] = sform[row]
    header["sform_code"] = 1
    header["qform_code"] = 0
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), None, header), path)
    return path


@pytest.mark.parametrize(
    ("sform", "message"),
    [
        (np.diag([1.0, 1.0, 0.0, 1.0]), "singular"),
        (np.array([[np.nan, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), "NaN or inf"),
        (np.diag([10.0, 1.0, 1.0, 1.0]), r"voxel size 10x1x1 mm is outside"),
        (np.diag([0.05, 0.05, 0.05, 1.0]), "voxel size"),
    ],
)
def test_bad_geometry(tmp_path, sform, message):
    with pytest.raises(InvalidImageError, match=message):
        load_t1w(save_raw_sform(tmp_path, head(), sform))


def test_ants_round_trip_keeps_world_geometry():
    rotation = np.array([[0, 0, -1.2, 80], [1, 0, 0, -90], [0, 1, 0, -70], [0, 0, 0, 1]])
    img = nib.Nifti1Image(head(), rotation)
    back = from_ants(to_ants(img))
    assert np.allclose(back.affine, img.affine, atol=1e-5)
    assert np.array_equal(back.get_fdata(), img.get_fdata())


def test_template_brain_and_mask():
    brain, mask = load_template()
    assert brain.shape == mask.shape == (193, 229, 193)
    inside = np.asarray(mask.dataobj) > 0
    data = np.asarray(brain.dataobj)
    assert 1.5e6 < inside.sum() < 2.5e6
    assert np.all(data[~inside] == 0) and data[inside].min() > 0
