"""Fixtures shared across test folders: one simulated dataset and one uninterrupted
participant-level run of it (the end-to-end tests and the SLURM runs compare against it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bids_lrp.cli.run import main
from tests.e2e.helpers import common_args, make_dataset, make_model

#: Fixtures worth making once per test session: the tests that use them run on one pytest-xdist
#: worker (``--dist loadgroup``), so each is made once, not once per worker. The SLURM tests
#: share one cluster and compare with the reference run.
SHARED = ("reference_run", "slurm", "cluster_runs")


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if set(SHARED) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("reference_run"))


@pytest.fixture(scope="session")
def e2e_model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("e2e-model") / "tiny.safetensors")


@pytest.fixture(scope="session")
def sim_bids(tmp_path_factory) -> Path:
    """Two simulated participants, T1w downsampled to 2 mm (fast)."""
    return make_dataset(tmp_path_factory.mktemp("e2e-sim") / "bids", n_subjects=2, seed=3)


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, sim_bids, e2e_model) -> tuple[Path, int]:
    """An uninterrupted participant-level run over the whole dataset: (output folder, code)."""
    root = tmp_path_factory.mktemp("e2e-ref")
    out = root / "out"
    code = main(
        [str(sim_bids), str(out), "participant", "-w", str(root / "work"), *common_args(e2e_model)]
    )
    return out, code
