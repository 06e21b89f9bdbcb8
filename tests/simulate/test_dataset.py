"""The simulated dataset is valid BIDS and its files are where they should be."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

VALIDATOR = Path(sys.executable).parent / "bids-validator-deno"


def _errors(path: Path) -> list[tuple[str, str]]:
    proc = subprocess.run(
        [str(VALIDATOR), str(path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(proc.stdout)
    return [
        (i["code"], i.get("location", ""))
        for i in report["issues"]["issues"]
        if i["severity"] == "error"
    ]


@pytest.mark.slow
def test_raw_dataset_passes_bids_validator(cohort):
    root, _ = cohort
    assert _errors(root) == []


@pytest.mark.slow
def test_ground_truth_is_a_valid_derivative_dataset(cohort):
    root, _ = cohort
    deriv = root / "derivatives" / "simulation"
    description = json.loads((deriv / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert _errors(deriv) == []


def test_validator_reports_errors_on_a_broken_copy(cohort, tmp_path):
    """The validator check can fail: a dataset without its description is rejected."""
    root, _ = cohort
    broken = tmp_path / "broken"
    (broken / "sub-001" / "anat").mkdir(parents=True)
    src = root / "sub-001" / "ses-1" / "anat" / "sub-001_ses-1_T1w.nii.gz"
    (broken / "sub-001" / "anat" / "sub-001_T1w.nii.gz").write_bytes(src.read_bytes())
    assert _errors(broken) != []


def test_participants_and_scans(cohort):
    root, truth = cohort
    participants = pd.read_csv(root / "participants.tsv", sep="\t")
    assert list(participants.columns) == ["participant_id", "diagnosis", "age", "sex"]
    assert sorted(participants["diagnosis"]) == ["AD", "CN"]
    assert set(participants["sex"]) <= {"F", "M"}
    for sub in participants["participant_id"]:
        for ses in ("ses-1", "ses-2"):
            anat = root / sub / ses / "anat"
            assert (anat / f"{sub}_{ses}_T1w.nii.gz").is_file()
            assert (anat / f"{sub}_{ses}_T1w.json").is_file()
    assert len(truth) == 2 * 2 * 4  # subjects x sessions x default areas
