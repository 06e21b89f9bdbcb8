"""Choosing the complete participant outputs and reading the labels."""

from __future__ import annotations

import shutil

import pytest

from bids_lrp.group.collect import collect_outputs
from bids_lrp.group.labels import read_labels
from bids_lrp.inputs import InputError
from tests.group.conftest import IMAGES, MODEL, SPACE, write_bids, write_image_outputs


def test_incomplete_image_is_skipped(tmp_path, fake_outputs):
    out = tmp_path / "out"
    shutil.copytree(fake_outputs, out)
    shutil.rmtree(out / "sub-03")
    write_image_outputs(out, IMAGES[3], skip=("desc-GuidedBackprop_relevance.nii.gz",))
    collection = collect_outputs(out)
    assert "sub-03_ses-1" not in [i.prefix for i in collection.images]
    assert "no GuidedBackprop relevance map" in collection.skipped["sub-03_ses-1"]
    assert collection.methods == ("LRPb0", "GuidedBackprop")
    assert (collection.space, collection.model) == (SPACE, MODEL)


def test_no_outputs_is_66(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(InputError, match="run the participant level first") as err:
        collect_outputs(tmp_path / "out")
    assert err.value.code == 66
    with pytest.raises(InputError) as err:
        collect_outputs(tmp_path / "missing")
    assert err.value.code == 66


def test_read_labels_maps_values(tmp_path):
    bids = write_bids(tmp_path / "bids")
    labels = read_labels(bids, None, ["AD"], ["HC", "CN"])
    assert labels.column == "diagnosis"
    assert labels.groups["sub-01"] == "AD" and labels.groups["sub-04"] == "HC"
    assert "sub-07" not in labels.groups and labels.other_values == {"MCI": 1}
    assert labels.listed[0] == "sub-01"
    custom = read_labels(bids, "diagnosis", ["AD", "MCI"], ["CN"])
    assert custom.groups["sub-07"] == "AD" and "sub-06" not in custom.groups


def test_labels_column_missing(tmp_path):
    bids = write_bids(tmp_path / "bids", column="group")
    default = read_labels(bids, None, ["AD"], ["HC"])
    assert default.column is None and "no column 'diagnosis'" in default.note
    with pytest.raises(InputError, match="no column 'dx'") as err:
        read_labels(bids, "dx", ["AD"], ["HC"])
    assert err.value.code == 64


def test_labels_without_participants_tsv(tmp_path):
    bids = write_bids(tmp_path / "bids")
    (bids / "participants.tsv").unlink()
    assert read_labels(bids, None, ["AD"], ["HC"]).column is None
    with pytest.raises(InputError) as err:
        read_labels(bids, "diagnosis", ["AD"], ["HC"])
    assert err.value.code == 66
    with pytest.raises(InputError) as err:
        read_labels(tmp_path / "nowhere", None, ["AD"], ["HC"])
    assert err.value.code == 16


def _labels_from(tmp_path, text: str, encoding: str = "utf-8"):
    bids = write_bids(tmp_path / "bids")
    (bids / "participants.tsv").write_bytes(text.encode(encoding))
    return read_labels(bids, None, ["AD"], ["HC", "CN"])


def test_read_labels_tolerates_bom_crlf_quotes_blank_and_short_rows(tmp_path):
    labels = _labels_from(
        tmp_path,
        'participant_id\tage\tdiagnosis\r\nsub-01\t70\t"AD"\r\n\r\n02\t71\r\nsub-03\t72\tCN\r\n',
        "utf-8-sig",
    )
    assert labels.groups == {"sub-01": "AD", "sub-03": "HC"}
    assert labels.listed == ("sub-01", "sub-02", "sub-03")  # sub-02: no value, not an error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("participant_id\tdiagnosis\tage\nsub-01\tAD\t70\tx\ty\n", "line 2 has 5 tab-sep"),
        ("participant_id\tdiagnosis\tdiagnosis\nsub-01\tAD\tCN\n", "repeats the column"),
        ("participant_id\tdiagnosis\nsub-01\tAD\nn/a\tCN\n", "line 3 has no participant_id"),
        ("participant_id\tdiagnosis\nsub-01\tAD\n01\tn/a\n", "'AD' (line 2) and 'n/a' (line 3)"),
        ("", "the file is empty"),
    ],
)
def test_read_labels_refuses_malformed_tables(tmp_path, text, expected):
    with pytest.raises(InputError, match="participants.tsv") as err:
        _labels_from(tmp_path, text)
    assert err.value.code == 64 and expected in str(err.value)


def test_read_labels_exact_duplicates_count_once(tmp_path, caplog):
    labels = _labels_from(tmp_path, "participant_id\tdiagnosis\nsub-01\tMCI\nsub-01\tMCI\n")
    assert labels.listed == ("sub-01",) and labels.other_values == {"MCI": 1}
    assert "twice with the same 'diagnosis' value (sub-01)" in caplog.text
