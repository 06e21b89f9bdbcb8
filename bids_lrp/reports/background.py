"""The group HTML report, drawn beside the group level instead of after it.

Over many participants the group level spends a minute streaming relevance maps, and the
report's figures (charts of the area tables, mean-map views) took ~10 s more after it
(benchmarks/RESULTS.md). Each part of the report can be drawn as soon as its files are written:
the area tables come first, each method's mean maps later. Two worker processes draw them while
the main process streams the next method's maps, so that drawing and streaming share the CPUs
instead of running one after the other; each method's maps are split between the two workers.
The assembled page is the same as drawn in one go (tested). Small cohorts draw in the main
process: starting workers costs more than it saves there.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from bids_lrp.config import MP_CONTEXT
from bids_lrp.process.signals import start_fork_server
from bids_lrp.reports.group import draw_part, write_group_report

__all__ = ["BACKGROUND_FROM", "GroupReport"]

logger = logging.getLogger("bids_lrp")

#: Images from which the report is drawn in a worker process while the maps stream.
BACKGROUND_FROM = 200


class GroupReport:
    """Draws report parts in the background as their files appear; `finish` writes the page.

    A failure here never fails the group level: a part the worker could not draw is drawn again
    in the main process, and a report that cannot be written is a warning.
    """

    #: Worker processes: a method's mean maps (the last part to come) are drawn by all of them.
    WORKERS = 2

    def __init__(self, output_dir: Path, n_images: int, nprocs: int) -> None:
        self.output_dir = output_dir
        self.futures: dict[tuple[str | int, ...], Future] = {}
        self.pool: ProcessPoolExecutor | None = None
        if n_images < BACKGROUND_FROM or nprocs < 2:
            return
        try:
            if MP_CONTEXT == "forkserver":
                start_fork_server()  # its workers ignore Ctrl-C: no traceback from each
            context = multiprocessing.get_context(MP_CONTEXT)
            self.pool = ProcessPoolExecutor(max_workers=self.WORKERS, mp_context=context)
        except (OSError, ValueError) as err:
            logger.debug("group report drawn in the main process: %s", err)

    def __enter__(self) -> GroupReport:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def submit(self, part: tuple[str, ...], paths: Iterable[Path]) -> None:
        """Draw ``part`` (see `bids_lrp.reports.group.draw_part`) from ``paths`` now, if able."""
        if self.pool is None:
            return
        paths = [Path(p) for p in paths]
        shares = [(*part, k, self.WORKERS) for k in range(self.WORKERS)]
        try:
            for piece in shares if part[0] == "maps" else [part]:
                self.futures[piece] = self.pool.submit(draw_part, self.output_dir, piece, paths)
        except RuntimeError as err:  # a broken pool: the rest is drawn in the main process
            logger.debug("group report part %s not submitted: %s", part, err)

    def finish(self) -> None:
        """Collect the parts drawn in the background and write the page."""
        drawn = {}
        for part, future in self.futures.items():
            try:
                drawn[part] = future.result()
            except Exception as err:  # drawn again below, in this process
                logger.debug("group report part %s failed in the worker: %s", part, err)
        self.__exit__()
        try:
            write_group_report(self.output_dir, drawn)
        except Exception as err:
            logger.warning("the group report could not be written: %s", err)
