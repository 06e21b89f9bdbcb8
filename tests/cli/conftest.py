"""A tiny hand-made BIDS dataset and model for the command-line checks (no processing)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.e2e.helpers import make_model


def _write_dataset(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "tiny", "BIDSVersion": "1.10.0", "Authors": ["x"]})
    )
    (root / "README").write_text("tiny test dataset\n")
    (root / "participants.tsv").write_text("participant_id\nsub-01\nsub-02\n")
    rng = np.random.default_rng(0)
    for sub, suffix in (("01", "T1w"), ("02", "T2w")):
        anat = root / f"sub-{sub}" / "anat"
        anat.mkdir(parents=True)
        img = nib.Nifti1Image(rng.random((8, 8, 8)).astype(np.float32), np.eye(4))
        img.header.set_xyzt_units("mm")
        nib.save(img, anat / f"sub-{sub}_{suffix}.nii.gz")
        (anat / f"sub-{sub}_{suffix}.json").write_text("{}")
    return root


@pytest.fixture(scope="session")
def tiny_bids(tmp_path_factory) -> Path:
    """sub-01 has a T1w, sub-02 only a T2w."""
    return _write_dataset(tmp_path_factory.mktemp("tiny") / "bids")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")
