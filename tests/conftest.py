"""Fixtures shared across test folders: one simulated dataset and one uninterrupted
participant-level run of it (the end-to-end tests and the SLURM runs compare against it)."""

from __future__ import annotations

import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bids_lrp.cli.run import main
from bids_lrp.templates import template_images
from tests.e2e.helpers import common_args, make_dataset, make_model
from tests.xdist_groups import SHARED, SHARED_FIXTURES, make_scheduler, order, work_unit


def pytest_collection_modifyitems(items) -> None:
    """The reference run's tests first, then the other end-to-end tests (tests/xdist_groups.py);
    a test elsewhere that uses the reference run or the SLURM cluster is refused."""
    for item in items:
        used = set(SHARED_FIXTURES) & set(getattr(item, "fixturenames", ()))
        if used and work_unit(item.nodeid) != SHARED:
            raise pytest.UsageError(
                f"{item.nodeid} uses {', '.join(sorted(used))}: add its file to SHARED_FILES "
                "in tests/xdist_groups.py (one pytest-xdist worker makes them)"
            )
    items.sort(key=lambda item: order(item.nodeid))  # stable: the rest keeps its order


def _reset_logging() -> None:
    log = logging.getLogger("bids_lrp")
    log.handlers.clear()
    log.setLevel(logging.NOTSET)
    log.propagate = True


@pytest.fixture(autouse=True)
def _fresh_logging():
    """Each test starts and ends with the ``bids_lrp`` logger as a fresh process has it, not as
    a tool's ``main`` (in a session fixture, or in the test its pytest-xdist worker ran before)
    left it: no test's outcome depends on the order the tests run in."""
    _reset_logging()
    yield
    _reset_logging()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    return make_scheduler(config, log)


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


@pytest.fixture(scope="module")
def explain_inputs(tmp_path_factory) -> tuple[Path, list[str]]:
    """A 4 mm random model and two template-space network inputs (masked, scaled)."""
    root = tmp_path_factory.mktemp("explain")
    model = make_model(root / "tiny.safetensors")
    t1w, mask, _ = template_images("MNI152NLin2009cAsym")
    data = np.asarray(t1w.dataobj, np.float32) * (np.asarray(mask.dataobj) > 0)
    files = []
    for k, gamma in enumerate((1.0, 0.7)):
        scaled = (data / data.max()) ** gamma
        path = root / f"in{k}.nii.gz"
        nib.save(nib.Nifti1Image(scaled.astype(np.float32), t1w.affine), path)
        files.append(str(path))
    return model, files
