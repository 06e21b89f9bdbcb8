"""SIGTERM to the main process stops the whole run: no worker is left computing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from bids_lrp.process.signals import descendants
from tests.e2e.helpers import app_env, common_args


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cmd(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_sigterm_stops_the_workers_too(tmp_path, sim_bids, e2e_model):
    exe = Path(sys.executable).parent / "bids_lrp"
    cmd = [exe, sim_bids, tmp_path / "out", "participant", "-w", tmp_path / "work"]
    proc = subprocess.Popen(
        [*map(str, cmd), *common_args(e2e_model), "--skip-bids-validation"],
        env=app_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # nipype's workers (children of the fork server, itself a child) are at work
        deadline = time.monotonic() + 120
        while len(descendants(proc.pid)) < 3 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        time.sleep(2.0)  # well inside the first steps (N4, registration)
        workers = [p for p in descendants(proc.pid) if b"resource_tracker" not in _cmd(p)]
        assert len(workers) >= 3, workers
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "terminated (SIGTERM); rerun with the same work folder to resume" in err
    assert "Traceback" not in err
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in workers if _alive(p)]
    assert not list((tmp_path / "out").rglob("*.tmp"))  # no half-written output file
