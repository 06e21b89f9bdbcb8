"""Mean relevance maps per group, streamed: one volume at a time, never all in memory.

Each worker thread reads one map at a time (`bids_lrp.group.niftistream`) and adds it, block
by block while the block is in the CPU cache, to the sum of the image's *cell* (e.g. (AD, TP));
group sums are sums of cells at the end, so each map is read and added once however many
groups it belongs to. Inflating and adding release the GIL, so the threads run in parallel. A
map that cannot be read, or lies on another grid, is left out and reported; it never leaves a
partial sum behind.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from bids_lrp.grid import Grid
from bids_lrp.group.niftistream import MapError, iter_values, keep_freed_memory

__all__ = ["StreamedSums", "mean_image", "stream_sums"]

_BATCH = 32  # maps summed in float32 before they go into the float64 running sum


@dataclass
class StreamedSums:
    """Running sums (float64, flat in file order) and image counts per cell; failures."""

    sums: dict[Hashable, np.ndarray] = field(default_factory=dict)
    counts: dict[Hashable, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def add(self, other: StreamedSums) -> None:
        """Add another worker's sums into these."""
        for key, values in other.sums.items():
            if key in self.sums:
                self.sums[key] += values
            else:
                self.sums[key] = values
            self.counts[key] = self.counts.get(key, 0) + other.counts[key]
        self.failed.update(other.failed)

    def count(self, keys: Iterable[Hashable]) -> int:
        """Images summed over several cells (the count of `total`, without summing)."""
        return sum(self.counts.get(k, 0) for k in keys if k in self.sums)

    def total(self, keys: Iterable[Hashable]) -> tuple[np.ndarray | None, int]:
        """Sum and count over several cells (None when none of them has an image)."""
        present = [k for k in keys if k in self.sums]
        if not present:
            return None, 0
        total = self.sums[present[0]].copy()
        for key in present[1:]:
            total += self.sums[key]
        return total, sum(self.counts[k] for k in present)


def _add_volume(path: Path, grid: Grid, total: np.ndarray) -> None:
    """Add a map into ``total`` block by block, while each block is in the CPU cache.

    (Testing blocks for zeros first costs more than it saves: under 1% of the megabyte
    blocks of a relevance map are all zero.) On `MapError`, ``total`` may hold part of the
    map: the caller rebuilds it.
    """
    for pos, values in iter_values(path, grid):
        part = total[pos : pos + len(values)]
        np.add(part, values, out=part)


class _Worker:
    """One thread's sums: per cell a float32 batch of at most `_BATCH` maps and a float64 sum.

    The float32 batch halves the memory traffic of each addition; flushing it into float64
    every `_BATCH` maps keeps the relative error near 1e-7.
    """

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.result = StreamedSums()
        self.batch: dict[Hashable, np.ndarray] = {}
        self.batch_paths: dict[Hashable, list[Path]] = {}

    def flush(self, key: Hashable) -> None:
        sums = self.result.sums
        if key not in sums:
            sums[key] = np.zeros(self.grid.size, dtype=np.float64)
        np.add(sums[key], self.batch[key], out=sums[key])
        self.batch[key].fill(0)
        self.batch_paths[key] = []

    def fail(self, key: Hashable, path: Path, reason: str) -> None:
        """Record a bad map and rebuild its cell's batch without it."""
        self.result.failed[str(path)] = reason
        while True:
            self.batch[key].fill(0)
            try:
                for good in self.batch_paths[key]:
                    _add_volume(good, self.grid, self.batch[key])
                return
            except MapError as err:  # only if a file changed since it was first read
                self.batch_paths[key].remove(good)
                self.result.counts[key] -= 1
                self.result.failed[str(good)] = str(err)

    def add(self, path: Path, key: Hashable) -> None:
        if key not in self.batch:
            self.batch[key] = np.zeros(self.grid.size, dtype=np.float32)
            self.batch_paths[key] = []
            self.result.counts[key] = 0
        try:
            _add_volume(path, self.grid, self.batch[key])
        except MapError as err:
            self.fail(key, path, str(err))
            return
        self.result.counts[key] += 1
        self.batch_paths[key].append(path)
        if len(self.batch_paths[key]) == _BATCH:
            self.flush(key)

    def finish(self) -> StreamedSums:
        for key in self.batch:
            if self.batch_paths[key] or key not in self.result.sums:
                self.flush(key)
        return self.result


def _work(tasks, lock, grid: Grid) -> StreamedSums:
    worker = _Worker(grid)
    while True:
        with lock:
            task = next(tasks, None)
        if task is None:
            return worker.finish()
        worker.add(Path(task[0]), task[1])


def stream_sums(
    tasks: Sequence[tuple[str | Path, Hashable]], grid: Grid, n_workers: int = 1
) -> StreamedSums:
    """Sum the maps per cell, one volume at a time per worker thread.

    Parameters
    ----------
    tasks : sequence of (path, cell)
        Each map and the cell (any hashable) whose sum it adds to.
    grid : Grid
        The grid every map must lie on (`read_grid` of the first one).
    n_workers : int
        Threads. Memory: per thread one float32 volume, and per cell one float32 batch sum
        and one float64 running sum.
    """
    keep_freed_memory()
    iterator = iter(list(tasks))
    lock = threading.Lock()
    n_workers = max(1, min(int(n_workers), len(tasks) or 1))
    total = StreamedSums()
    with ThreadPoolExecutor(n_workers, thread_name_prefix="bids_lrp-maps") as pool:
        futures = [pool.submit(_work, iterator, lock, grid) for _ in range(n_workers)]
        for future in futures:
            total.add(future.result())
    return total


def mean_image(total: np.ndarray, count: int, grid: Grid) -> nib.Nifti1Image:
    """A float32 image of ``total / count`` on ``grid`` (``total`` flat in file order)."""
    mean = (total / max(count, 1)).astype(np.float32).reshape(grid.shape, order="F")
    img = nib.Nifti1Image(mean, grid.affine)
    img.header.set_data_dtype(np.float32)
    img.header.set_xyzt_units("mm")
    return img
