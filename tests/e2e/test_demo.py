"""The README's demo, scaled down (2 participants): the shipped model, both levels, reports.

`make demo` runs the same three commands (see the Makefile) with 6 participants.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from bids_lrp.cli.parser import default_model
from tests.e2e.helpers import app_env, run_app


def test_shipped_model_is_found_and_says_synthetic():
    from bids_lrp.model.checkpoint import load_checkpoint, read_card

    path = default_model()
    assert path.is_file() and path.with_suffix(".json").is_file()
    card, _ = read_card(path)
    load_checkpoint(path)  # verifies the checksum and the weights
    assert card.registration == "affine" and card.class_names == ("HC", "AD")
    assert "SYNTHETIC" in card.training_data
    assert "NOT FOR CLINICAL USE" in card.intended_use and "make model" in card.intended_use
    assert card.metrics["test"]["balanced_accuracy"] >= 0.9
    assert path.stat().st_mode & 0o777 == 0o644


def test_demo_scaled_down(tmp_path):
    bids, out = tmp_path / "bids", tmp_path / "derivatives"
    exe = Path(sys.executable).parent / "bids_lrp-simulate"
    subprocess.run(
        [str(exe), str(bids), "--n-subjects", "2", "--seed", "2026", "--severity", "0.3"],
        check=True,
        env=app_env(),
        capture_output=True,
    )
    done = run_app(bids, out, "participant", "-w", tmp_path / "work", "--nprocs", "2")
    assert done.returncode == 0, done.stderr
    assert "[Node]" not in done.stderr  # nipype's own log stays quiet without -v (workers too)
    done = run_app(bids, out, "group")
    assert done.returncode == 0, done.stderr
    for sub in ("sub-001", "sub-002"):
        assert (out / f"{sub}.html").is_file()
    assert (out / "group" / "group_report.html").is_file()
    truth = pd.read_csv(bids / "participants.tsv", sep="\t").set_index("participant_id")
    for sub in ("sub-001", "sub-002"):
        (pred,) = (out / sub / "anat").glob("*_predictions.tsv")
        row = pd.read_csv(pred, sep="\t").iloc[0]
        assert row["model"] == "boehle2019-demo-sim4mm"
        expected = "AD" if truth.loc[sub, "diagnosis"] == "AD" else "HC"
        assert row["predicted_class"] == expected, (sub, row.to_dict())
    summary = json.loads((out / "group" / "group_summary.json").read_text())
    assert summary
