"""The suite's split between pytest-xdist workers (tests/xdist_groups.py)."""

from __future__ import annotations

from pathlib import Path

from tests.xdist_groups import FIRST, SHARED, SHARED_FILES, order, work_unit

REPO = Path(__file__).resolve().parents[1]


def test_work_units():
    assert work_unit("tests/e2e/test_demo.py::test_demo_scaled_down") == "e2e"
    assert work_unit("tests/e2e/test_syn.py::test_full_size_model") == SHARED
    assert work_unit("tests/cluster/test_slurm.py::test_local_run_succeeds") == SHARED
    assert work_unit("tests/cluster/test_array_script.py::test_x") == "cluster"
    assert work_unit("tests/lrp/test_engine.py::TestBadInput::test_x[a::b]") == "lrp"
    assert work_unit("tests/test_config.py::test_toml_round_trip") == "tests/test_config.py"


def test_the_reference_run_and_the_end_to_end_tests_go_first():
    ids = ["tests/cli/test_a.py::t", "tests/e2e/test_demo.py::t", "tests/e2e/test_group.py::t"]
    assert sorted(ids, key=order) == [ids[2], ids[1], ids[0]]
    assert FIRST[0] == SHARED


def test_shared_files_exist():
    assert all((REPO / path).is_file() for path in SHARED_FILES)
