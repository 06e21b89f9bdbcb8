"""SIGTERM: stop the whole run, workers included, as an interrupt does.

nipype's MultiProc workers come from a fork server, so they are not the main process's
children: when a scheduler or a user sends SIGTERM to ``bids_lrp`` alone, the main process
died and its workers (and their registrations) ran on. Here SIGTERM becomes a
`Terminated` exception in the main process (the run then ends like an interrupt: finished
steps stay in the work folder for a resume) and every process the run started is stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["Terminated", "descendants", "terminate_on_sigterm"]


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM (a KeyboardInterrupt, so cleanups run)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux ``/proc``; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _stop(pids: list[int], grace: float = 5.0) -> None:
    """SIGTERM ``pids``, then SIGKILL those still there after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
                alive.append(pid)
        deadline = time.monotonic() + grace
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = [p for p in alive if Path(f"/proc/{p}").exists() and not _zombie(p)]
        if not alive:
            return
        pids = alive


def _resource_tracker(pid: int) -> bool:
    """multiprocessing's resource tracker: it cleans up after the others and exits with us."""
    try:
        return b"multiprocessing.resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated`; on leaving it that way, the processes
    started within the block are stopped. A no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = set(descendants(os.getpid()))

    def handler(signum, frame):
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut this
        # The pool's futures now fail with BrokenProcessPool on purpose; concurrent.futures
        # would log a traceback for each of nipype's callbacks.
        logging.getLogger("concurrent.futures").disabled = True
        mine = [
            p for p in descendants(os.getpid()) if p not in before and not _resource_tracker(p)
        ]
        _stop(mine)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
