"""The exit codes of the three commands (``bids_lrp``, ``bids_lrp-simulate``, ``bids_lrp-train``).

The BIDS-Apps execution spec where it sets them, BSD ``sysexits.h`` where it defers to it, and
128 + the signal number for a run stopped by a signal, as a shell reports a process it killed.
"""

from __future__ import annotations

import signal

__all__ = [
    "EX_CANTCREAT",
    "EX_FAILED",
    "EX_INTERRUPTED",
    "EX_INVALID_BIDS",
    "EX_NOINPUT",
    "EX_NOTHING_SELECTED",
    "EX_TERMINATED",
    "EX_USAGE",
    "CommandError",
    "stopped_by",
]

#: Some image (or step) failed; the rest was completed.
EX_FAILED = 1
#: The input is not a valid BIDS dataset.
EX_INVALID_BIDS = 16
#: The filters selected nothing.
EX_NOTHING_SELECTED = 18
#: A usage error: a bad option, label, file or folder (sysexits EX_USAGE).
EX_USAGE = 64
#: An input that must exist does not (sysexits EX_NOINPUT).
EX_NOINPUT = 66
#: The output cannot be created or written (sysexits EX_CANTCREAT).
EX_CANTCREAT = 73
#: Stopped by Ctrl-C (SIGINT).
EX_INTERRUPTED = 128 + signal.SIGINT
#: Stopped by SIGTERM (a scheduler's time limit, ``kill``).
EX_TERMINATED = 128 + signal.SIGTERM


class CommandError(Exception):
    """A problem a command reports as one line and exit status ``code`` (no traceback)."""

    def __init__(self, message: str, code: int = EX_USAGE) -> None:
        super().__init__(message)
        self.code = code


def stopped_by(err: KeyboardInterrupt) -> int:
    """The exit code of a run stopped by ``err``: 143 for SIGTERM (its ``signum``), else 130."""
    return 128 + int(getattr(err, "signum", signal.SIGINT))
