"""Streaming mean maps equal the numpy mean; bad maps are left out without a trace."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bids_lrp.grid import Grid
from bids_lrp.group import maps, niftistream
from bids_lrp.group.maps import mean_image, stream_sums
from bids_lrp.group.niftistream import MapError, read_grid, read_volume

SHAPE = (10, 12, 10)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def _save(path: Path, data: np.ndarray, affine=AFFINE) -> Path:
    nib.save(nib.Nifti1Image(data, affine), path)
    return path


@pytest.fixture
def volumes(tmp_path):
    rng = np.random.default_rng(0)
    data = [rng.normal(size=SHAPE).astype(np.float32) for _ in range(7)]
    paths = [_save(tmp_path / f"m{i}.nii.gz", d) for i, d in enumerate(data)]
    return paths, data


@pytest.mark.parametrize(("workers", "batch"), [(1, 32), (2, 32), (3, 32), (1, 2), (2, 3)])
def test_streaming_mean_equals_numpy_mean(volumes, workers, batch, monkeypatch):
    monkeypatch.setattr(maps, "_BATCH", batch)  # float32 batches flushed along the way too
    paths, data = volumes
    cells = ["a", "b", "a", "a", "b", "c", "a"]
    grid = read_grid(paths[0])
    total = stream_sums(list(zip(paths, cells, strict=True)), grid, workers)
    assert total.counts == {"a": 4, "b": 2, "c": 1}
    summed, count = total.total(["a", "b", "c"])
    mean = np.asarray(mean_image(summed, count, grid).dataobj)
    np.testing.assert_allclose(mean, np.mean(np.stack(data), axis=0), rtol=1e-6, atol=1e-6)
    summed, count = total.total(["a", "c"])
    expected = np.mean(np.stack([data[i] for i in (0, 2, 3, 5, 6)]), axis=0)
    np.testing.assert_allclose(summed.reshape(SHAPE, order="F") / count, expected, atol=1e-6)
    assert total.total(["missing"]) == (None, 0)
    for keys in (["a", "b", "c"], ["a", "c"], ["c", "missing"], ["missing"]):
        assert total.count(keys) == total.total(keys)[1]


def test_read_volume_formats(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(size=SHAPE).astype(np.float32)
    grid = Grid(SHAPE, AFFINE)
    out = np.empty(grid.size, dtype=np.float32)
    # Uncompressed, big-endian, and scaled integers all read like nibabel does.
    plain = _save(tmp_path / "plain.nii", data)
    big = nib.Nifti1Image(data.astype(">f4"), AFFINE)
    nib.save(big, tmp_path / "big.nii.gz")
    scaled = nib.Nifti1Image(data, AFFINE)
    scaled.header.set_data_dtype(np.int16)
    nib.save(scaled, tmp_path / "scaled.nii.gz")
    for path in (plain, tmp_path / "big.nii.gz", tmp_path / "scaled.nii.gz"):
        expected = np.asarray(nib.load(path).get_fdata(dtype=np.float32))
        read_volume(path, grid, out)
        np.testing.assert_allclose(out.reshape(SHAPE, order="F"), expected, rtol=1e-6, atol=1e-7)


def test_multimember_gzip(tmp_path):
    data = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    raw = nib.Nifti1Image(data, AFFINE).to_bytes()
    path = tmp_path / "multi.nii.gz"
    path.write_bytes(gzip.compress(raw[:5000]) + gzip.compress(raw[5000:]))
    out = read_volume(path, Grid(SHAPE, AFFINE), np.empty(data.size, np.float32))
    np.testing.assert_array_equal(out.reshape(SHAPE, order="F"), data)


def test_bad_maps_are_left_out_without_partial_sums(volumes, tmp_path):
    paths, data = volumes
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(paths[0].read_bytes()[:-200])
    other_grid = _save(tmp_path / "other.nii.gz", np.zeros((4, 4, 4), np.float32))
    shifted = _save(tmp_path / "shifted.nii.gz", data[0], affine=np.diag([3.0, 3, 3, 1]))
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(b"not a gzip file at all" * 20)
    bad = [truncated, other_grid, shifted, garbage]
    tasks = [(p, "x") for p in [*paths[:2], *bad]]
    total = stream_sums(tasks, read_grid(paths[0]), 2)
    assert total.counts == {"x": 2}
    assert sorted(total.failed) == sorted(str(p) for p in bad)
    assert "truncated" in total.failed[str(truncated)]
    assert "grid" in total.failed[str(other_grid)]
    assert "affine" in total.failed[str(shifted)]
    summed, _ = total.total(["x"])
    np.testing.assert_allclose(
        summed.reshape(SHAPE, order="F"), data[0].astype(float) + data[1], atol=1e-5
    )


def test_read_volume_raises_map_error(tmp_path):
    path = tmp_path / "short.nii"
    path.write_bytes(b"\0" * 100)
    with pytest.raises(MapError):
        read_volume(path, Grid(SHAPE, AFFINE), np.empty(int(np.prod(SHAPE)), np.float32))


def test_mean_image_is_float32_on_grid():
    grid = Grid(SHAPE, AFFINE)
    img = mean_image(np.ones(grid.size) * 4, 2, grid)
    assert img.get_data_dtype() == np.float32 and img.shape == SHAPE
    np.testing.assert_array_equal(img.affine, AFFINE)
    assert float(np.asarray(img.dataobj).max()) == 2.0


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.float64])
def test_values_split_between_blocks(tmp_path, monkeypatch, dtype):
    # Tiny input blocks: decompressed blocks end in the middle of values (the carry path).
    monkeypatch.setattr(niftistream, "_BLOCK", 37)
    data = np.random.default_rng(2).normal(size=SHAPE).astype(np.float32)
    img = nib.Nifti1Image(data, AFFINE)
    img.header.set_data_dtype(dtype)
    path = tmp_path / "split.nii.gz"
    nib.save(img, path)
    grid = Grid(SHAPE, AFFINE)
    out = read_volume(path, grid, np.empty(grid.size, np.float32))
    expected = np.asarray(nib.load(path).get_fdata(dtype=np.float32))
    np.testing.assert_allclose(out.reshape(SHAPE, order="F"), expected, rtol=1e-6, atol=1e-7)
    total = stream_sums([(path, "a"), (path, "a")], grid, 2)
    np.testing.assert_allclose(total.sums["a"] / 2, out, rtol=1e-6, atol=1e-7)
