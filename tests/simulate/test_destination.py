"""The output folder: which may be replaced, and all-or-nothing writing (no images made)."""

from __future__ import annotations

import json

import pytest

from bids_lrp.simulate.destination import check_output_dir, is_simulated_dataset, staged_output
from bids_lrp.simulate.plan import SimulationError

OURS = {"DatasetType": "raw", "GeneratedBy": [{"Name": "bids_lrp-simulate", "Version": "0"}]}


def _dataset(folder, description):
    folder.mkdir(parents=True, exist_ok=True)
    text = description if isinstance(description, str) else json.dumps(description)
    (folder / "dataset_description.json").write_text(text)
    return folder


@pytest.mark.parametrize(
    ("description", "ours"),
    [
        (OURS, True),
        ({**OURS, "GeneratedBy": [{"Name": "fMRIPrep"}, {"Name": "bids_lrp-simulate"}]}, True),
        ({**OURS, "DatasetType": "derivative"}, False),
        ({"DatasetType": "raw", "GeneratedBy": [{"Name": "fMRIPrep"}]}, False),
        ({"DatasetType": "raw", "GeneratedBy": "bids_lrp-simulate"}, False),
        ({"DatasetType": "raw"}, False),
        ("{not json", False),
        ("[]", False),
    ],
)
def test_is_simulated_dataset(tmp_path, description, ours):
    assert is_simulated_dataset(_dataset(tmp_path / "d", description)) is ours


def test_check_output_dir(tmp_path):
    check_output_dir(tmp_path / "absent", overwrite=False)
    check_output_dir(tmp_path, overwrite=False)  # empty
    (tmp_path / ".bids_lrp-simulate-partial-0").mkdir()  # left by a killed run
    check_output_dir(tmp_path, overwrite=False)
    (tmp_path / "thesis.txt").write_text("x")
    with pytest.raises(SimulationError, match="not empty"):
        check_output_dir(tmp_path, overwrite=False)
    with pytest.raises(SimulationError, match="not a dataset made by bids_lrp-simulate"):
        check_output_dir(tmp_path, overwrite=True)
    with pytest.raises(SimulationError, match="not a folder"):
        check_output_dir(tmp_path / "thesis.txt", overwrite=True)
    check_output_dir(_dataset(tmp_path / "sim", OURS), overwrite=True)


def test_staged_output_replaces_contents_when_done(tmp_path):
    out = _dataset(tmp_path / "sim", OURS)
    (out / "sub-01").mkdir()
    (out / ".bids_lrp-simulate-partial-0").mkdir()  # left by a killed run
    with staged_output(out) as root:
        assert root.parent == out and root.name.startswith(".")
        (root / "sub-02").mkdir()
        (root / "dataset_description.json").write_text("new")
        assert not (out / "sub-02").exists()
    assert sorted(p.name for p in out.iterdir()) == ["dataset_description.json", "sub-02"]
    assert (out / "dataset_description.json").read_text() == "new"


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_staged_output_removes_only_its_own_files_on_error(tmp_path, error):
    out = _dataset(tmp_path / "sim", OURS)
    (out / "keep.txt").write_text("mine")
    with pytest.raises(error), staged_output(out) as root:
        (root / "participants.tsv").write_text("half")
        raise error
    assert sorted(p.name for p in out.iterdir()) == ["dataset_description.json", "keep.txt"]
    fresh = tmp_path / "a" / "b"
    with pytest.raises(error), staged_output(fresh) as root:
        (root / "dataset_description.json").write_text("half")
        raise error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim"]  # a/ and a/b/ were made by it
