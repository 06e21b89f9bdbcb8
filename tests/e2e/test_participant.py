"""End-to-end participant level on a simulated dataset: layout, contents, validator, pybids."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from bids_lrp.config import load_settings
from bids_lrp.fastgz import sparse_gzip
from bids_lrp.regions import COLUMNS
from bids_lrp.templates import get_template
from tests.e2e.helpers import outputs_of

TPL = "MNI152NLin2009cAsym"
SUBJECTS = ("001", "002")


def _expected(sub: str) -> list[str]:
    p = f"sub-{sub}/anat/sub-{sub}"
    names = [
        f"{p}_space-{TPL}_desc-preproc_T1w.nii.gz",
        f"{p}_from-T1w_to-{TPL}_mode-image_xfm.mat",
        f"{p}_from-{TPL}_to-T1w_mode-image_xfm.mat",
        f"{p}_desc-tinytest_predictions.tsv",
    ]
    for desc in ("LRPb0", "GuidedBackprop"):
        names += [
            f"{p}_space-{TPL}_desc-{desc}_relevance.nii.gz",
            f"{p}_space-T1w_desc-{desc}_relevance.nii.gz",
            f"{p}_space-{TPL}_atlas-Neuromorphometrics_desc-{desc}_relevance.tsv",
        ]
    return names


def test_run_succeeds_with_every_output(reference_run):
    out, code = reference_run
    assert code == 0
    files = outputs_of(out)
    for sub in SUBJECTS:
        for name in _expected(sub):
            assert name in files, name
            sidecar = name.replace(".nii.gz", ".json").rsplit(".", 1)[0] + ".json"
            assert sidecar in files, sidecar
    assert not [f for f in files if f.endswith(".tmp") or "/." in f]
    desc = json.loads((out / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative"
    assert desc["GeneratedBy"][0]["Name"] == "bids_lrp"
    assert desc["SourceDatasets"][0]["URL"].startswith("file://")
    assert "*_relevance.*" in (out / ".bidsignore").read_text()
    citation = (out / "logs" / "CITATION.md").read_text()
    assert 'boehle2019 (LRPb0; class "AD")' in citation
    assert "guided-backprop (GuidedBackprop; each image's predicted class)" in citation


def test_settings_saved_as_toml(reference_run, e2e_model):
    out, _ = reference_run
    (config,) = sorted((out / "logs").glob("config-*.toml"))
    settings = load_settings(config)
    assert settings.model == e2e_model.resolve()
    assert settings.methods == ("boehle2019", "guided-backprop")
    assert (settings.target_class, settings.guided_backprop_target) == ("AD", "predicted")
    assert settings.atlases == ("Neuromorphometrics",)


def test_maps_tables_and_sidecars(reference_run, sim_bids):
    out, _ = reference_run
    anat = out / "sub-001" / "anat"
    raw = nib.load(sim_bids / "sub-001" / "anat" / "sub-001_T1w.nii.gz")
    preproc = nib.load(anat / f"sub-001_space-{TPL}_desc-preproc_T1w.nii.gz")
    assert preproc.shape == (193, 229, 193)
    data = np.asarray(preproc.dataobj)
    assert data.min() >= 0 and data.max() <= 1 and data.max() > 0.9
    predictions = pd.read_csv(anat / "sub-001_desc-tinytest_predictions.tsv", sep="\t")
    brain = get_template(TPL).brain_mask()
    for desc in ("LRPb0", "GuidedBackprop"):
        tpl = nib.load(anat / f"sub-001_space-{TPL}_desc-{desc}_relevance.nii.gz")
        native = nib.load(anat / f"sub-001_space-T1w_desc-{desc}_relevance.nii.gz")
        assert tpl.shape == preproc.shape and np.allclose(tpl.affine, preproc.affine)
        assert native.shape == raw.shape and np.allclose(native.affine, raw.affine, atol=1e-4)
        for name in (f"space-{TPL}", "space-T1w"):  # written to be fast to read back
            encoded = (anat / f"sub-001_{name}_desc-{desc}_relevance.nii.gz").read_bytes()
            assert encoded == sparse_gzip(gzip.decompress(encoded))
        meta = json.loads((anat / f"sub-001_space-{TPL}_desc-{desc}_relevance.json").read_text())
        assert meta["Model"]["Name"] == "tiny-test" and len(meta["Model"]["SHA256"]) == 64
        assert meta["Template"]["Name"] == TPL and meta["Template"]["Source"]
        if desc == "LRPb0":  # the paper's targets: AD for LRP, the predicted class for GB
            assert (meta["TargetClass"], meta["TargetSelection"]) == ("AD", "given class")
        else:
            assert meta["TargetClass"] == predictions["predicted_class"][0]
            assert meta["TargetSelection"] == "predicted class"
        tpl_sum = float(np.asarray(tpl.dataobj, dtype=float).sum())
        assert np.isclose(tpl_sum, meta["RelevanceSum"], rtol=1e-3, atol=1e-6)
        # the network's input is 0 outside the template brain mask: so is every map there
        assert not np.asarray(tpl.dataobj)[~brain].any()
        assert 0 <= meta["RelevanceOutsideBrain"] < 1
        if desc == "LRPb0":
            assert meta["MethodParameters"] == {"beta": 0.0, "start": "probability"}
            assert 0 <= meta["ConservationError"] < 1
        table = pd.read_csv(
            anat / f"sub-001_space-{TPL}_atlas-Neuromorphometrics_desc-{desc}_relevance.tsv",
            sep="\t",
        )
        assert tuple(table.columns[: len(COLUMNS)]) == COLUMNS
        assert len(table) > 100
        table_meta = json.loads(
            (
                anat / f"sub-001_space-{TPL}_atlas-Neuromorphometrics_desc-{desc}_relevance.json"
            ).read_text()
        )  # the table names the map and the class it sums, as the map's sidecar does
        for key in ("Method", "TargetClass", "TargetSelection"):
            assert table_meta[key] == meta[key]
        assert "Neuromorphometrics" in table_meta["Atlases"]
        inside = float(table["relevance_sum"].sum())
        assert abs(inside) <= abs(tpl_sum) * 1.01 + 1e-6
    assert len(predictions) == 1
    assert np.isclose(predictions["probability_HC"][0] + predictions["probability_AD"][0], 1)
    assert predictions["predicted_class"][0] in ("HC", "AD")
    assert predictions["target_class"][0] == "AD"
    quality = json.loads((anat / f"sub-001_space-{TPL}_desc-preproc_T1w.json").read_text())
    assert 0.5 < quality["RegistrationQuality"]["Value"] <= 1


def test_outputs_pass_the_validator(reference_run):
    out, _ = reference_run
    exe = Path(sys.executable).parent / "bids-validator-deno"
    proc = subprocess.run(
        [str(exe), str(out), "--format", "json"], capture_output=True, text=True, check=False
    )
    issues = json.loads(proc.stdout)["issues"]["issues"]
    errors = [(i["code"], i.get("location")) for i in issues if i["severity"] == "error"]
    assert errors == []


def test_pybids_indexes_the_outputs(reference_run):
    from bids import BIDSLayout

    out, _ = reference_run
    layout = BIDSLayout(str(out), validate=False, config=["bids", "derivatives"])
    assert sorted(layout.get_subjects()) == list(SUBJECTS)
    maps = layout.get(suffix="relevance", extension=".nii.gz")
    assert len(maps) == 2 * 2 * 2
    for f in maps:
        assert f.entities["desc"] in ("LRPb0", "GuidedBackprop")
        assert f.entities["space"] in (TPL, "T1w")
    tables = layout.get(suffix="relevance", extension=".tsv", atlas="Neuromorphometrics")
    assert len(tables) == 2 * 2
    assert {t.entities["space"] for t in tables} == {TPL}
    preproc = layout.get(desc="preproc", suffix="T1w", space=TPL, extension=".nii.gz")
    assert len(preproc) == 2
    assert len(layout.get(suffix="predictions", extension=".tsv")) == 2


def test_participant_reports_open_in_chromium(reference_run):
    from bids_lrp.reports.participant import SECTIONS
    from tests.reports.browser import open_page

    out, _ = reference_run
    for sub in SUBJECTS:
        report = out / f"sub-{sub}.html"
        assert report.is_file()
        assert list((out / f"sub-{sub}" / "figures").iterdir())
        check = open_page(report, f"e2e-participant-sub-{sub}")
        assert check.broken_images == [] and check.severe_console == []
        assert check.section_ids == list(SECTIONS)
        assert check.n_images >= 5
        html = report.read_text()
        assert "tiny-test" in html and "not for clinical use" in html.lower()
