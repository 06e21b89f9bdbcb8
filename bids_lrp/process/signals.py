"""SIGTERM and Ctrl-C: stop the whole run, workers included, quietly.

nipype's MultiProc workers come from a fork server, so they are not the main process's
children: when a scheduler or a user sends SIGTERM to ``bids_lrp`` alone, the main process
died and its workers (and their registrations) ran on. Here SIGTERM becomes a
`Terminated` exception in the main process (the run then ends like an interrupt: finished
steps stay in the work folder for a resume) and every process the run started is stopped.

Ctrl-C sends SIGINT to every process of the terminal's process group: each worker printed its
own KeyboardInterrupt traceback. The fork server is started with SIGINT ignored
(`start_fork_server`), so its workers ignore it too and the main process stops them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import forkserver
from pathlib import Path

__all__ = ["Terminated", "descendants", "start_fork_server", "terminate_on_sigterm"]


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


def start_fork_server() -> None:
    """Start multiprocessing's fork server with SIGINT ignored, so that its workers ignore it.

    The fork server hands its own startup handlers down to every worker it forks; a SIG_IGN
    survives the ``exec`` that starts it. A fork server already running is left as it is.
    """

    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


class _QuietBrokenPool(logging.Filter):
    """Drop concurrent.futures' traceback for a pool broken because the run is stopping.

    A signal sent to the whole process group (``timeout``, a scheduler) kills the workers too:
    the pool's manager thread may report the broken pool to nipype's callback (which raises,
    and concurrent.futures logs it) before the main thread has run the Python signal handler.
    So the first such record waits a moment for the handler; a pool that breaks for another
    reason (a worker killed for memory) is still reported, one second late.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stopping = threading.Event()
        self._wait = 1.0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, BrokenProcessPool):
            return True
        if not self.stopping.wait(self._wait):
            self._wait = 0.0  # not stopping: report this and later ones at once
            return True
        return False


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` (SIGINT its KeyboardInterrupt); on leaving
    it by either, the processes started within the block are stopped. A no-op outside the main
    thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = set(descendants(os.getpid()))
    quiet = _QuietBrokenPool()
    futures_log = logging.getLogger("concurrent.futures")

    def on_sigterm(signum, frame):
        quiet.stopping.set()
        raise Terminated(signum)

    def on_sigint(signum, frame):
        quiet.stopping.set()
        raise KeyboardInterrupt

    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, on_sigterm)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not if ignored
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, on_sigint)
    futures_log.addFilter(quiet)
    try:
        yield
    except KeyboardInterrupt:  # Terminated too
        quiet.stopping.set()
        for signum in previous:  # a second signal must not cut the cleanup short
            signal.signal(signum, signal.SIG_IGN)
        # The pool's futures now fail with BrokenProcessPool on purpose; concurrent.futures
        # would log a traceback for each of nipype's callbacks.
        futures_log.disabled = True
        mine = [
            p for p in descendants(os.getpid()) if p not in before and not _resource_tracker(p)
        ]
        _stop(mine)
        raise
    finally:
        futures_log.removeFilter(quiet)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
