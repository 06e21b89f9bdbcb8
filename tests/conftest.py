"""Fixtures shared across test folders: one simulated dataset and one uninterrupted
participant-level run of it (the end-to-end tests and the SLURM runs compare against it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bids_lrp.cli.run import main
from tests.e2e.helpers import common_args, make_dataset, make_model

#: The end-to-end reference run and the SLURM cluster (whose runs are compared with it).
SHARED = ("reference_run", "slurm", "cluster_runs")
TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items) -> None:
    """One pytest-xdist group (``--dist loadgroup``) per test folder, and one for the tests that
    use `SHARED`: a session or module fixture is then made on one worker only, not on both."""
    for item in items:
        if set(SHARED) & set(getattr(item, "fixturenames", ())):
            group = "reference_run"
        else:
            group = Path(item.path).resolve().relative_to(TESTS).parts[0]
        item.add_marker(pytest.mark.xdist_group(group))


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
