"""How the suite is shared between two pytest-xdist workers (``make test``: ``-n 2``).

A work unit is a test folder, a test file at the top of ``tests/``, or `SHARED_FILES`: the
tests that use the end-to-end reference run or the SLURM cluster (session fixtures that must
be made once, on one worker). Each unit runs on one worker, so a session or module fixture is
made once. The reference run's unit goes first, alone on one worker; the other end-to-end
tests go second, on the other worker, and the rest follows on whichever worker is free.

pytest-xdist's own ``--dist loadgroup`` renames node ids, which pytest 9.2 no longer reads;
this scheduler groups by the node id instead.
"""

from __future__ import annotations

#: Fixtures of `SHARED_FILES` (tests/conftest.py checks that no other file uses them).
SHARED_FIXTURES = ("reference_run", "slurm", "cluster_runs")
SHARED_FILES = (
    "tests/cluster/test_slurm.py",
    "tests/e2e/test_benchmark.py",
    "tests/e2e/test_group.py",
    "tests/e2e/test_participant.py",
    "tests/e2e/test_reliability.py",
    "tests/e2e/test_syn.py",
)
SHARED = "reference_run"
FIRST = (SHARED, "e2e")


def work_unit(nodeid: str) -> str:
    """``tests/e2e/test_demo.py::test_x`` -> ``e2e``; a shared file -> `SHARED`."""
    path = nodeid.split("::", 1)[0]
    if path in SHARED_FILES:
        return SHARED
    parts = path.split("/")
    return parts[1] if len(parts) > 2 else path


def order(nodeid: str) -> int:
    """Sort key: the `FIRST` units first (the scheduler hands units out in test order)."""
    unit = work_unit(nodeid)
    return FIRST.index(unit) if unit in FIRST else len(FIRST)


def make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # keep the test order: `FIRST` first
    return ByWorkUnit(config, log)
