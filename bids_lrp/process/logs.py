"""The command-line tools' logging: one handler on the ``bids_lrp`` logger, writing to
whatever ``sys.stderr`` is when a record is emitted.

A handler that kept the ``sys.stderr`` of the moment it was made would write to a closed
stream once that stream is swapped out (a notebook cell, pytest's capture, a caller that
redirects stderr around one ``main`` call), and every later record would print a
"--- Logging error ---" traceback, as `logging.lastResort` avoids the same way.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

logger = logging.getLogger("bids_lrp")


class StderrHandler(logging.StreamHandler):
    """A `logging.StreamHandler` on the current ``sys.stderr``, looked up at each record."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        logging.Handler.__init__(self, level)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # set by StreamHandler.setStream; stderr is looked up
        pass


class _WriteHandler(logging.Handler):
    def __init__(self, write: Callable[[str], None]) -> None:
        super().__init__()
        self._write = write

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._write(self.format(record))
        except Exception:  # logging's own policy: report, never raise
            self.handleError(record)


def setup_logging(
    prog: str, level: int, *, write: Callable[[str], None] | None = None
) -> logging.Handler:
    """Send the ``bids_lrp`` logger's records at ``level`` and above to stderr, prefixed with
    the time and ``prog``; its records no longer reach the root logger.

    ``write``, if given, prints each formatted line instead (e.g. ``tqdm.write``, which keeps
    a progress bar below the log). Calling it again replaces the earlier handler.
    """
    handler = StderrHandler() if write is None else _WriteHandler(write)
    handler.setFormatter(logging.Formatter(f"%(asctime)s {prog} %(message)s", "%H:%M:%S"))
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    return handler
