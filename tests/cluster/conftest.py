"""A real one-node SLURM cluster for the session, and one dataset run three ways on it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster.slurm import ClusterError, LocalSlurm, missing_prerequisites
from tests.e2e.helpers import app_env, common_args

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "slurm"
BIDS_LRP = Path(sys.executable).parent / "bids_lrp"
TIMEOUT_S = 600


@pytest.fixture(scope="session")
def slurm():
    """slurmctld, slurmd and munged on localhost, stopped after the session."""
    why = missing_prerequisites()
    if why:
        pytest.fail(
            f"cannot start a SLURM cluster: {why}. Run the tests as CI does, as root: .ci/run "
            "(it installs slurmctld, slurmd, slurm-client and munge with apt-get)",
            pytrace=False,
        )
    cluster = LocalSlurm()
    try:
        cluster.start()
    except ClusterError as err:
        cluster.stop()
        pytest.fail(f"the SLURM daemons did not start: {err}", pytrace=False)
    yield cluster
    cluster.stop()


@dataclass(frozen=True)
class Run:
    """One way of running the participant level: its output folder, exit code and log."""

    out: Path
    returncode: int
    log: str
    seconds: float


def _array_result(slurm: LocalSlurm, job: str) -> tuple[int, str]:
    """Exit code (0 when every task COMPLETED) and `scontrol show job` of a finished array."""
    shown = slurm.run("scontrol", "--oneliner", "show", "job", job).stdout
    states = re.findall(r"JobState=(\S+)", shown)
    return (0 if states and all(s == "COMPLETED" for s in states) else 1), shown


@pytest.fixture(scope="session")
def cluster_runs(slurm, tmp_path_factory, request, sim_bids, e2e_model) -> dict[str, Run]:
    """The two simulated participants of `reference_run` run locally (that run itself), through
    nipype's SLURM plugin and as a job array, with the reference run's options.

    The runs go at once: the SLURM runs spend much of their time waiting (job start-up,
    polling), which the local run fills; unless an earlier test made it, the local run is made
    here, after the SLURM runs have started.
    """
    root = tmp_path_factory.mktemp("cluster")
    env = app_env() | slurm.env
    common = common_args(e2e_model)

    def participant(name: str, *extra: str) -> subprocess.Popen:
        out, work = root / f"out_{name}", root / f"work_{name}"
        cmd = [BIDS_LRP, sim_bids, out, "participant", "-w", work]
        with open(root / f"{name}.log", "w") as log:
            return subprocess.Popen(
                [*map(str, cmd), *common, *extra],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its group (with nipype's workers) can be killed
            )

    start = time.monotonic()
    procs = {"plugin": participant("plugin", "--use-plugin", str(EXAMPLES / "slurm_plugin.yml"))}
    try:
        array_env = env | {"BIDS_LRP": str(BIDS_LRP), "WORK_DIR": str(root / "work_array")}
        job = slurm.run(
            "sbatch",
            "--parsable",
            "--array=0-1",
            "--cpus-per-task=1",
            f"--output={root}/array_%a.log",
            str(EXAMPLES / "bids_lrp_array.sbatch"),
            str(sim_bids),
            str(root / "out_array"),
            "--model",  # the script sets --nprocs and --omp-nthreads from --cpus-per-task
            str(e2e_model),
            env=array_env,
        ).stdout.strip()
        local, code = request.getfixturevalue("reference_run")
        seconds = time.monotonic() - start
        runs = {"local": Run(local, code, "(the in-process reference run)", seconds)}
        runs |= _wait_for_runs(slurm, procs, job, root, start)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    missing = sorted({"local", "plugin", "array"} - set(runs))
    assert not missing, f"still running after {TIMEOUT_S} s: {', '.join(missing)}"
    return runs


def _wait_for_runs(
    slurm: LocalSlurm, procs: dict[str, subprocess.Popen], job: str, root: Path, start: float
) -> dict[str, Run]:
    """Poll the processes and the array once a second (`sbatch --wait` backs off to 32 s)."""
    runs: dict[str, Run] = {}
    while len(runs) < len(procs) + 1 and time.monotonic() - start < TIMEOUT_S:
        time.sleep(1)
        elapsed = time.monotonic() - start
        for name, proc in procs.items():
            if name not in runs and proc.poll() is not None:
                log = (root / f"{name}.log").read_text()
                runs[name] = Run(root / f"out_{name}", proc.returncode, log, elapsed)
        if "array" not in runs and slurm.wait(job, timeout=0):
            code, shown = _array_result(slurm, job)
            logs = "\n".join(p.read_text() for p in sorted(root.glob("array_*.log")))
            runs["array"] = Run(root / "out_array", code, f"{shown}\n{logs}", elapsed)
    for name, run in runs.items():
        print(f"cluster run {name}: {run.seconds:.0f} s")  # shown with pytest -s
    return runs
