"""The group level on real participant-level outputs (the end-to-end reference run)."""

from __future__ import annotations

import json
import shutil

import pandas as pd

from bids_lrp.cli.run import main
from tests.e2e.documented import undocumented


def test_group_level_on_participant_outputs(tmp_path, sim_bids, reference_run):
    from bids_lrp.reports.group import SECTIONS
    from tests.reports.browser import open_page

    reference, code = reference_run
    assert code == 0
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    assert main([str(sim_bids), str(out), "group"]) == 0
    group = out / "group"
    stats = pd.read_csv(group / "atlas-Neuromorphometrics_desc-LRPb0_groupstats.tsv", sep="\t")
    assert len(stats) == 72  # merged Neuromorphometrics areas of the bundled atlas
    sums = pd.read_csv(group / "atlas-Neuromorphometrics_desc-LRPb0_areasums.tsv", sep="\t")
    assert sorted(sums["participant_id"]) == ["sub-001", "sub-002"]
    participants = pd.read_csv(sim_bids / "participants.tsv", sep="\t")
    truth = dict(zip(participants["participant_id"], participants["diagnosis"], strict=True))
    expected = {"AD": "AD", "CN": "HC"}
    assert [expected[truth[p]] for p in sums["participant_id"]] == list(sums["label"])
    # the area sums are those of the participant-level region tables, merged left + right
    table = pd.read_csv(
        out / "sub-001/anat/sub-001_space-MNI152NLin2009cAsym_atlas-Neuromorphometrics"
        "_desc-LRPb0_relevance.tsv",
        sep="\t",
    )
    hippocampus = table[table["name"].str.contains("Hippocampus")]["relevance_sum"].sum()
    row = sums[sums["participant_id"] == "sub-001"].iloc[0]
    hippo_column = next(c for c in sums.columns if "Hippocampus" in c)
    assert abs(row[hippo_column] - hippocampus) <= 1e-6 * max(1.0, abs(hippocampus))
    summary = json.loads((group / "group_summary.json").read_text())
    assert summary
    # every file and column of a real participant and group run is in docs/outputs.md
    methods = {"LRPb0", "GuidedBackprop"}
    assert undocumented(out, methods, "MNI152NLin2009cAsym", "tinytest") == []
    check = open_page(group / "group_report.html", "e2e-group-report")
    assert check.broken_images == [] and check.severe_console == []
    assert check.section_ids == list(SECTIONS)


def test_the_papers_68_areas_on_the_real_atlas(tmp_path, sim_bids, reference_run, monkeypatch):
    import sys

    reference, _ = reference_run
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    monkeypatch.setitem(sys.modules, "bids_lrp.reports.group", None)  # tables only
    assert main([str(sim_bids), str(out), "group", "--area-grouping", "boehle2019"]) == 0
    group = out / "group"
    stats = pd.read_csv(group / "atlas-Neuromorphometrics_desc-LRPb0_groupstats.tsv", sep="\t")
    assert len(stats) == 68
    assert {"Cerebellum", "Lateral_Ventricles", "Cerebellar_Vermal_Lobules"} <= set(stats["name"])
    top = pd.read_csv(group / "atlas-Neuromorphometrics_desc-LRPb0_topareas.tsv", sep="\t")
    assert (top.groupby("ranking").size() <= 25).all()
