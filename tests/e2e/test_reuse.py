"""``--derivatives``: sMRIPrep's transforms used instead of registering again."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from bids_lrp.cli.run import main
from bids_lrp.normalize import apply_transforms, load_t1w, mask_and_scale, n4_bias_correct
from bids_lrp.templates import template_images
from tests.e2e.helpers import make_dataset, make_model, make_smriprep

TPL = "MNI152NLin2009cAsym"


@pytest.fixture(scope="module")
def reused(tmp_path_factory):
    root = tmp_path_factory.mktemp("reuse")
    bids = make_dataset(root / "bids", n_subjects=1, seed=11)
    smriprep = make_smriprep(bids, root / "smriprep")
    model = make_model(root / "tiny.safetensors")
    out = root / "out"
    args = [str(bids), str(out), "participant", "-w", str(root / "work"), "--model", str(model),
            "--nprocs", "2", "--omp-nthreads", "1",
            "--derivatives", f"smriprep={smriprep}"]  # fmt: skip
    return root, bids, smriprep, out, main(args)


def test_the_given_transforms_replace_the_registration(reused):
    root, _, smriprep, out, code = reused
    assert code == 0
    anat = out / "sub-001" / "anat"
    given = smriprep / "sub-001" / "anat"
    for direction in (f"from-T1w_to-{TPL}", f"from-{TPL}_to-T1w"):
        name = f"sub-001_{direction}_mode-image_xfm.h5"
        assert (anat / name).read_bytes() == (given / name).read_bytes()
        sidecar = json.loads((anat / name.replace(".h5", ".json")).read_text())
        assert "sMRIPrep 0.16.1" in sidecar["Software"]
    assert not list(root.glob("work/**/register/"))  # no registration ran
    meta = json.loads((anat / f"sub-001_space-{TPL}_desc-LRPb0_relevance.json").read_text())
    assert "precomputed by sMRIPrep" in json.dumps(meta)


def test_outputs_equal_the_given_transform_applied_here(reused):
    _, bids, smriprep, out, _ = reused
    raw = load_t1w(bids / "sub-001" / "anat" / "sub-001_T1w.nii.gz")
    template, mask, _ = template_images(TPL)
    forward = [str(smriprep / "sub-001" / "anat" / f"sub-001_from-T1w_to-{TPL}_mode-image_xfm.h5")]
    expected = mask_and_scale(apply_transforms(n4_bias_correct(raw), template, forward), mask)
    preproc = nib.load(out / "sub-001" / "anat" / f"sub-001_space-{TPL}_desc-preproc_T1w.nii.gz")
    got, want = np.asarray(preproc.dataobj), np.asarray(expected.dataobj)
    assert np.abs(got - want).max() < 1e-3  # N4 threads aside, the same computation
    drawn = bids / "derivatives" / "simulation" / "sub-001" / "anat"
    truth = nib.load(drawn / f"sub-001_space-{TPL}_desc-noiseless_T1w.nii.gz")
    inside = np.asarray(mask.dataobj) > 0
    r = np.corrcoef(got[inside], np.asarray(truth.dataobj)[inside])[0, 1]
    assert r > 0.85  # the true transform puts the scan where it was drawn (2 mm, noise)


def test_a_folder_that_is_not_derivatives_is_one_line(tmp_path, capsys):
    bids = tmp_path / "nothing"
    bids.mkdir()
    code = main([str(tmp_path), str(tmp_path / "out"), "participant", "--derivatives",
                 f"x={bids}"])  # fmt: skip
    assert code == 64
    err = capsys.readouterr().err
    assert "not a BIDS derivatives dataset" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def chained(reused):
    """The layout sMRIPrep writes for several T1w: the image's affine onto a reference, and
    template transforms from that reference; together the same truth as in ``reused``."""
    root, bids, _, _, _ = reused
    smriprep = make_smriprep(bids, root / "smriprep-multi", reference_shift=(3.0, -2.0, 1.5))
    out = root / "out-multi"
    args = [str(bids), str(out), "participant", "-w", str(root / "work-multi"),
            "--model", str(root / "tiny.safetensors"), "--nprocs", "2", "--omp-nthreads", "1",
            "--derivatives", f"smriprep={smriprep}"]  # fmt: skip
    return smriprep, out, main(args)


def test_one_of_several_t1w_goes_through_its_affine_and_the_template_transform(reused, chained):
    _, _, _, direct, _ = reused
    smriprep, out, code = chained
    assert code == 0
    anat = out / "sub-001" / "anat"
    assert (
        smriprep / "sub-001" / "anat" / "sub-001_from-orig_to-T1w_mode-image_xfm.txt"
    ).is_file()
    names = [
        f"sub-001_space-{TPL}_desc-preproc_T1w.nii.gz",
        "sub-001_space-T1w_desc-LRPb0_relevance.nii.gz",
    ]
    for name in names:  # forward (template space) and inverse (the image's own grid)
        got = np.asarray(nib.load(anat / name).dataobj, dtype=np.float64)
        want = np.asarray(nib.load(direct / "sub-001" / "anat" / name).dataobj, dtype=np.float64)
        scale = np.abs(want).max()
        assert np.abs(got - want).max() < 1e-4 * scale, name
    # the transforms written: the template's and the affine, forward and back
    written = sorted(p.name for p in anat.glob("*_xfm.*") if not p.name.endswith(".json"))
    assert len(written) == 4, written
