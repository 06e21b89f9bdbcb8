"""On a real SLURM cluster: nipype's SLURM plugin and the job-array script give the local outputs.

The cluster (tests/cluster/slurm.py) is one node on this machine; the runs are in
``cluster_runs`` (conftest.py): the same two simulated participants and options, run locally
(MultiProc: ``reference_run`` of tests/conftest.py, which the end-to-end tests share), with
``--use-plugin examples/slurm/slurm_plugin.yml`` and with
``sbatch --array=0-1 examples/slurm/bids_lrp_array.sbatch``.
"""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from tests.cluster.conftest import EXAMPLES
from tests.e2e.helpers import assert_same_outputs

pytestmark = pytest.mark.slow


def test_cluster_runs_one_job(slurm):
    job = slurm.run("sbatch", "--parsable", "--wrap", "true").stdout.strip()
    assert slurm.wait(job, timeout=60, poll=0.2)
    shown = slurm.run("scontrol", "show", "job", job).stdout
    assert "JobState=COMPLETED" in shown and "ExitCode=0:0" in shown


def test_local_run_succeeds(cluster_runs):
    local = cluster_runs["local"]
    assert local.returncode == 0, local.log
    assert sorted(p.name for p in local.out.glob("sub-*.html")) == ["sub-001.html", "sub-002.html"]


def test_slurm_plugin_gives_the_local_outputs(cluster_runs):
    run = cluster_runs["plugin"]
    assert run.returncode == 0, run.log
    assert cluster_runs["local"].returncode == 0
    assert_same_outputs(run.out, cluster_runs["local"].out)
    # the steps really ran as SLURM jobs: nipype keeps each job's batch script and its output
    work = run.out.parent / "work_plugin"
    scripts = list(work.rglob("batch/batchscript_*.sh"))
    assert len(scripts) >= 2 * 5, [s.name for s in scripts]  # >= 5 steps per participant
    assert len(list(work.rglob("batch/slurm-*.out"))) == len(scripts)


def test_job_array_gives_the_local_outputs(cluster_runs):
    run = cluster_runs["array"]
    assert run.returncode == 0, run.log
    assert len(re.findall(r"JobState=COMPLETED", run.log)) == 2, run.log
    assert cluster_runs["local"].returncode == 0
    assert_same_outputs(run.out, cluster_runs["local"].out)
    # one work folder per task, as the script promises
    work = run.out.parent / "work_array"
    assert sorted(p.name for p in work.iterdir()) == ["sub-001", "sub-002"]


def test_example_resources_are_accepted_by_sbatch(slurm, tmp_path):
    """The plugin file's sbatch_args and the array script's #SBATCH lines pass sbatch's checks."""
    data = yaml.safe_load((EXAMPLES / "slurm_plugin.yml").read_text())
    assert data["plugin"] == "SLURM"
    args = shlex.split(data["plugin_args"]["sbatch_args"])
    checked = slurm.run("sbatch", "--test-only", *args, "--wrap", "true", check=False)
    assert checked.returncode == 0, checked.stderr
    script = EXAMPLES / "bids_lrp_array.sbatch"
    checked = slurm.run(
        "sbatch", "--test-only", "--array=0-1", str(script), str(tmp_path), "out", check=False
    )
    assert checked.returncode == 0, checked.stderr
