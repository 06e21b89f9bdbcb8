"""``bids_lrp bids out group`` end to end on fake participant outputs."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from bids_lrp.cli.run import main
from bids_lrp.reports import background
from bids_lrp.reports.background import GroupReport
from tests.group.conftest import (
    IMAGES,
    MODEL,
    SPACE,
    relevance,
    write_bids,
    write_image_outputs,
)

pytestmark = pytest.mark.usefixtures("no_report")
AREAS = ["Hippocampus", "Amygdala", "Brain_Stem"]


def _run(bids: Path, out: Path, *extra: str) -> int:
    return main([str(bids), str(out), "group", "-w", str(out.parent / "work"), *extra])


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["n/a"])


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, fake_bids, fake_outputs):
    """One full run with labels, shared by the checks below (the model is not needed)."""
    out = tmp_path_factory.mktemp("run") / "out"
    shutil.copytree(fake_outputs, out)
    shutil.rmtree(out / "sub-06")
    write_image_outputs(out, IMAGES[6], skip=("atlas-",))  # sub-06: no region tables
    mp = pytest.MonkeyPatch()
    mp.setitem(sys.modules, "bids_lrp.reports.group", None)
    try:
        assert _run(fake_bids, out, "--nprocs", "2", "--model", "/no/such/model") == 0
    finally:
        mp.undo()
    return out / "group"


def test_output_names(finished):
    names = {p.name for p in finished.iterdir()}
    for method in ("LRPb0", "GuidedBackprop"):
        for kind in ("areasums", "groupstats", "fingerprints"):
            assert f"atlas-Neuromorphometrics_desc-{method}_{kind}.tsv" in names
            assert f"atlas-Neuromorphometrics_desc-{method}_{kind}.json" in names
        for group in ("all", "AD", "HC", "TP", "TN", "FP", "FN"):
            assert f"space-{SPACE}_desc-{method}_cohort-{group}_mean.nii.gz" in names
    assert f"desc-{MODEL}_metrics.tsv" in names and "group_summary.json" in names


def test_area_sums_table(finished):
    table = _read(finished / "atlas-Neuromorphometrics_desc-LRPb0_areasums.tsv")
    assert list(table.columns) == [
        "image",
        "participant_id",
        "session_id",
        "label",
        "predicted",
        "probability_AD",
        "outcome",
        *AREAS,
    ]
    row = table.set_index("image").loc["sub-02_ses-1"]
    assert (row["label"], row["predicted"], row["outcome"]) == ("AD", "HC", "FN")
    assert row["session_id"] == "ses-1" and row["participant_id"] == "sub-02"
    mci = table.set_index("image").loc["sub-07_ses-1"]
    assert pd.isna(mci["label"]) and pd.isna(mci["outcome"])
    assert "sub-06_ses-1" not in set(table["image"])
    data = relevance(IMAGES[2], "LRPb0")
    assert row["Hippocampus"] == pytest.approx(float(data[0:4, 1:-1, 1:-1].sum()), rel=1e-6)


def test_group_stats_and_sidecar(finished):
    stats = _read(finished / "atlas-Neuromorphometrics_desc-LRPb0_groupstats.tsv")
    sums = _read(finished / "atlas-Neuromorphometrics_desc-LRPb0_areasums.tsv")
    assert stats["name"].tolist() == AREAS
    ad = sums[sums["label"] == "AD"][AREAS].mean().to_numpy()
    hc = sums[sums["label"] == "HC"][AREAS].mean().to_numpy()
    np.testing.assert_allclose(stats["mean_AD"], ad, rtol=1e-6)
    np.testing.assert_allclose(stats["gain_AD_HC"], ad / hc, rtol=1e-6)
    assert stats.loc[0, "rank_gain_AD_HC"] == 1  # the planted hippocampus effect
    tp = sums[sums["outcome"] == "TP"][AREAS].mean().to_numpy()
    tn = sums[sums["outcome"] == "TN"][AREAS].mean().to_numpy()
    # as the authors' code: TP and TN over the mean of all controls
    np.testing.assert_allclose(stats["gain_TP_HC"], tp / hc, rtol=1e-6)
    np.testing.assert_allclose(stats["gain_TN_HC"], tn / hc, rtol=1e-6)
    for column in ("rank_gain_TP_HC", "rank_gain_TN_HC", "density_FP", "rank_density_all"):
        assert column in stats
    sidecar = json.loads(
        (finished / "atlas-Neuromorphometrics_desc-LRPb0_groupstats.json").read_text()
    )
    sizes = {"all": 7, "AD": 4, "HC": 2, "TP": 3, "TN": 1, "FP": 1, "FN": 1}
    assert sidecar["GroupSizes"] == sizes
    assert sidecar["MergedHemispheres"] is True and sidecar["LabelColumn"] == "diagnosis"
    assert (sidecar["Method"], sidecar["MethodLabel"]) == ("boehle2019", "LRPb0")
    assert "Description" in sidecar["gain_AD_HC"]
    assert sidecar["ImagesWithRelevance"]["Counts"] == sizes  # every fake map holds relevance


def test_controls_with_empty_maps_leave_the_gain_undefined_and_say_so(
    tmp_path, fake_bids, monkeypatch
):
    """As the demo model's LRP b0 maps of clear controls: exactly 0 (p(AD) reaches no voxel)."""
    import tests.group.conftest as fake

    def silent_controls(image, method):
        data = relevance(image, method)
        return data if image.diagnosis == "AD" or method != "LRPb0" else data * 0

    monkeypatch.setattr(fake, "relevance", silent_controls)
    out = fake.write_outputs(tmp_path / "out")
    assert _run(fake_bids, out) == 0
    group = out / "group"
    stem = "atlas-Neuromorphometrics_desc-LRPb0_groupstats"
    stats = _read(group / f"{stem}.tsv")
    assert stats["gain_AD_HC"].isna().all() and stats["rank_gain_AD_HC"].isna().all()
    counts = json.loads((group / f"{stem}.json").read_text())["ImagesWithRelevance"]["Counts"]
    assert (counts["AD"], counts["HC"], counts["TN"], counts["FP"]) == (4, 0, 0, 0)
    skipped = json.loads((group / "group_summary.json").read_text())["Skipped"]
    assert (
        "LRPb0, Neuromorphometrics: gain_AD_HC undefined (n/a): none of the 3 HC maps "
        "holds any relevance" in skipped
    )
    assert not any("GuidedBackprop" in s for s in skipped)  # its control maps are not empty


def test_metrics(finished):
    metrics = _read(finished / f"desc-{MODEL}_metrics.tsv")
    assert metrics["scope"].tolist() == ["overall", "ses-1", "ses-2"]
    overall = metrics.iloc[0]
    # Labelled images: AD 01/1, 01/2, 02, 03 and HC 04, 05 (sub-06 skipped, sub-07 MCI).
    assert (overall["n"], overall["n_AD"], overall["n_HC"]) == (6, 4, 2)
    assert (overall["tp"], overall["fn"], overall["tn"], overall["fp"]) == (3, 1, 1, 1)
    assert overall["balanced_accuracy"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert np.isnan(metrics.iloc[2]["roc_auc"])  # ses-2 holds one AD image only


def test_fingerprints(finished):
    table = _read(finished / "atlas-Neuromorphometrics_desc-LRPb0_fingerprints.tsv")
    # the authors': true positives with p(AD) > 0.9 (sub-02 is a false negative)
    images = ["sub-01_ses-1", "sub-01_ses-2", "sub-03_ses-1"]
    assert table["image"].tolist() == images and list(table.columns[1:]) == images
    np.testing.assert_allclose(np.diag(table[images].to_numpy()), 1.0, atol=1e-6)
    sidecar = json.loads(
        (finished / "atlas-Neuromorphometrics_desc-LRPb0_fingerprints.json").read_text()
    )
    assert sidecar["FingerprintAreas"]["Selection"] == "top25"
    assert sorted(sidecar["FingerprintAreas"]["Areas"]) == sorted(AREAS)  # 3 areas < 25
    assert sidecar["Confident"]["Images"] == images
    pair = sidecar["MostDissimilarPair"]
    sub = table.set_index("image").loc[
        sidecar["Confident"]["Images"], sidecar["Confident"]["Images"]
    ]
    assert pair["Similarity"] == pytest.approx(sub.to_numpy().min(), abs=1e-6)


def test_mean_maps(finished):
    img = nib.load(finished / f"space-{SPACE}_desc-GuidedBackprop_cohort-AD_mean.nii.gz")
    ad = [i for i in IMAGES if i.diagnosis == "AD"]
    expected = np.mean([relevance(i, "GuidedBackprop") for i in ad], axis=0)
    assert img.get_data_dtype() == np.float32
    np.testing.assert_allclose(np.asarray(img.dataobj), expected, rtol=1e-5)
    sidecar = json.loads(
        (finished / f"space-{SPACE}_desc-GuidedBackprop_cohort-AD_mean.json").read_text()
    )
    assert sidecar["SourceFiles"] == 4 and sidecar["Cohort"] == "AD"
    # each map explained its own predicted class: no one TargetClass for the mean
    assert sidecar["TargetSelection"] == "predicted class" and "TargetClass" not in sidecar
    lrp = json.loads((finished / f"space-{SPACE}_desc-LRPb0_cohort-HC_mean.json").read_text())
    assert (lrp["TargetClass"], lrp["TargetSelection"]) == ("AD", "given class")


def test_summary_lists_skipped(finished):
    summary = json.loads((finished / "group_summary.json").read_text())
    assert summary["ImagesUsed"] == 7
    assert "no Neuromorphometrics LRPb0 region table" in summary["ImagesSkipped"]["sub-06_ses-1"]
    assert summary["Settings"]["label_column"] == "diagnosis"
    assert summary["Methods"] == ["LRPb0", "GuidedBackprop"]


def test_no_labels_still_aggregates(tmp_path, fake_outputs, capsys):
    bids = write_bids(tmp_path / "bids", column="group")
    out = tmp_path / "out"
    shutil.copytree(fake_outputs, out)
    assert _run(bids, out, "--no-merge-hemispheres") == 0
    assert "no column 'diagnosis'" in capsys.readouterr().err
    group = out / "group"
    summary = json.loads((group / "group_summary.json").read_text())
    assert any("gain, metrics and TP/TN/FP/FN skipped" in s for s in summary["Skipped"])
    assert summary["GroupSizes"] == {"all": len(IMAGES)}
    assert not list(group.glob("*_metrics.tsv"))
    stats = _read(group / "atlas-Neuromorphometrics_desc-LRPb0_groupstats.tsv")
    assert len(stats) == 5 and "mean_all" in stats and "gain_AD_HC" not in stats
    fingerprints = json.loads(
        (group / "atlas-Neuromorphometrics_desc-LRPb0_fingerprints.json").read_text()
    )
    assert fingerprints["Patients"].startswith("predicted AD")
    maps = sorted(p.name for p in group.glob("*_mean.nii.gz"))
    assert maps == [
        f"space-{SPACE}_desc-{m}_cohort-all_mean.nii.gz" for m in ("GuidedBackprop", "LRPb0")
    ]


def test_rerun_removes_stale_products_only(tmp_path, fake_bids, fake_outputs):
    out = tmp_path / "out"
    shutil.copytree(fake_outputs, out)
    assert _run(fake_bids, out) == 0
    group = out / "group"
    (group / "group.html").write_text("report")  # not ours: kept
    assert (group / f"desc-{MODEL}_metrics.tsv").is_file()
    unlabelled = write_bids(tmp_path / "unlabelled", column="group")
    assert _run(unlabelled, out) == 0
    assert not list(group.glob("*_metrics.*")) and not list(group.glob("*cohort-AD*"))
    assert (group / f"space-{SPACE}_desc-LRPb0_cohort-all_mean.json").is_file()
    assert (group / "group.html").is_file()


def test_no_outputs_exit_66(tmp_path, fake_bids, capsys):
    (tmp_path / "out").mkdir()
    assert _run(fake_bids, tmp_path / "out") == 66
    assert "run the participant level first" in _one_line_error(capsys)


def test_unknown_label_column_exit_64(tmp_path, fake_bids, fake_outputs, capsys):
    assert _run(fake_bids, fake_outputs, "--label-column", "dx") == 64
    line = _one_line_error(capsys)
    assert "no column 'dx'" in line and "diagnosis" in line
    assert not (fake_outputs / "group").exists()


def test_overlapping_label_values_exit_64(tmp_path, fake_bids, fake_outputs, capsys):
    assert _run(fake_bids, fake_outputs, "--ad-labels", "AD", "--hc-labels", "AD") == 64
    assert "both" in _one_line_error(capsys)


def test_labels_naming_unknown_participants_warn(tmp_path, fake_outputs, capsys):
    bids = write_bids(tmp_path / "bids")
    with open(bids / "participants.tsv", "a") as handle:
        handle.write("sub-99\tAD\t70\n")
    out = tmp_path / "out"
    shutil.copytree(fake_outputs, out)
    assert _run(bids, out, "--participant-label", "01", "02", "99") == 0
    err = capsys.readouterr().err
    assert "without participant outputs (sub-99)" in err
    summary = json.loads((out / "group" / "group_summary.json").read_text())
    assert summary["Images"] == ["sub-01_ses-1", "sub-01_ses-2", "sub-02_ses-1"]


def test_report_hook_called_and_failures_contained(
    tmp_path, fake_bids, fake_outputs, monkeypatch, capsys
):
    out = tmp_path / "out"
    shutil.copytree(fake_outputs, out)
    calls = []
    monkeypatch.setattr(background, "GroupReport", GroupReport)  # the app's report, not none
    monkeypatch.setattr(
        background,
        "write_group_report",
        lambda output_dir, drawn=None: calls.append(Path(output_dir)),
    )
    assert _run(fake_bids, out) == 0
    assert calls == [out.resolve()]

    def broken(output_dir, drawn=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(background, "write_group_report", broken)
    assert _run(fake_bids, out) == 0
    assert "group report could not be written: boom" in capsys.readouterr().err


def test_settings_saved_with_group_options(finished):
    from bids_lrp.config import load_settings

    configs = sorted((finished.parent / "logs").glob("config-*.toml"))
    settings = load_settings(configs[-1])
    assert settings.analysis_level == "group" and settings.label_column is None
    assert settings.hc_labels == ("HC", "CN") and settings.merge_hemispheres is True
    assert settings.confidence == 0.9
