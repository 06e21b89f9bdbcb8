"""Dataset-level and per-scan files of a simulated cohort (raw BIDS + ground-truth derivative)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bids_lrp import __version__
from bids_lrp.names import image_prefix
from bids_lrp.safewrite import atomic_write_bytes
from bids_lrp.simulate.atrophy import AtrophyModel
from bids_lrp.simulate.bids import (
    itk_affine_text,
    itk_displacement_image,
    write_json,
    write_nifti,
    write_tsv,
)
from bids_lrp.simulate.destination import GENERATOR
from bids_lrp.simulate.plan import CohortConfig, ScanSpec
from bids_lrp.simulate.preproc import PREPROC_DESCRIPTION, true_pose_preproc
from bids_lrp.simulate.scan import ScanResult

__all__ = ["DERIVATIVE", "scan_prefix", "write_dataset_files", "write_scan"]

DERIVATIVE = Path("derivatives") / "simulation"
BIDS_VERSION = "1.10.0"
_GENERATED_BY = {"Name": GENERATOR, "Version": __version__}
#: Files BIDS has no name for yet (ITK transforms, volume-loss maps, the truth table).
_IGNORED = ("*_xfm.txt", "*_xfm.nii.gz", "*_xfm.json", "*_volumeloss.nii.gz", "*_volumeloss.json")
_BIDSIGNORE = "\n".join([*_IGNORED, "atrophy.tsv", "atrophy.json", ""])


def scan_prefix(spec: ScanSpec) -> str:
    """``sub-<label>[_ses-<label>]``."""
    return image_prefix({"sub": spec.subject, "ses": spec.session})


def _anat(root: Path, spec: ScanSpec) -> Path:
    folder = root / f"sub-{spec.subject}"
    if spec.session:
        folder = folder / f"ses-{spec.session}"
    return folder / "anat"


def _readme(config: CohortConfig, source: str) -> str:
    regions = ", ".join(config.atrophy_regions)
    return (
        "# Simulated T1w cohort with ground-truth atrophy\n\n"
        f"Made by bids_lrp-simulate {__version__}: {config.n_subjects} participants, AD fraction "
        f"{config.ad_fraction}, {config.sessions} session(s), seed {config.seed}.\n"
        f"Atrophied areas in AD (both hemispheres, Neuromorphometrics): {regions}; typical "
        f"volume loss {config.severity:.0%} at the first session.\n\n"
        f"Anatomy: the ICBM 2009c nonlinear asymmetric template (MNI152NLin2009cAsym, {source}) "
        "with smooth random deformations, size, pose, contrast, bias field, Rician noise and a "
        "synthetic head. These are not images of real people.\n\n"
        "The truth (atrophy maps, area masks, transforms, achieved volume loss) is in "
        "derivatives/simulation, with each scan aligned to the template by its true pose "
        "(desc-preproc: masked and min-max scaled, ready for bids_lrp-train).\n"
    )


def write_dataset_files(
    root: Path, config: CohortConfig, specs: list[ScanSpec], model: AtrophyModel
) -> None:
    """Write dataset_description, README, participants and the derivative's top-level files."""
    source = model.anatomy.template.source
    write_json(
        root / "dataset_description.json",
        {
            "Name": "bids_lrp simulated AD/CN cohort",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "License": "CC0",
            "Authors": ["bids_lrp developers", "bids_lrp-simulate"],
            "GeneratedBy": [_GENERATED_BY],
        },
    )
    atomic_write_bytes(root / "README", _readme(config, source).encode())
    first = {s.subject: s for s in specs if s.session in (None, "1")}
    participants = pd.DataFrame(
        {
            "participant_id": [f"sub-{s}" for s in first],
            "diagnosis": [s.diagnosis for s in first.values()],
            "age": [s.age for s in first.values()],
            "sex": [s.sex for s in first.values()],
        }
    )
    write_tsv(root / "participants.tsv", participants)
    write_json(
        root / "participants.json",
        {
            "diagnosis": {
                "Description": "Simulated diagnosis",
                "Levels": {
                    "AD": "Alzheimer's disease (planted atrophy)",
                    "CN": "cognitively normal",
                },
            },
            "age": {"Description": "Age at the first session", "Units": "year"},
            "sex": {"Description": "Sex", "Levels": {"F": "female", "M": "male"}},
        },
    )
    deriv = root / DERIVATIVE
    write_json(
        deriv / "dataset_description.json",
        {
            "Name": "bids_lrp-simulate ground truth",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "derivative",
            "GeneratedBy": [_GENERATED_BY],
            "SourceDatasets": [{"URL": "bids::"}],
            "Authors": ["bids_lrp developers", "bids_lrp-simulate"],
            "License": "CC0",
        },
    )
    atomic_write_bytes(deriv / ".bidsignore", _BIDSIGNORE.encode())
    atomic_write_bytes(deriv / "README", _readme(config, source).encode())
    labels = pd.DataFrame(
        {
            "index": list(range(1, len(model.areas) + 1)),
            "name": [a.name for a in model.areas],
            "atlas_indices": [" ".join(map(str, a.indices)) for a in model.areas],
        }
    )
    write_tsv(deriv / "desc-atrophy_dseg.tsv", labels)


def _sidecar(description: str, reference: str, **extra) -> dict:
    return {"Description": description, "SpatialReference": reference, **extra}


def write_scan(root: Path, result: ScanResult, model: AtrophyModel) -> pd.DataFrame:
    """Write the raw T1w and its ground truth; return the scan's rows of the truth table."""
    spec = result.spec
    prefix = scan_prefix(spec)
    anatomy = model.anatomy
    tpl = anatomy.template.name
    raw = _anat(root, spec)
    write_nifti(raw / f"{prefix}_T1w.nii.gz", result.t1w, result.native.affine)
    write_json(
        raw / f"{prefix}_T1w.json",
        {
            "MagneticFieldStrength": 3,
            "Manufacturer": "bids_lrp-simulate",
            "ManufacturersModelName": f"simulated {spec.protocol}",
            "PulseSequenceType": "simulated MPRAGE",
        },
    )
    out = _anat(root / DERIVATIVE, spec)
    native_ref = f"{prefix}_T1w.nii.gz"
    tpl_ref = f"{tpl} ({anatomy.template.source})"
    write_nifti(
        out / f"{prefix}_space-{tpl}_desc-noiseless_T1w.nii.gz",
        result.template_t1w,
        anatomy.grid.affine,
    )
    write_json(
        out / f"{prefix}_space-{tpl}_desc-noiseless_T1w.json",
        _sidecar(
            "Template-space truth: the template after this scan's contrast change and grey-matter "
            "partial-volume loss; no noise, bias, pose or shape change (the transforms undo "
            "those).",
            tpl_ref,
            SkullStripped=True,
        ),
    )
    for space, regions, loss, affine, ref in (
        (
            f"_space-{tpl}",
            result.template_regions,
            result.template_loss,
            anatomy.grid.affine,
            tpl_ref,
        ),
        (
            "",
            result.native_regions.astype(np.uint8),
            result.native_loss,
            result.native.affine,
            native_ref,
        ),
    ):
        write_nifti(
            out / f"{prefix}{space}_desc-atrophy_dseg.nii.gz", regions.astype(np.uint8), affine
        )
        write_json(
            out / f"{prefix}{space}_desc-atrophy_dseg.json",
            _sidecar("Areas where atrophy is planted in AD (labels: desc-atrophy_dseg.tsv).", ref),
        )
        write_nifti(out / f"{prefix}{space}_volumeloss.nii.gz", loss.astype(np.float32), affine)
        write_json(
            out / f"{prefix}{space}_volumeloss.json",
            _sidecar(
                "Local fractional tissue-volume loss 1 - 1/det(J); < 0 where tissue expands.", ref
            ),
        )
    _write_transforms(out, prefix, tpl, result, model)
    _write_preproc(out, prefix, tpl, result, model, tpl_ref)
    return pd.DataFrame(
        {
            "participant_id": f"sub-{spec.subject}",
            "session_id": f"ses-{spec.session}" if spec.session else "n/a",
            "diagnosis": spec.diagnosis,
            "region": [a.name for a in model.areas],
            "atlas_indices": [" ".join(map(str, a.indices)) for a in model.areas],
            "requested_loss": spec.volume_loss,
            "achieved_loss": result.losses,
            "template_volume_mm3": [
                a.volume * float(np.prod(anatomy.grid.zooms)) for a in model.areas
            ],
            "native_volume_mm3": [
                float((result.native_regions == i).sum() * np.prod(result.native.zooms))
                for i in range(1, len(model.areas) + 1)
            ],
        }
    )


def _write_preproc(
    out: Path, prefix: str, tpl: str, result: ScanResult, model: AtrophyModel, reference: str
) -> None:
    """The scan aligned by its true pose, masked and scaled (`bids_lrp.simulate.preproc`)."""
    anatomy = model.anatomy
    preproc = true_pose_preproc(
        result.t1w,
        result.native.affine,
        result.native_to_template_affine,
        anatomy.grid,
        anatomy.mask,
        bias=result.bias,
    )
    name = f"{prefix}_space-{tpl}_desc-preproc_T1w"
    write_nifti(out / f"{name}.nii.gz", preproc, anatomy.grid.affine)
    write_json(
        out / f"{name}.json",
        _sidecar(
            PREPROC_DESCRIPTION,
            reference,
            SkullStripped=True,
            Registration="affine",
            IntensityScaling="minmax-in-brain-mask",
            RawT1w=str(_anat(Path(), result.spec) / f"{prefix}_T1w.nii.gz"),
            TrueAffine=f"{prefix}_from-T1w_to-{tpl}_mode-image_desc-affine_xfm.txt",
        ),
    )


def _write_transforms(
    out: Path, prefix: str, tpl: str, result: ScanResult, model: AtrophyModel
) -> None:
    fields = model.anatomy.fields
    forward = f"{prefix}_from-T1w_to-{tpl}_mode-image"
    inverse = f"{prefix}_from-{tpl}_to-T1w_mode-image"
    pose = np.linalg.inv(result.native_to_template_affine)
    atomic_write_bytes(out / f"{forward}_desc-affine_xfm.txt", itk_affine_text(pose).encode())
    atomic_write_bytes(
        out / f"{inverse}_desc-affine_xfm.txt",
        itk_affine_text(result.native_to_template_affine).encode(),
    )
    write_nifti(
        out / f"{forward}_desc-warp_xfm.nii.gz",
        itk_displacement_image(result.template_to_native_field),
        fields.affine,
        intent=1007,
    )
    write_nifti(
        out / f"{inverse}_desc-warp_xfm.nii.gz",
        itk_displacement_image(result.native_to_template_field),
        fields.affine,
        intent=1007,
    )
    for name, order, note in (
        (
            forward,
            "-t {warp} -t {affine}",
            f"numerical inverse, max residual {result.inverse_error_mm:.3g} mm in the brain",
        ),
        (inverse, "-t {affine} -t {warp}", "exact (the map the T1w was rendered with)"),
    ):
        write_json(
            out / f"{name}_xfm.json",
            {
                "Description": "True transform, ITK/ANTs convention (LPS); the warp is a "
                "displacement field on a 2 mm grid, interpolated linearly.",
                "Accuracy": note,
                "antsApplyTransforms": order.format(
                    affine=f"{name}_desc-affine_xfm.txt", warp=f"{name}_desc-warp_xfm.nii.gz"
                ),
            },
        )
