"""The job-array script's task -> participant mapping, outside SLURM (no cluster needed)."""

from __future__ import annotations

import os
import subprocess

from tests.cluster.conftest import EXAMPLES


def _array_task(task: int, *args: str, **env: str) -> subprocess.CompletedProcess:
    """The array script outside SLURM, with ``echo`` in place of bids_lrp."""
    return subprocess.run(
        ["bash", str(EXAMPLES / "bids_lrp_array.sbatch"), *args],
        env=dict(os.environ, SLURM_ARRAY_TASK_ID=str(task), BIDS_LRP="echo", **env),
        capture_output=True,
        text=True,
        check=False,
    )


def test_array_script_maps_tasks_to_participants(tmp_path):
    for label in ("02", "10", "01"):
        (tmp_path / "bids" / f"sub-{label}").mkdir(parents=True)
    (tmp_path / "bids" / "sub-03.html").touch()  # not a participant folder
    bids, out = str(tmp_path / "bids"), str(tmp_path / "out")
    first = _array_task(0, bids, out, "--omp-nthreads", "1", WORK_DIR="/w")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1].split() == [
        *(bids, out, "participant", "--participant-label", "01", "-w", "/w/sub-01"),
        *("--nprocs", "1", "--omp-nthreads", "1", "--omp-nthreads", "1"),
    ]
    assert "--participant-label 10 " in _array_task(2, bids, out).stdout
    beyond = _array_task(3, bids, out)
    assert beyond.returncode == 64 and "only 3 participants" in beyond.stderr
    labels = tmp_path / "labels.txt"
    labels.write_text("sub-10\n\n02\n")
    chosen = _array_task(1, bids, out, LABELS_FILE=str(labels))
    assert "--participant-label 02 " in chosen.stdout
    assert _array_task(0, bids).returncode == 64  # usage
