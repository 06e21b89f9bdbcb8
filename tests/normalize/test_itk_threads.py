"""ITK reads its thread count once per process: the participant level sets it before its
workers start, not inside a running worker (where setting it changes nothing)."""

from __future__ import annotations

import os
import subprocess
import sys

from bids_lrp.config import Settings
from bids_lrp.workflows.execution import _configure_nipype

# Runs N4 twice in one process and reports the peak number of OS threads of each run.
_PROBE = """
import os, sys, threading, time
import numpy as np
os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = sys.argv[1]
import ants
img = ants.from_numpy(np.random.default_rng(0).random((48, 48, 48)).astype("float32") + 1)
def peak(fn):
    found, stop = [0], threading.Event()
    def watch():
        while not stop.is_set():
            found[0] = max(found[0], len(os.listdir("/proc/self/task")))
            time.sleep(0.001)
    watcher = threading.Thread(target=watch)
    watcher.start(); fn(); stop.set(); watcher.join()
    return found[0]
n4 = lambda: ants.n4_bias_field_correction(
    img, shrink_factor=2, convergence={"iters": [10, 10], "tol": 1e-9}
)
first = peak(n4)
os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = sys.argv[2]
print(first, peak(n4))
"""


def _threads(first: int, then: int) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(first), str(then)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    before, after = done.stdout.split()
    return int(before), int(after)


def test_itk_ignores_a_thread_count_set_after_its_first_use():
    one, still_one = _threads(1, 3)
    three, _ = _threads(3, 1)
    assert three > one  # the setting does act at the first use...
    assert still_one == one  # ...and is not read again


def test_the_participant_level_sets_itk_threads_before_its_workers_start(tmp_path, monkeypatch):
    monkeypatch.setenv("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "8")
    monkeypatch.setenv("NIPYPE_CONFIG_DIR", str(tmp_path))
    settings = Settings(
        bids_dir=tmp_path,
        output_dir=tmp_path / "out",
        analysis_level="participant",
        work_dir=tmp_path / "work",
        model=tmp_path / "m.safetensors",
        omp_nthreads=3,
    )
    _configure_nipype(settings, tmp_path / "crash")
    assert os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] == "3"
