"""Training from a cache of network inputs on disk: the same weights as from memory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bids_lrp.cli.train import main
from bids_lrp.model.data import check_same_grid, find_scans
from bids_lrp.model.network_input import load_scans
from bids_lrp.model.scan_cache import (
    CACHE_TYPES,
    ScanCache,
    open_or_write_cache,
    write_cache,
)
from tests.training.helpers import NET_8MM, TEMPLATE, make_toy_dataset
from tests.training.test_cli import _weights

FAST = ["--grid-mm", "8", *NET_8MM, "--threads", "1", "--lr", "3e-3"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> tuple[Path, Path]:
    return make_toy_dataset(tmp_path_factory.mktemp("toy"), n_ad=4, n_hc=4)


@pytest.fixture(scope="module")
def loaded(toy):
    scans = find_scans(toy[1], TEMPLATE)
    grid = check_same_grid(scans)
    images, digests = load_scans(scans, grid, resampling="antialiased")
    return scans, grid, images, digests


@pytest.mark.parametrize("dtype", sorted(CACHE_TYPES))
def test_the_cache_holds_the_inputs_within_its_stated_error(loaded, tmp_path, dtype):
    scans, grid, images, digests = loaded
    cache = write_cache(scans, grid, tmp_path / "c", dtype=dtype, resampling="antialiased")
    assert len(cache) == len(images) and cache.shape == images.shape
    assert cache.digests == digests
    read = cache[np.arange(len(images))]
    assert read.dtype == np.float32
    error = np.abs(read - images).max()
    assert error <= CACHE_TYPES[dtype] + 1e-7
    if dtype == "float32":
        assert np.array_equal(read, images)
    else:
        assert error > 0  # quantized, and the bound is not loose by orders of magnitude
        assert error > CACHE_TYPES[dtype] / 4
    # numpy's indexing of the first axis: order, repeats, slices, a single row
    assert np.array_equal(cache[[3, 1, 3]], cache[np.arange(len(images))][[3, 1, 3]])
    assert np.array_equal(cache[2:5], read[2:5]) and np.array_equal(cache[-1], read[-1])
    with pytest.raises(IndexError):
        cache[[len(images)]]


def test_reading_holds_only_the_rows_asked_for(loaded, tmp_path):
    """Positioned reads, no memory map: the cache pickles as its path (DataLoader workers)."""
    scans, grid, images, _ = loaded
    cache = write_cache(scans, grid, tmp_path / "c", resampling="antialiased")
    import pickle

    copy = pickle.loads(pickle.dumps(cache))
    assert len(pickle.dumps(cache)) < 1000
    assert np.array_equal(copy[[0, 5]], images[[0, 5]])


def test_a_cache_is_reused_only_for_the_same_scans(loaded, tmp_path, caplog):
    scans, grid, _, _ = loaded
    folder = tmp_path / "c"
    write_cache(scans, grid, folder, resampling="antialiased")
    stamp = (folder / "inputs.npy").stat().st_mtime_ns
    with caplog.at_level("INFO"):
        open_or_write_cache(scans, grid, folder, resampling="antialiased")
    assert "reusing" in caplog.text and (folder / "inputs.npy").stat().st_mtime_ns == stamp
    open_or_write_cache(scans[:-1], grid, folder, resampling="antialiased")  # another cohort
    assert len(ScanCache(folder)) == len(scans) - 1
    open_or_write_cache(scans[:-1], grid, folder, dtype="uint8", resampling="antialiased")
    assert json.loads((folder / "cache.json").read_text())["dtype"] == "uint8"


def test_a_folder_with_other_files_is_never_replaced(loaded, tmp_path):
    scans, grid, _, _ = loaded
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="other than a cache"):
        write_cache(scans, grid, tmp_path, resampling="antialiased")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_streaming_from_a_float32_cache_gives_the_same_weights(toy, tmp_path):
    """In memory, from the cache read by the main process, and by two DataLoader workers."""
    args = [str(toy[1]), *FAST, "--epochs", "3", "--min-epochs", "0", "--name", "same"]
    runs = {
        "memory": [],
        "cache": ["--cache", str(tmp_path / "cache"), "--loader-workers", "0"],
        "workers": ["--cache", str(tmp_path / "cache"), "--loader-workers", "2"],
    }
    weights = {}
    for name, extra in runs.items():
        out = tmp_path / f"{name}.safetensors"
        assert main([*args, *extra, "--out", str(out)]) == 0
        weights[name] = _weights(out)
    for name in ("cache", "workers"):
        for key, value in weights["memory"].items():
            assert torch.equal(value, weights[name][key]), (name, key)
    card = json.loads((tmp_path / "workers.json").read_text())
    assert card["training"]["input_cache"] == {"type": "float32", "max_error": 0.0}


def test_a_uint8_cache_trains_within_its_rounding(toy, tmp_path):
    """uint8 inputs differ by at most 1/510: the weights move, far less than another seed's."""
    args = [str(toy[1]), *FAST, "--epochs", "3", "--min-epochs", "0", "--dropout", "0"]
    runs = {
        "memory": [],
        "uint8": ["--cache", str(tmp_path / "c"), "--cache-type", "uint8"],
        "other_seed": ["--seed", "1"],
    }
    weights = {}
    for name, extra in runs.items():
        out = tmp_path / f"{name}.safetensors"
        assert main([*args, *extra, "--out", str(out)]) == 0
        weights[name] = _weights(out)["features.0.weight"]

    def distance(name):
        return float((weights[name] - weights["memory"]).norm())

    assert 0 < distance("uint8") < 0.25 * distance("other_seed")


def test_a_cache_folder_with_other_files_is_refused_in_one_line(toy, tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("x")
    out = tmp_path / "m.safetensors"
    assert main([str(toy[1]), *FAST, "--out", str(out), "--cache", str(tmp_path)]) == 64
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("bids_lrp-train: error: --cache") and "holds other files" in last
    assert (tmp_path / "mine.txt").exists() and not out.exists()


def test_a_full_disk_while_caching_is_one_line_and_leaves_nothing(
    toy, tmp_path, monkeypatch, capsys
):
    import errno
    import os

    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("bids_lrp.model.scan_cache.os.pwrite", full)
    out, cache = tmp_path / "m.safetensors", tmp_path / "cache"
    assert main([str(toy[1]), *FAST, "--out", str(out), "--cache", str(cache)]) == 73
    last = capsys.readouterr().err.splitlines()[-1]
    assert "No space left on device" in last and "nothing was written" in last
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_writing_a_cache_loads_only_a_few_scans_ahead(monkeypatch):
    """The loader feeding `write_cache` stays at most ``2 * threads`` scans ahead of the writer,
    so memory holds a few scans whatever the cohort size; scans still come in order."""
    from bids_lrp.model import network_input

    started = []

    def fake_load(scan, grid, resampling):
        started.append(scan)
        return np.full(3, scan, np.float32), f"sha-{scan}"

    monkeypatch.setattr(network_input, "load_one", fake_load)
    threads, n = 2, 40
    for k, (data, digest) in enumerate(network_input.iter_loaded(range(n), None, threads=threads)):
        assert data[0] == k and digest == f"sha-{k}"
        assert len(started) <= k + 1 + 2 * threads
    assert sorted(started) == list(range(n))
