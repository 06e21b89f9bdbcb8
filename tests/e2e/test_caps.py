"""``--derivatives`` with a Clinica CAPS folder: t1-linear's affines instead of registering,
for a model card in MNI152NLin2009cSym with ClinicaDL's min-max scaling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bids_lrp.grid import Grid
from bids_lrp.model.checkpoint import load_checkpoint
from bids_lrp.model.clinicadl import CAPS_GRID
from bids_lrp.model.network_input import network_input
from bids_lrp.normalize import apply_transforms, load_t1w, n4_bias_correct, scale_for_network
from bids_lrp.templates import template_images
from tests.e2e.helpers import (
    SYM,
    app_env,
    make_caps,
    make_dataset,
    make_model,
    make_sym_templateflow,
)

ORIGIN = tuple(float(v) for v in CAPS_GRID.affine[:3, 3])
PREFIX = "sub-001_ses-1"


@pytest.fixture(scope="module")
def caps_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("caps")
    home = make_sym_templateflow(root / "templateflow")
    mp = pytest.MonkeyPatch()
    mp.setenv("TEMPLATEFLOW_HOME", str(home))  # for the expected values computed here
    template_images.cache_clear()
    bids = make_dataset(root / "bids", n_subjects=1, seed=11, sessions=2)
    caps = make_caps(bids, root / "caps", sessions=("1",))
    model = make_model(root / "conv.safetensors", grid_mm=3.0, origin=ORIGIN,
                       extent=CAPS_GRID.shape, template=SYM,
                       intensity_scaling="minmax")  # fmt: skip
    out = root / "out"
    args = [str(bids), str(out), "participant", "-w", str(root / "work"), "--model", str(model),
            "--template", SYM, "--session-label", "1", "--methods", "boehle2019",
            "--nprocs", "2", "--omp-nthreads", "1",
            "--derivatives", f"clinicadl={caps}"]  # fmt: skip
    env = {**app_env(), "TEMPLATEFLOW_HOME": str(home)}
    exe = Path(sys.executable).parent / "bids_lrp"
    done = subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, check=False)
    yield root, bids, caps, model, out, done
    mp.undo()
    template_images.cache_clear()


def test_the_t1_linear_affine_replaces_the_registration(caps_run):
    root, _, caps, _, out, done = caps_run
    assert done.returncode == 0, done.stderr
    anat = out / "sub-001" / "ses-1" / "anat"
    given = caps / "subjects" / "sub-001" / "ses-1" / "t1_linear"
    mat = given / f"{PREFIX}_space-{SYM}_res-1x1x1_affine.mat"
    forward = anat / f"{PREFIX}_from-T1w_to-{SYM}_mode-image_xfm.mat"
    inverse = anat / f"{PREFIX}_from-{SYM}_to-T1w_mode-image_xfm.mat"
    assert forward.read_bytes() == mat.read_bytes()
    import ants

    there, back = ants.read_transform(str(forward)), ants.read_transform(str(inverse))
    for point in ([10.0, -20.0, 30.0], [-60.0, 45.0, -5.0]):  # the inverse undoes the affine
        moved = there.apply_to_point(point)
        assert np.linalg.norm(np.subtract(moved, point)) > 0.5
        assert np.allclose(back.apply_to_point(moved), point, atol=1e-4)
    sidecar = json.loads(forward.with_suffix(".json").read_text())
    assert "Clinica t1-linear (CAPS 1.0.0)" in sidecar["Software"]
    assert "--derivatives clinicadl" in sidecar["Software"]
    assert not list(root.glob("work/**/register/"))  # no registration ran
    assert not (out / "sub-001" / "ses-2").exists()  # --session-label 1


def test_outputs_equal_the_affine_applied_here_and_scaled_as_clinicadl(caps_run):
    _, bids, caps, model, out, _ = caps_run
    anat = out / "sub-001" / "ses-1" / "anat"
    raw = load_t1w(bids / "sub-001" / "ses-1" / "anat" / f"{PREFIX}_T1w.nii.gz")
    template, mask, source = template_images(SYM)
    assert source == "templateflow"
    mat = caps / "subjects" / "sub-001" / "ses-1" / "t1_linear"
    mat = mat / f"{PREFIX}_space-{SYM}_res-1x1x1_affine.mat"
    warped = apply_transforms(n4_bias_correct(raw), template, [str(mat)])
    card_grid = Grid.of_card(load_checkpoint(model, device="cpu")[1])
    expected = scale_for_network(warped, mask, "minmax", card_grid)
    preproc = nib.load(anat / f"{PREFIX}_space-{SYM}_desc-preproc_T1w.nii.gz")
    got, want = np.asarray(preproc.dataobj), np.asarray(expected.dataobj)
    assert np.abs(got - want).max() < 1e-3  # N4 threads aside, the same computation
    # what the network sees spans [0, 1]; nothing is masked (ClinicaDL scales the whole crop)
    seen = np.asarray(network_input(preproc, card_grid).dataobj)
    assert abs(seen.min()) < 1e-6 and abs(seen.max() - 1) < 1e-6
    box = np.zeros(got.shape, bool)
    box[tuple(slice(s, s + n) for s, n in zip((12, 13, 0), CAPS_GRID.shape, strict=True))] = True
    assert got[box & (np.asarray(mask.dataobj) == 0)].max() > 0.1  # not brain-masked
    # on ClinicaDL's own 1 mm grid the input is its cropped image, min-max scaled
    crop = caps / "subjects" / "sub-001" / "ses-1" / "t1_linear"
    crop = crop / f"{PREFIX}_space-{SYM}_desc-Crop_res-1x1x1_T1w.nii.gz"
    crop = np.asarray(nib.load(crop).dataobj)
    clinicadl = (crop - crop.min()) / (crop.max() - crop.min())
    ours = network_input(scale_for_network(warped, mask, "minmax", CAPS_GRID), CAPS_GRID)
    assert np.abs(np.asarray(ours.dataobj) - clinicadl).max() < 1e-3
    sidecar = json.loads((anat / f"{PREFIX}_space-{SYM}_desc-preproc_T1w.json").read_text())
    assert sidecar["SkullStripped"] is False and "ClinicaDL" in sidecar["Description"]


def test_maps_tables_and_report_in_the_symmetric_space(caps_run):
    _, _, _, _, out, _ = caps_run
    anat = out / "sub-001" / "ses-1" / "anat"
    relevance = nib.load(anat / f"{PREFIX}_space-{SYM}_desc-LRPb0_relevance.nii.gz")
    template, _, _ = template_images(SYM)
    assert Grid(relevance.shape[:3], relevance.affine).same_as(template.shape, template.affine)
    native = nib.load(anat / f"{PREFIX}_space-T1w_desc-LRPb0_relevance.nii.gz")
    assert np.abs(np.asarray(native.dataobj)).sum() > 0  # back through the inverted affine
    meta = json.loads((anat / f"{PREFIX}_space-{SYM}_desc-LRPb0_relevance.json").read_text())
    assert meta["Template"]["Name"] == SYM and meta["Template"]["Source"] == "templateflow"
    assert "precomputed by Clinica t1-linear" in json.dumps(meta)
    # the network sees the whole head: its relevance outside the brain is kept and measured
    assert meta["RelevanceOutsideBrainRemoved"] is False and meta["RelevanceOutsideBrain"] > 0
    _, mask, _ = template_images(SYM)
    outside = np.asarray(mask.dataobj) == 0
    assert np.abs(np.asarray(relevance.dataobj)[outside]).sum() > 0
    table = anat / f"{PREFIX}_space-{SYM}_atlas-Neuromorphometrics_desc-LRPb0_relevance.tsv"
    assert len(table.read_text().splitlines()) > 50  # the atlas placed on the Sym grid
    assert (out / "sub-001.html").is_file()
