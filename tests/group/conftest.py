"""Small fake participant outputs for the group level (written directly, no pipeline run)."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from bids_lrp.regions import region_table

SHAPE = (10, 12, 10)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
AFFINE[:3, 3] = (-10.0, -12.0, -10.0)
SPACE = "MNI152NLin2009cAsym"
ATLAS = "Neuromorphometrics"
METHODS = ("LRPb0", "GuidedBackprop")
MODEL = "tinytest"
#: A tiny atlas: both hemispheres of two areas and one midline area (3 merged areas).
LABEL_TABLE = pd.DataFrame(
    {
        "index": [1, 2, 3, 4, 5],
        "name": [
            "Left_Hippocampus",
            "Right_Hippocampus",
            "Left_Amygdala",
            "Right_Amygdala",
            "Brain_Stem",
        ],
    }
)


def atlas_labels() -> np.ndarray:
    """Label image on `SHAPE`: five slabs along x, background at the borders."""
    labels = np.zeros(SHAPE, dtype=np.int16)
    for i in range(5):
        labels[2 * i : 2 * i + 2, 1:-1, 1:-1] = i + 1
    labels[:, 0, :] = 0
    return labels


@dataclass(frozen=True)
class Image:
    """One fake image: its participant, session, diagnosis and predicted probability of AD."""

    sub: str
    ses: str | None
    diagnosis: str | None
    p_ad: float

    @property
    def prefix(self) -> str:
        return f"sub-{self.sub}" + (f"_ses-{self.ses}" if self.ses else "")


#: AD: 01 (two sessions), 02, 03; HC (CN): 04, 05, 06; unusual value "MCI": 07.
IMAGES = (
    Image("01", "1", "AD", 0.95),
    Image("01", "2", "AD", 0.97),
    Image("02", "1", "AD", 0.40),
    Image("03", "1", "AD", 0.92),
    Image("04", "1", "CN", 0.10),
    Image("05", "1", "CN", 0.70),
    Image("06", "1", "HC", 0.20),
    Image("07", "1", "MCI", 0.55),
)


def relevance(image: Image, method: str) -> np.ndarray:
    """A seeded map with more relevance in the hippocampus slabs for AD."""
    seed = zlib.crc32(f"{image.prefix}/{method}".encode())
    rng = np.random.default_rng(seed)
    data = rng.random(SHAPE).astype(np.float32)
    if image.diagnosis == "AD":
        data[0:4] *= 3
    if method == "GuidedBackprop":
        data *= 0.5
    return data


def write_image_outputs(out: Path, image: Image, *, skip: tuple[str, ...] = ()) -> None:
    """Write the participant level's files for one image (``skip``: name parts to leave out)."""
    anat = out / f"sub-{image.sub}" / (f"ses-{image.ses}" if image.ses else "") / "anat"
    anat.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes | str] = {}
    predicted = "AD" if image.p_ad >= 0.5 else "HC"
    files[f"desc-{MODEL}_predictions.tsv"] = (
        "model\ttarget_class\tpredicted_class\tprobability_HC\tprobability_AD\tlogit_HC\t"
        f"logit_AD\ntiny-test\tAD\t{predicted}\t{1 - image.p_ad:.6f}\t{image.p_ad:.6f}\t0\t0\n"
    )
    files[f"desc-{MODEL}_predictions.json"] = "{}"
    files[f"space-{SPACE}_desc-preproc_T1w.nii.gz"] = b""
    files[f"space-{SPACE}_desc-preproc_T1w.json"] = "{}"
    for method in METHODS:
        data = relevance(image, method)
        img = nib.Nifti1Image(data, AFFINE)
        img.header.set_data_dtype(np.float32)
        stem = f"space-{SPACE}_desc-{method}_relevance"
        files[f"{stem}.nii.gz"] = img
        lrp = method == "LRPb0"  # the paper's targets: AD for LRP, the predicted class for GB
        files[f"{stem}.json"] = json.dumps(
            {
                "Method": method,
                "MethodParameters": {},
                "TargetClass": "AD" if lrp else predicted,
                "TargetSelection": "given class" if lrp else "predicted class",
            }
        )
        files[f"space-T1w_desc-{method}_relevance.nii.gz"] = b""
        table = region_table(data, atlas_labels(), LABEL_TABLE, 8.0)
        files[f"space-{SPACE}_atlas-{ATLAS}_desc-{method}_relevance.tsv"] = table.to_csv(
            sep="\t", index=False, na_rep="n/a", float_format="%.8g"
        )
    for name, content in files.items():
        if any(part in name for part in skip):
            continue
        path = anat / f"{image.prefix}_{name}"
        if isinstance(content, nib.Nifti1Image):
            nib.save(content, path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def write_bids(root: Path, images=IMAGES, *, column: str = "diagnosis") -> Path:
    """A raw dataset with participants.tsv (one row per participant of ``images``)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "fake", "BIDSVersion": "1.10.0"})
    )
    rows = {}
    for image in images:
        rows.setdefault(f"sub-{image.sub}", image.diagnosis or "n/a")
    lines = [f"participant_id\t{column}\tage"] + [f"{p}\t{d}\t70" for p, d in rows.items()]
    (root / "participants.tsv").write_text("\n".join(lines) + "\n")
    return root


def write_outputs(out: Path, images=IMAGES) -> Path:
    """A derivatives folder with every image's outputs."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "dataset_description.json").write_text(
        json.dumps({"Name": "bids_lrp derivatives", "DatasetType": "derivative"})
    )
    for image in images:
        write_image_outputs(out, image)
    return out


@pytest.fixture(scope="session")
def fake_outputs(tmp_path_factory) -> Path:
    """Outputs of `IMAGES` (read-only: copy before changing)."""
    return write_outputs(tmp_path_factory.mktemp("group") / "out")


@pytest.fixture(scope="session")
def fake_bids(tmp_path_factory) -> Path:
    return write_bids(tmp_path_factory.mktemp("group") / "bids")


@pytest.fixture
def no_report(monkeypatch):
    """Keep the group report out of these tests (it is tested with the reports)."""
    from bids_lrp.group.run import NoReport
    from bids_lrp.reports import background

    monkeypatch.setattr(background, "GroupReport", NoReport)
