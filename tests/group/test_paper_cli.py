"""The paper's analyses from ``bids_lrp ... group``: volumes, correlation, 68 areas, bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from tests.group.test_cli import _one_line_error, _read, _run

pytestmark = pytest.mark.usefixtures("no_report")

#: External hippocampal volumes per participant (sub-02 is a false negative, sub-07 unlabelled).
VOLUMES = {"sub-01": 5200.0, "sub-02": 6100.0, "sub-03": 4300.0, "sub-04": 7000.0,
           "sub-05": 6900.0, "sub-06": 7100.0, "sub-07": 6400.0}  # fmt: skip


def _volumes_file(path, values=VOLUMES, column="hv"):
    rows = ["participant_id\t" + column] + [f"{p}\t{v}" for p, v in values.items()]
    path.write_text("\n".join(rows) + "\n")
    return path


def _add_estimates(out):
    """Give every region table a native_volume_mm3 column (hippocampus shrinking with p(AD))."""
    for path in out.glob("sub-*/**/anat/*_relevance.tsv"):
        table = pd.read_csv(path, sep="\t")
        table.insert(4, "native_volume_mm3", table["n_voxels"] * 8.0 * 0.9)
        table.to_csv(path, sep="\t", index=False, na_rep="n/a")


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory, fake_bids, fake_outputs):
    out = tmp_path_factory.mktemp("paper") / "out"
    shutil.copytree(fake_outputs, out)
    _add_estimates(out)
    volumes = _volumes_file(out.parent / "volumes.tsv")
    mp = pytest.MonkeyPatch()
    mp.setitem(__import__("sys").modules, "bids_lrp.reports.group", None)
    try:
        code = _run(
            fake_bids, out, "--volumes", "Hippocampus=hv", "--volumes-file", str(volumes),
            "--preset", "boehle2019", "--permutations", "200",
        )  # fmt: skip
    finally:
        mp.undo()
    assert code == 0
    return out / "group"


def test_volume_correlation_of_the_true_positives(paper_run):
    table = _read(paper_run / "atlas-Neuromorphometrics_volumecorrelation.tsv")
    sums = _read(paper_run / "atlas-Neuromorphometrics_desc-LRPb0_areasums.tsv")
    assert set(table["method"]) == {"LRPb0", "GuidedBackprop"}
    assert set(table["volume_source"]) == {"external", "estimate"}
    row = table[(table["method"] == "LRPb0") & (table["volume_source"] == "external")].iloc[0]
    tp = sums[sums["outcome"] == "TP"]
    volume = tp["participant_id"].map(VOLUMES).to_numpy()
    r = np.corrcoef(volume, tp["Hippocampus"])[0, 1]
    assert row["n"] == len(tp) == 3 and row["r"] == pytest.approx(r, abs=1e-9)
    assert 0 < row["p"] <= 1 and row["permutations"] == 200 and row["cohort"] == "TP"
    sidecar = json.loads(
        (paper_run / "atlas-Neuromorphometrics_volumecorrelation.json").read_text()
    )
    assert sidecar["PermutationTest"]["Permutations"] == 200
    estimate = table[table["volume_source"] == "estimate"]
    # every TP's estimate is the same 0.9 x template volume: no correlation, and it says why
    assert estimate["r"].isna().all() and estimate["note"].str.contains("same in every").all()
    volumes = _read(paper_run / "atlas-Neuromorphometrics_volumes.tsv")
    assert set(volumes["volume_source"]) == {"external", "estimate"}


def test_area_grouping_and_top_areas(paper_run):
    stats = _read(paper_run / "atlas-Neuromorphometrics_desc-LRPb0_groupstats.tsv")
    assert stats["name"].tolist() == ["Hippocampus", "Amygdala", "Brain_Stem"]
    meta = json.loads(
        (paper_run / "atlas-Neuromorphometrics_desc-LRPb0_groupstats.json").read_text()
    )
    assert meta["AreaGrouping"] == "boehle2019"
    top = _read(paper_run / "atlas-Neuromorphometrics_desc-LRPb0_topareas.tsv")
    assert set(top["ranking"]) == {"sum", "density", "gain_TP_HC"}
    density = top[top["ranking"] == "density"]
    assert density["value"].is_monotonic_decreasing and density["rank"].tolist() == [1, 2, 3]
    summary = json.loads((paper_run / "group_summary.json").read_text())
    assert summary["Settings"]["area_grouping"] == "boehle2019"


def _copy(tmp_path, fake_outputs):
    out = tmp_path / "out"
    shutil.copytree(fake_outputs, out)
    return out


@pytest.mark.parametrize(
    ("values", "column", "args", "code", "message"),
    [
        (VOLUMES, "hv", ("Hippocampus=nope",), 64, "has no column 'nope'"),
        ({**VOLUMES, "sub-03": "big"}, "hv", ("Hippocampus=hv",), 64, "not a volume"),
        ({**VOLUMES, "sub-03": -5}, "hv", ("Hippocampus=hv",), 64, "finite number >= 0"),
        (VOLUMES, "hv", ("Hippocampus",), 64, "is not AREA=COLUMN"),
    ],
)
def test_bad_volumes_are_one_line(tmp_path, fake_bids, fake_outputs, capsys, values, column,
                                  args, code, message):  # fmt: skip
    out = _copy(tmp_path, fake_outputs)
    volumes = _volumes_file(tmp_path / "v.tsv", values, column)
    assert _run(fake_bids, out, "--volumes", *args, "--volumes-file", str(volumes)) == code
    assert message in _one_line_error(capsys)
    assert not (out / "group").exists()  # found before any work


def test_missing_volumes_file_is_66(tmp_path, fake_bids, fake_outputs, capsys):
    out = _copy(tmp_path, fake_outputs)
    code = _run(fake_bids, out, "--volumes", "Hippocampus=hv", "--volumes-file", "/no/such.tsv")
    assert code == 66 and "does not exist" in _one_line_error(capsys)


def test_too_few_volumes_is_a_reported_skip(tmp_path, fake_bids, fake_outputs):
    out = _copy(tmp_path, fake_outputs)
    few = {**VOLUMES, "sub-03": "n/a"}  # 2 of 3 true positives (sub-01's two sessions) left
    few["sub-01"] = "n/a"
    volumes = _volumes_file(tmp_path / "v.tsv", few)
    assert _run(fake_bids, out, "--volumes", "Hippocampus=hv", "--volumes-file", str(volumes)) == 0
    table = _read(out / "group" / "atlas-Neuromorphometrics_volumecorrelation.tsv")
    assert table["r"].isna().all() and (table["n"] == 0).all()
    assert table["note"].str.contains("needs 3").all()
    summary = json.loads((out / "group" / "group_summary.json").read_text())
    assert any("volume correlation not computed" in note for note in summary["Skipped"])
