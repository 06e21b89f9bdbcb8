"""Shared simulated cohorts (made once per test session; a few seconds per scan)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bids_lrp.simulate import simulate_cohort

#: Small cohort used by most tests: one AD and one CN participant, two sessions each.
COHORT = {"n_subjects": 2, "ad_fraction": 0.5, "seed": 7, "sessions": 2, "severity": 0.25}


@pytest.fixture(scope="session")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """Root folder and truth table of the shared cohort."""
    root = tmp_path_factory.mktemp("cohort") / "bids"
    truth = simulate_cohort(root, **COHORT)
    return root, truth
