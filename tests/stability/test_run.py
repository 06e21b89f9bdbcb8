"""``bids_lrp-stability`` on a participant-level output (two images, three small models)."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from bids_lrp.explain import explain_image
from bids_lrp.stability.cli import main
from tests.e2e.helpers import make_model

TPL = "MNI152NLin2009cAsym"


@pytest.fixture(scope="module")
def derivatives(explain_inputs, tmp_path_factory):
    _, files = explain_inputs
    root = tmp_path_factory.mktemp("stability") / "out"
    for sub, path in zip(("01", "02"), files, strict=True):
        anat = root / f"sub-{sub}" / "anat"
        anat.mkdir(parents=True)
        shutil.copy(path, anat / f"sub-{sub}_space-{TPL}_desc-preproc_T1w.nii.gz")
    return root


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("fold-models")
    return [make_model(root / f"m_fold-{k}.safetensors", seed=k) for k in (1, 2, 3)]


def test_mean_agreement_and_areas_per_image(derivatives, models, tmp_path, capsys):
    out = tmp_path / "stability"
    argv = [str(derivatives), str(out), "--models", *map(str, models), "--bootstrap", "50"]
    assert main(argv) == 0
    anat = out / "sub-01" / "anat"
    mean = nib.load(anat / f"sub-01_space-{TPL}_desc-LRPb0Mean_relevance.nii.gz")
    preproc = derivatives / "sub-01" / "anat" / f"sub-01_space-{TPL}_desc-preproc_T1w.nii.gz"
    one_by_one = []
    for k, model in enumerate(models):
        result = explain_image(
            str(preproc), str(model), "", ["boehle2019"], "AD", out_dir=str(tmp_path / f"m{k}")
        )
        one_by_one.append(np.asarray(nib.load(result["relevance"][0]).dataobj, np.float64))
    expected = np.mean(one_by_one, axis=0)
    np.testing.assert_allclose(np.asarray(mean.dataobj), expected, rtol=1e-5, atol=1e-12)
    agree = np.asarray(
        nib.load(anat / f"sub-01_space-{TPL}_desc-LRPb0Agreement_relevance.nii.gz").dataobj
    )
    assert set(np.round(np.unique(agree) * 3).astype(int)) <= {0, 1, 2, 3} and agree.max() > 0
    table = pd.read_csv(
        anat / f"sub-01_space-{TPL}_atlas-Neuromorphometrics_desc-LRPb0_stability.tsv", sep="\t"
    )
    assert list(table["rank"]) == list(range(1, len(table) + 1))
    assert (table["rank_low"] <= table["rank_high"]).all() and table["rank_low"].min() >= 1
    assert table["finding"].sum() == 10
    summary = pd.read_csv(out / "stability.tsv", sep="\t")
    assert list(summary["image"]) == ["sub-01", "sub-02"]
    assert (summary["n_models"] == 3).all() and summary["map_spearman"].between(-1, 1).all()
    assert (out / "dataset_description.json").is_file()
    assert "*_stability.*" in (out / ".bidsignore").read_text().splitlines()
    assert capsys.readouterr().out.startswith("summary:")


def test_mistakes_are_one_line(derivatives, models, tmp_path, capsys):
    def run(*argv):
        code = main([str(a) for a in argv])
        return code, capsys.readouterr().err.strip()

    code, err = run(derivatives, tmp_path / "a", "--models", models[0])
    assert code == 64 and "two models or more" in err and len(err.splitlines()) == 1
    other = make_model(tmp_path / "other.safetensors", class_names=("CN", "MCI"))
    code, err = run(derivatives, tmp_path / "b", "--models", models[0], other)
    assert code == 64 and "not the same task" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = run(empty, tmp_path / "c", "--models", *models[:2])
    assert code == 66 and "no network input" in err
    code, err = run(derivatives, derivatives / "inside", "--models", *models[:2])
    assert code == 64 and "outside" in err
    for name in ("a", "b", "c"):
        assert not (tmp_path / name).exists()  # nothing written
