"""Training data: scans, labels, fingerprint, network grid, identical inputs to inference."""

from __future__ import annotations

import hashlib
import json
import logging
from types import SimpleNamespace

import numpy as np
import pytest

from bids_lrp.grid import Grid
from bids_lrp.model.data import (
    CLASS_NAMES,
    TrainingDataError,
    check_same_grid,
    default_bids_dir,
    find_scans,
    fingerprint,
    label_scans,
    read_labels,
)
from bids_lrp.model.network_input import (
    load_network_input,
    load_scans,
    network_grid,
    network_input,
)
from bids_lrp.templates import get_template
from tests.training.helpers import TEMPLATE, grid, make_toy_dataset, write_scan


@pytest.fixture
def toy(tmp_path):
    return make_toy_dataset(tmp_path, n_ad=2, n_hc=3, sessions=2)


def _labelled(bids, scans_dir):
    scans = find_scans(scans_dir, TEMPLATE)
    labels = read_labels(bids, "diagnosis")
    return label_scans(scans, labels, ad_labels=["AD"], hc_labels=["CN"])[0]


def test_find_and_label_scans(toy):
    bids, scans_dir = toy
    scans = _labelled(bids, scans_dir)
    assert [s.prefix for s in scans[:3]] == ["sub-01_ses-1", "sub-01_ses-2", "sub-02_ses-1"]
    assert {(s.subject, CLASS_NAMES[s.label], s.value) for s in scans} == {
        ("01", "AD", "AD"), ("02", "AD", "AD"), ("03", "HC", "CN"), ("04", "HC", "CN"),
        ("05", "HC", "CN"),
    }  # fmt: skip
    assert default_bids_dir(scans_dir) == bids.resolve()


def test_bids_dir_from_the_derivatives_parent(tmp_path):
    (tmp_path / "raw" / "derivatives" / "simulation").mkdir(parents=True)
    (tmp_path / "raw" / "participants.tsv").write_text("participant_id\n")
    assert default_bids_dir(tmp_path / "raw" / "derivatives" / "simulation") == tmp_path / "raw"
    with pytest.raises(TrainingDataError, match="pass --bids-dir"):
        default_bids_dir(tmp_path)


def test_simulated_root_gets_a_hint(tmp_path):
    shape, affine = grid(8.0)
    sim = tmp_path / "derivatives" / "simulation" / "sub-1" / "anat"
    write_scan(sim / f"sub-1_space-{TEMPLATE}_desc-preproc_T1w.nii.gz", np.ones(shape), affine)
    with pytest.raises(TrainingDataError, match="a simulated dataset: pass .*simulation"):
        find_scans(tmp_path, TEMPLATE)


def test_other_labels_are_left_out(toy, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("bids_lrp"), "propagate", True)  # after a CLI test
    bids, scans_dir = toy
    labels = {**read_labels(bids, "diagnosis"), "05": "MCI"}
    scans, excluded = label_scans(
        find_scans(scans_dir, TEMPLATE), labels, ad_labels=["AD"], hc_labels=["CN"]
    )
    assert excluded == {"MCI": 1} and "05" not in {s.subject for s in scans}
    assert "MCI (1)" in caplog.text


def test_fingerprint_identifies_the_list(toy):
    bids, scans_dir = toy
    scans = _labelled(bids, scans_dir)
    fp = fingerprint(scans, column="diagnosis")
    lines = sorted(
        f"sub-{s.subject}\t{'ses-' + s.session}\t{s.prefix}\t{CLASS_NAMES[s.label]}" for s in scans
    )
    assert fp["sha256"] == hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest()
    assert fp["participants"] == [f"sub-0{i}" for i in range(1, 6)]
    assert fp["sessions"][:2] == ["sub-01/ses-1", "sub-01/ses-2"] and fp["n_scans"] == 10
    assert fp["classes"]["AD"] == {"participants": 2, "scans": 4, "values": ["AD"]}
    assert fingerprint(scans[::-1], column="diagnosis") == fp  # order does not matter
    relabelled = [s if s.subject != "01" else type(s)(**{**vars(s), "label": 0}) for s in scans]
    assert fingerprint(relabelled, column="diagnosis")["sha256"] != fp["sha256"]
    assert fingerprint(scans[1:], column="diagnosis")["sha256"] != fp["sha256"]


def test_network_grid_on_the_template():
    tpl = get_template(TEMPLATE)
    template = Grid(tpl.shape(), tpl.affine())
    one = network_grid(template, 1.0)
    assert one.same_as(template.shape, template.affine) and one.shape == (193, 229, 193)
    four = network_grid(template, 4.0)
    shape, affine = grid(4.0)  # the grid of tests/e2e/helpers.py::make_model
    assert four.same_as(shape, affine) and four.voxel_size == (4.0, 4.0, 4.0)


@pytest.mark.parametrize("resampling", ["linear", "antialiased"])
def test_training_inputs_are_the_inference_inputs(tmp_path, resampling):
    """The same file on a 4 mm model grid gives the same array here and in the explainer."""
    shape, affine = grid(1.0)
    data = np.zeros(shape, np.float32)
    data[40:150, 40:190, 30:160] = np.random.default_rng(0).random((110, 150, 130))
    path = write_scan(tmp_path / "sub-1" / "anat" / "x_preproc_T1w.nii", data, affine)
    scan = SimpleNamespace(path=path, prefix="sub-1")
    net_shape, net_affine = grid(4.0)
    card = SimpleNamespace(input_shape=net_shape, affine=net_affine, input_resampling=resampling)
    antialias = resampling == "antialiased"
    images, digests = load_scans([scan], Grid(net_shape, net_affine), resampling=resampling)
    expected = np.asarray(load_network_input(str(path), card)[1].dataobj)
    np.testing.assert_array_equal(images[0], expected)
    # Sampled, the 4 mm voxels keep the 1 mm noise (variance of uniform noise: 1/12);
    # low-passed, they average over about 4 mm.
    inner = images[0][12:34, 12:45, 10:38]
    assert (inner.var() < 0.02) == antialias
    assert digests == {"sub-1": hashlib.sha256(path.read_bytes()).hexdigest()}


def test_network_input_on_the_grid_is_the_scan_itself():
    """No resampling at all when the scan lies on the card's grid (the paper's 1 mm case)."""
    import nibabel as nib

    shape, affine = grid(4.0)
    img = nib.Nifti1Image(np.random.default_rng(0).random(shape).astype(np.float32), affine)
    card = SimpleNamespace(input_shape=list(shape), affine=affine.tolist())
    on_grid = Grid.of_card(card)
    assert on_grid.same_as(shape, affine) and on_grid.shape == tuple(shape)
    for resampling in ("linear", "antialiased"):
        assert network_input(img, on_grid, resampling) is img
    coarse = Grid(*grid(8.0))
    assert network_input(img, coarse).shape == coarse.shape
    with pytest.raises(ValueError, match="resampling must be one of"):
        network_input(img, coarse, "cubic")


def test_errors(toy, tmp_path):
    bids, scans_dir = toy
    with pytest.raises(TrainingDataError, match="no column 'dx'; columns: participant_id"):
        read_labels(bids, "dx")
    with pytest.raises(TrainingDataError, match="participants.tsv not found"):
        read_labels(tmp_path, "diagnosis")
    scans = find_scans(scans_dir, TEMPLATE)
    assert check_same_grid(scans).shape == grid(8.0)[0]
    shape, affine = grid(6.0)
    write_scan(scans[3].path, np.zeros(shape), affine)
    with pytest.raises(TrainingDataError, match="different grids: .* is .*at 6x6x6 mm"):
        check_same_grid(scans)
    bad = scans[0].path
    write_scan(bad, np.full(grid(8.0)[0], 7.0), grid(8.0)[1])
    with pytest.raises(TrainingDataError, match=r"values in \[7, 7\]: not a network input"):
        load_scans(scans[:1], Grid(*grid(8.0)))
    json.dumps(fingerprint(_labelled(bids, scans_dir), column="diagnosis"))


@pytest.mark.parametrize(
    "rows, message",
    [
        ("sub-01\tAD\tmore\tfields\n", "line 2 has 4 tab-separated fields, the header 2"),
        ("sub-01\tAD\n01\tHC\n", "lists 01 twice with different 'diagnosis' values"),
        ("n/a\tAD\n", "line 2 has no participant_id"),
    ],
)
def test_a_malformed_participants_table_is_refused(tmp_path, rows, message):
    (tmp_path / "participants.tsv").write_text("participant_id\tdiagnosis\n" + rows)
    with pytest.raises(TrainingDataError, match=message):
        read_labels(tmp_path, "diagnosis")


def test_participants_table_read_as_pandas_read_it(tmp_path):
    (tmp_path / "participants.tsv").write_text(
        "\ufeffparticipant_id\tdiagnosis\tage\r\nsub-01\tAD\t70\r\n\r\n02\tN/A\n03\tHC\n03\tHC\n"
        "sub-04\n"
    )
    assert read_labels(tmp_path, "diagnosis") == {"01": "AD", "02": None, "03": "HC", "04": None}
