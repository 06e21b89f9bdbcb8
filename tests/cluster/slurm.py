"""A one-node SLURM cluster on this machine (Debian's slurm-wlm and munge), for the tests.

Everything lives in one private folder: its own munge key and socket, a minimal slurm.conf, free
ports, state and logs, so it neither needs nor disturbs a system SLURM or munge. The daemons run
in the foreground as children of the test process and are stopped with it.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

#: Programs the cluster needs (Debian packages slurmctld, slurmd, slurm-client, munge).
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel")

SLURM_CONF = """\
ClusterName=bidslrptest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
# no cgroups in containers and CI sandboxes
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
# CPUs are the consumable resource; a job's --mem is only checked against RealMemory
SelectTypeParameters=CR_CPU
ReturnToService=2
MailProg=/bin/true
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
# two jobs per CPU: the tests overlap a job array with a run whose jobs mostly wait
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:2
"""


class ClusterError(RuntimeError):
    """The cluster could not be brought up (the message carries the daemons' logs)."""


def missing_prerequisites() -> str | None:
    """Why this machine cannot run the cluster (not root, programs missing), or None."""
    if os.geteuid() != 0:
        return "the SLURM tests start slurmd and munged, which needs root"
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        return f"programs not found: {', '.join(missing)}"
    return None


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies (no daemon left)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _memory_mb() -> int:
    """90% of the machine's memory: slurmd drains a node that has less than it is said to."""
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    return int(kb / 1024 * 0.9)


class LocalSlurm:
    """slurmctld + slurmd + munged on localhost; `env` is what clients and jobs need."""

    def __init__(self) -> None:
        # munged wants every folder above its socket searchable by all (pytest's are 0700)
        self.root = Path(tempfile.mkdtemp(prefix="bids_lrp-slurm-"))
        self.root.chmod(0o755)
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        # nipype's SLURM plugin names jobs after $LOGNAME; bids_lrp sets it when it is unset
        # (as in many containers): left out here so that the runs prove it
        self.env.pop("LOGNAME", None)
        self._procs: dict[str, subprocess.Popen] = {}

    def start(self, timeout: float = 60.0) -> None:
        """Write the configuration, start the daemons, wait until the node is idle."""
        munge = self.munge_socket.parent
        munge.mkdir(mode=0o755)
        munge.chmod(0o755)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        for sub in ("state", "spool"):
            (self.root / sub).mkdir()
        self.conf.write_text(
            SLURM_CONF.format(
                host=self.host,
                root=self.root,
                munge_socket=self.munge_socket,
                ctld_port=_free_port(),
                slurmd_port=_free_port(),
                cpus=os.cpu_count() or 1,
                memory_mb=_memory_mb(),
            )
        )
        self._spawn(
            "munged",
            "munged",
            "--foreground",
            f"--socket={self.munge_socket}",
            f"--key-file={key}",
            f"--log-file={munge / 'munged.log'}",
            f"--pid-file={munge / 'munged.pid'}",
            f"--seed-file={munge / 'munged.seed'}",
        )
        self._wait(lambda: self.munge_socket.exists(), timeout, "munged did not create its socket")
        self._spawn("slurmctld", "slurmctld", "-D", "-f", str(self.conf))
        self._spawn("slurmd", "slurmd", "-D", "-f", str(self.conf), "-N", self.host)
        self._wait(self._node_idle, timeout, "the node did not become idle")

    def _spawn(self, name: str, *cmd: str) -> None:
        with open(self.root / f"{name}.stderr", "wb") as err:
            self._procs[name] = subprocess.Popen(
                cmd,
                env=self.env,
                stdout=err,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def _node_idle(self) -> bool:
        result = self.run("sinfo", "--noheader", "--Node", "--format=%T", check=False)
        return result.returncode == 0 and result.stdout.strip() == "idle"

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [n for n, p in self._procs.items() if p.poll() is not None]
            if dead:
                raise ClusterError(f"{', '.join(dead)} exited\n{self.logs()}")
            if ready():
                return
            time.sleep(0.2)
        raise ClusterError(f"{what} within {timeout:.0f} s\n{self.logs()}")

    def run(self, *cmd: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this cluster."""
        kwargs.setdefault("env", self.env)
        kwargs.setdefault("cwd", self.root)  # where jobs without --output write slurm-<id>.out
        return subprocess.run(cmd, capture_output=True, text=True, check=check, **kwargs)

    def wait(self, job: str, timeout: float, poll: float = 1.0) -> bool:
        """Wait until a job (or every task of an array) has left the queue; False on timeout.

        `sbatch --wait` would do, but it backs off to 32 s between its checks.
        """
        deadline = time.monotonic() + timeout
        while True:
            queued = self.run("squeue", "--noheader", f"--jobs={job}", check=False)
            if queued.returncode == 0 and not queued.stdout.strip():
                return True
            if "Invalid job id" in queued.stderr:  # finished long ago and forgotten
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)

    def logs(self) -> str:
        """Every daemon log, for failure messages."""
        files = sorted(self.root.glob("*.log")) + sorted(self.root.glob("*.stderr"))
        files += sorted((self.root / "munge").glob("*.log"))
        parts = [f"--- {f.name}\n{f.read_text(errors='replace')[-4000:]}" for f in files]
        return "\n".join(parts) or f"(no logs in {self.root})"

    def stop(self) -> None:
        """Cancel leftover jobs, stop the daemons, remove the folder."""
        if "slurmctld" in self._procs and self._procs["slurmctld"].poll() is None:
            jobs = self.run("squeue", "--noheader", "--format=%A", check=False).stdout.split()
            if jobs:
                self.run("scancel", *jobs, check=False)
        for proc in reversed(list(self._procs.values())):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()
        shutil.rmtree(self.root, ignore_errors=True)
