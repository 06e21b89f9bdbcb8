"""Small models and fast simulated datasets for the participant-level tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from bids_lrp.model import build_model
from bids_lrp.model.checkpoint import ModelCard, save_checkpoint
from bids_lrp.simulate import simulate_cohort

#: Template grid of MNI152NLin2009cAsym at 1 mm: origin (-96, -132, -78), 193 x 229 x 193.
ORIGIN = (-96.0, -132.0, -78.0)
TEMPLATE_SHAPE = (193, 229, 193)
#: A small network (the paper's layout with thinner layers and pools of 2) for a coarse grid.
SMALL_NET = {"channels": [4, 4, 8, 8], "pools": [2, 2, 2, 2], "hidden": 8}


def make_model(
    path: Path,
    *,
    registration: str = "affine",
    grid_mm: float = 4.0,
    seed: int = 0,
    name: str = "tiny-test",
    net: dict | None = None,
    origin: tuple[float, float, float] = ORIGIN,
    extent: tuple[int, int, int] = TEMPLATE_SHAPE,
    **card_changes,
) -> Path:
    """Save a seeded random small model whose card grid is ``grid_mm`` on the template (or on
    the box of ``extent`` 1 mm voxels from ``origin``)."""
    shape = tuple(int(np.ceil(n / grid_mm)) for n in extent)
    net = dict(SMALL_NET if net is None else net)
    torch.manual_seed(seed)
    model = build_model("boehle2019", input_shape=shape, **net).eval()
    affine = np.diag([grid_mm, grid_mm, grid_mm, 1.0])
    affine[:3, 3] = origin
    card = {
        "name": name,
        "architecture": "boehle2019",
        "architecture_params": net,
        "input_shape": shape,
        "voxel_size": (grid_mm,) * 3,
        "affine": tuple(tuple(float(v) for v in row) for row in affine),
        "template": "MNI152NLin2009cAsym",
        "registration": registration,
        "intensity_scaling": "minmax-in-brain-mask",
        "class_names": ("HC", "AD"),
        "training_data": "none (random weights, tests only)",
        "intended_use": "tests",
    }
    card.update(card_changes)
    save_checkpoint(model, ModelCard(**card), path)
    return path


def downsample_t1w(path: Path, factor: int = 2) -> None:
    """Replace a T1w by every ``factor``-th voxel (same world extent; fast tests)."""
    img = nib.load(path)
    data = np.asarray(img.dataobj)[::factor, ::factor, ::factor]
    affine = img.affine.copy()
    affine[:3, :3] = affine[:3, :3] * factor
    out = nib.Nifti1Image(data.astype(np.float32), affine, img.header)
    out.set_data_dtype(np.float32)
    nib.save(out, path)


def make_dataset(
    root: Path, *, n_subjects: int = 2, seed: int = 0, factor: int = 2, sessions: int = 1
) -> Path:
    """A simulated BIDS dataset with downsampled T1w images (valid BIDS)."""
    simulate_cohort(root, n_subjects=n_subjects, seed=seed, sessions=sessions)
    for t1w in sorted(root.glob("sub-*/**/anat/*_T1w.nii.gz")):
        downsample_t1w(t1w, factor)
    return root


def common_args(model: Path) -> list[str]:
    """The options of the reference run (`reference_run`, tests/conftest.py)."""
    return ["--model", str(model), "--nprocs", "2", "--omp-nthreads", "1"]


def app_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("NIPYPE_NO_ET", "1")
    env.setdefault("MPLCONFIGDIR", "/tmp/bids_lrp-tests-mpl")
    return env


def run_app(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run the ``bids_lrp`` console script."""
    exe = Path(sys.executable).parent / "bids_lrp"
    return subprocess.run(
        [str(exe), *map(str, args)],
        capture_output=True,
        text=True,
        env=app_env(),
        check=False,
        **kwargs,
    )


def outputs_of(out_dir: Path) -> dict[str, Path]:
    """Relative path -> file, for every derivative file (logs excluded)."""
    return {
        str(p.relative_to(out_dir)): p
        for p in sorted(out_dir.rglob("*"))
        if p.is_file() and "logs" not in p.relative_to(out_dir).parts
    }


def assert_same_outputs(out: Path, reference: Path, subjects=("001", "002")) -> None:
    """The participants' outputs in ``out`` equal those in ``reference``, value for value."""
    got, ref = outputs_of(out), outputs_of(reference)
    tops = {f"sub-{s}" for s in subjects} | {f"sub-{s}.html" for s in subjects}
    ref = {k: v for k, v in ref.items() if k.split("/")[0] in tops}
    got_subjects = {k: v for k, v in got.items() if k.startswith("sub-")}
    assert sorted(got_subjects) == sorted(ref)
    # One ITK/torch thread per job and a fixed ANTs seed: a rerun gives the same numbers.
    for name, path in ref.items():
        made = got[name]
        if name.endswith(".nii.gz"):
            a, b = nib.load(made), nib.load(path)
            assert np.array_equal(a.affine, b.affine), name
            assert np.array_equal(np.asarray(a.dataobj), np.asarray(b.dataobj)), name
        elif name.endswith(".json"):
            assert json.loads(made.read_text()) == json.loads(path.read_text()), name
        else:  # TSV, transforms
            assert made.read_bytes() == path.read_bytes(), name
    assert got[".bidsignore"].read_bytes() == (reference / ".bidsignore").read_bytes()
    ours = json.loads((out / "dataset_description.json").read_text())
    theirs = json.loads((reference / "dataset_description.json").read_text())
    # the input folder may differ (a copy with bad images added); everything else may not
    assert ours.pop("SourceDatasets")[0]["URL"].startswith("file://")
    theirs.pop("SourceDatasets")
    assert ours == theirs


def make_smriprep(
    bids: Path,
    root: Path,
    template: str = "MNI152NLin2009cAsym",
    *,
    reference_shift: tuple[float, float, float] | None = None,
) -> Path:
    """sMRIPrep-style derivatives of a simulated dataset: the true transforms of each image as
    ITK composite ``.h5`` files under sMRIPrep's names (the simulator's truth stands in for a
    registration sMRIPrep would have done).

    ``reference_shift`` (mm) makes the layout sMRIPrep writes for several T1w images: the
    participant's reference ("T1w") is the image moved by a rotation and this shift, the
    image's ``from-orig_to-T1w`` affine is written beside, and the template transforms start
    from the reference, so that the chain of both is the truth again.
    """
    import ants

    extra = None
    if reference_shift is not None:
        angle = np.deg2rad(4.0)
        rotation = np.array(
            [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
        )
        extra = ants.create_ants_transform(
            transform_type="AffineTransform", dimension=3, matrix=rotation,
            translation=reference_shift,
        )  # fmt: skip

    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(
        json.dumps(
            {
                "Name": "sMRIPrep - stand-in",
                "BIDSVersion": "1.10.0",
                "DatasetType": "derivative",
                "GeneratedBy": [{"Name": "sMRIPrep", "Version": "0.16.1"}],
            }
        )
    )
    truth = bids / "derivatives" / "simulation"
    for described in sorted(truth.glob("sub-*/**/anat/*_mode-image_xfm.json")):
        steps = json.loads(described.read_text())["antsApplyTransforms"].split("-t ")[1:]
        transforms = []
        for step in (s.strip() for s in steps):
            path = described.parent / step
            if step.endswith(".txt"):
                transforms.append(ants.read_transform(str(path)))
            else:
                field = ants.image_read(str(path))
                transforms.append(ants.transform_from_displacement_field(field))
        anat = root / described.parent.relative_to(truth)
        anat.mkdir(parents=True, exist_ok=True)
        name = described.name.removesuffix(".json") + ".h5"
        if extra is not None:  # points: template -> image -> reference, and back
            forward = "_from-T1w_" in name
            transforms = [*transforms, extra.invert()] if forward else [extra, *transforms]
            prefix = name.split("_from-")[0]
            affine = anat / f"{prefix}_from-orig_to-T1w_mode-image_xfm.txt"
            ants.write_transform(extra, str(affine))
        ants.write_transform(ants.compose_ants_transforms(transforms), str(anat / name))
    return root


SYM = "MNI152NLin2009cSym"


def make_sym_templateflow(home: Path) -> Path:
    """A TemplateFlow folder with a stand-in MNI152NLin2009cSym (TemplateFlow's file names):
    the bundled ICBM 2009c asymmetric brain averaged with its left-right mirror (the grid is
    symmetric about x = 0), as the symmetric template is built; mask: its non-zero voxels."""
    from bids_lrp.templates import get_template

    asym = get_template("MNI152NLin2009cAsym")
    img = nib.load(asym.t1w)
    data = np.asarray(img.dataobj, dtype=np.float32)
    last = img.affine[0, 3] + img.affine[0, 0] * (data.shape[0] - 1)
    assert np.isclose(last, -img.affine[0, 3])
    sym = 0.5 * (data + data[::-1])
    folder = home / f"tpl-{SYM}"
    folder.mkdir(parents=True)
    nib.save(nib.Nifti1Image(sym, img.affine), folder / f"tpl-{SYM}_res-1_T1w.nii.gz")
    mask = nib.Nifti1Image((sym > 0).astype(np.uint8), img.affine)
    nib.save(mask, folder / f"tpl-{SYM}_res-1_desc-brain_mask.nii.gz")
    return home


def make_caps(
    bids: Path, root: Path, *, old_names: bool = False, sessions: tuple[str, ...] | None = None
) -> Path:
    """A CAPS folder of Clinica's t1-linear for a simulated dataset with sessions: each image's
    affine as the ANTs ``.mat`` t1-linear keeps (the simulator's true affine stands in for the
    registration; its small nonlinear warp is left out), and the cropped image t1-linear
    writes (bias-corrected, through that affine, on the CAPS grid). ``old_names`` keeps the
    ``_T1w`` in the names and writes no description, as older Clinica releases did;
    ``sessions`` (labels) limits the folder to those sessions."""
    import ants

    from bids_lrp.model.clinicadl import CAPS_GRID
    from bids_lrp.normalize import apply_transforms, load_t1w, n4_bias_correct, resample_to_grid
    from bids_lrp.templates import template_images

    template, _, _ = template_images(SYM)
    root.mkdir(parents=True)
    description = {"Name": "CAPS stand-in", "BIDSVersion": "1.7.0", "CAPSVersion": "1.0.0",
                   "DatasetType": "derivative"}  # fmt: skip
    if not old_names:
        (root / "dataset_description.json").write_text(json.dumps(description))
    truth = bids / "derivatives" / "simulation"
    for affine in sorted(truth.glob("sub-*/ses-*/anat/*_from-T1w_to-*_desc-affine_xfm.txt")):
        prefix = affine.name.split("_from-")[0]
        sub, ses = prefix.split("_")[:2]
        if sessions is not None and ses.removeprefix("ses-") not in sessions:
            continue
        source = f"{prefix}_T1w" if old_names else prefix
        folder = root / "subjects" / sub / ses / "t1_linear"
        folder.mkdir(parents=True)
        mat = folder / f"{source}_space-{SYM}_res-1x1x1_affine.mat"
        ants.write_transform(ants.read_transform(str(affine)), str(mat))
        raw = load_t1w(next(bids.glob(f"{sub}/{ses}/anat/{prefix}_T1w.nii.gz")))
        warped = apply_transforms(n4_bias_correct(raw), template, [str(mat)])
        crop = resample_to_grid(warped, CAPS_GRID.shape, CAPS_GRID.affine)
        nib.save(crop, folder / f"{source}_space-{SYM}_desc-Crop_res-1x1x1_T1w.nii.gz")
    return root
