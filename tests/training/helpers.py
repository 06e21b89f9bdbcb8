"""Toy training data: template-space scans in a derivatives folder, labels in a raw dataset."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

TEMPLATE = "MNI152NLin2009cAsym"
#: Origin and 1 mm shape of the template grid (the network grids share its origin).
ORIGIN = (-96.0, -132.0, -78.0)
TEMPLATE_SHAPE = (193, 229, 193)
#: A network small enough for an 8 mm grid (25 x 29 x 25): three blocks.
NET_8MM = ["--channels", "4", "8", "8", "--pools", "2", "2", "2", "--hidden", "8"]


def grid(grid_mm: float) -> tuple[tuple[int, ...], np.ndarray]:
    """Shape and affine of the template grid at ``grid_mm`` (as `network_grid` makes it)."""
    shape = tuple(int(np.ceil(n / grid_mm - 1e-6)) for n in TEMPLATE_SHAPE)
    affine = np.diag([grid_mm, grid_mm, grid_mm, 1.0])
    affine[:3, 3] = ORIGIN
    return shape, affine


def toy_image(rng: np.random.Generator, shape, ad: bool, *, blob: bool = True) -> np.ndarray:
    """A noisy ellipsoid 'brain' in [0, 1]; AD images get a bright blob off the midline."""
    idx = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    inside = (idx**2).sum(axis=0) < 0.8
    image = np.where(inside, 0.4 + 0.1 * rng.standard_normal(shape), 0.0)
    if blob and ad:
        centre = np.array([-0.3, -0.1, -0.2])[:, None, None, None]
        image += 0.5 * np.exp(-((idx - centre) ** 2).sum(axis=0) / 0.02)
    image = np.clip(image, 0, None) * inside
    return (image / image.max()).astype(np.float32)


def write_scan(path: Path, data: np.ndarray, affine: np.ndarray, meta: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(data.astype(np.float32), affine)
    img.header.set_xyzt_units("mm")
    nib.save(img, path)
    sidecar = {"SkullStripped": True, "Template": {"Name": TEMPLATE, "Registration": "affine"}}
    path.with_name(path.name.split(".")[0] + ".json").write_text(
        json.dumps(sidecar if meta is None else meta)
    )
    return path


def make_toy_dataset(
    root: Path,
    *,
    n_ad: int = 4,
    n_hc: int = 4,
    sessions: int = 1,
    grid_mm: float = 8.0,
    seed: int = 0,
    labels: Sequence[str] | None = None,
    blob: bool = True,
) -> tuple[Path, Path]:
    """``root/bids`` (participants.tsv) and ``root/bids/derivatives/bids_lrp`` (the scans).

    Returns the raw dataset and the scans folder. ``labels`` overrides the diagnosis values
    (``AD`` then ``CN`` by default, one per participant).
    """
    rng = np.random.default_rng(seed)
    bids = root / "bids"
    scans = bids / "derivatives" / "bids_lrp"
    scans.mkdir(parents=True)
    (bids / "dataset_description.json").write_text(
        json.dumps({"Name": "toy", "BIDSVersion": "1.10.0"})
    )
    (scans / "dataset_description.json").write_text(
        json.dumps(
            {
                "Name": "bids_lrp derivatives",
                "BIDSVersion": "1.10.0",
                "DatasetType": "derivative",
                "GeneratedBy": [{"Name": "bids_lrp"}],
                "SourceDatasets": [{"URL": bids.resolve().as_uri()}],
            }
        )
    )
    values = list(labels) if labels is not None else ["AD"] * n_ad + ["CN"] * n_hc
    rows = ["participant_id\tdiagnosis"]
    shape, affine = grid(grid_mm)
    for i, value in enumerate(values, start=1):
        sub = f"{i:02d}"
        rows.append(f"sub-{sub}\t{value}")
        for ses in range(1, sessions + 1):
            folder = scans / f"sub-{sub}"
            prefix = f"sub-{sub}"
            if sessions > 1:
                folder, prefix = folder / f"ses-{ses}", f"{prefix}_ses-{ses}"
            data = toy_image(rng, shape, value == "AD", blob=blob)
            name = f"{prefix}_space-{TEMPLATE}_desc-preproc_T1w.nii.gz"
            write_scan(folder / "anat" / name, data, affine)
    (bids / "participants.tsv").write_text("\n".join(rows) + "\n")
    return bids, scans
