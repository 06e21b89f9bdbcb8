"""``bids_lrp-benchmark`` scoring the reference run (a simulated cohort) against its truth."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from bids_lrp.benchmark.cli import main
from bids_lrp.benchmark.score import dilate


def test_benchmark_scores_the_reference_run(reference_run, sim_bids, tmp_path, capsys):
    out, code = reference_run
    assert code == 0
    folder = tmp_path / "bench"
    folder.mkdir()
    (folder / "out").symlink_to(out)
    assert main([str(folder), "--bids", str(sim_bids), "--reuse"]) == 0
    assert capsys.readouterr().out.strip().endswith("benchmark.html")
    methods = pd.read_csv(folder / "benchmark.tsv", sep="\t")
    images = pd.read_csv(folder / "benchmark_images.tsv", sep="\t")
    assert list(methods["method"]) == ["LRPb0", "GuidedBackprop"]  # the run's methods
    participants = pd.read_csv(sim_bids / "participants.tsv", sep="\t")
    assert len(images) == 2 * len(participants)
    # the share inside the planted areas, recomputed here from the files themselves
    ad = participants[participants["diagnosis"] == "AD"]["participant_id"].iloc[0]
    mask_file = next((sim_bids / "derivatives" / "simulation").rglob(f"{ad}_space-*_dseg.nii.gz"))
    planted = np.asarray(nib.load(mask_file).dataobj) > 0
    relevance = np.asarray(
        nib.load(next(out.rglob(f"{ad}_space-*_desc-LRPb0_relevance.nii.gz"))).dataobj, float
    )
    positive = np.clip(relevance, 0, None)
    row = images[(images["image"] == ad) & (images["method"] == "LRPb0")].iloc[0]
    assert row["inside"] == pytest.approx(positive[planted].sum() / positive.sum(), rel=1e-6)
    assert row["inside_wide"] == pytest.approx(
        positive[dilate(planted)].sum() / positive.sum(), rel=1e-6
    )
    assert np.isfinite(row["aopc_morf"])  # the reference run measured faithfulness
    assert np.isnan(row["randomization"])  # but not randomization
    columns = json.loads((folder / "benchmark.json").read_text())  # the table's sidecar
    assert set(methods.columns) <= set(columns) and "Description" in columns
    summary = json.loads((folder / "benchmark_summary.json").read_text())
    assert summary["planted_areas"] == [
        "Amygdala", "Ent_entorhinal_area", "Hippocampus", "PHG_parahippocampal_gyrus"
    ]  # fmt: skip
    assert 0 < summary["planted_brain_share"] < summary["planted_wide_brain_share"] < 0.1
    html = (folder / "benchmark.html").read_text()
    assert all(f'id="{s}"' in html for s in ("cohort", "scores", "figure", "ranks"))
    assert (folder / "benchmark_inside.svg").is_file()
    before = (folder / "benchmark.tsv").read_bytes()
    assert main([str(folder), "--bids", str(sim_bids), "--reuse"]) == 0
    assert (folder / "benchmark.tsv").read_bytes() == before  # the same scores again
