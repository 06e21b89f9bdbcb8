"""A cache of network inputs on disk, read a batch at a time.

Held in memory as float32, 969 ADNI scans on the paper's 1 mm grid take 33 GB; a cohort ten
times larger does not fit any machine. `write_cache` loads every scan onto the network grid once
(as `bids_lrp.model.network_input.load_scans` does) and writes them into one ``inputs.npy`` of
shape ``(n_scans, X, Y, Z)``; `ScanCache` then reads the rows a batch needs with positioned
reads (no memory map, so the process holds only the rows it asked for, whatever the cohort
size). It pickles as its path, so DataLoader worker processes open it themselves.

Values are network inputs in [0, 1] (brain-masked, min-max scaled), stored as

- ``float32``: exactly (training gives the same weights as from memory);
- ``float16``: half the disk, rounded to the nearest half-precision value (error at most
  2**-12 near 1, less below);
- ``uint8``: a quarter, ``round(x * 255)`` read back as ``value / 255`` (error at most 1/510).

``cache.json`` records the storage type, the scaling, the grid, the resampling and every scan
with its file's SHA-256, size and modification time: a later run with the same scans (same
sizes and times), grid, resampling and type reuses the cache instead of loading them again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from bids_lrp.grid import Grid
from bids_lrp.model.data import Scan, TrainingDataError, voxel_text
from bids_lrp.model.network_input import iter_loaded
from bids_lrp.safewrite import atomic_write_json

__all__ = [
    "CACHE_TYPES",
    "ScanCache",
    "is_cache_folder",
    "max_error",
    "open_or_write_cache",
    "write_cache",
    "write_inputs",
]

logger = logging.getLogger(__name__)

#: Storage type -> the largest difference between a stored input and the original.
CACHE_TYPES: dict[str, float] = {"float32": 0.0, "float16": 2.0**-12, "uint8": 1.0 / 510.0}
#: The cache format; a cache of another version is written again.
FORMAT = 1
_DATA, _INDEX = "inputs.npy", "cache.json"


def max_error(dtype: str) -> float:
    """The largest difference between an input in [0, 1] and what ``dtype`` stores of it."""
    return CACHE_TYPES[dtype]


def _encode(data: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "uint8":
        return np.rint(np.clip(data, 0.0, 1.0) * 255.0).astype(np.uint8)
    return data.astype(dtype)


class ScanCache:
    """Network inputs on disk: ``cache[rows]`` reads those rows as float32 ``(n, X, Y, Z)``.

    ``rows`` is an int, a slice or a sequence of ints (in any order, repeats allowed), like
    numpy's indexing of the first axis. Reads are positioned reads of whole rows.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.index = json.loads((self.folder / _INDEX).read_text(encoding="utf-8"))
        self.dtype = np.dtype(self.index["dtype"])
        self.scale = float(self.index["scale"])
        path = self.folder / _DATA
        header = np.load(path, mmap_mode="r")  # shape, type and where the rows start; unmapped
        shape, dtype, self._offset = header.shape, header.dtype, header.offset
        del header
        if dtype != self.dtype:
            raise TrainingDataError(f"{path} holds {dtype}, its index says {self.dtype}")
        self.shape: tuple[int, ...] = tuple(shape)
        self._row = int(np.prod(self.shape[1:]))
        self._fd: int | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict:
        return {"folder": self.folder}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["folder"])

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def _read_row(self, row: int, out: np.ndarray) -> None:
        if self._fd is None:
            self._fd = os.open(self.folder / _DATA, os.O_RDONLY)
        size = self._row * self.dtype.itemsize
        buffer = os.pread(self._fd, size, self._offset + row * size)
        if len(buffer) != size:
            raise TrainingDataError(f"{self.folder / _DATA} is shorter than its header says")
        stored = np.frombuffer(buffer, self.dtype).reshape(self.shape[1:])
        np.multiply(stored, self.scale, out=out, casting="unsafe")

    def __getitem__(self, rows) -> np.ndarray:
        if isinstance(rows, (int, np.integer)):
            return self[[int(rows)]][0]
        if isinstance(rows, slice):
            rows = range(*rows.indices(len(self)))
        rows = [int(r) for r in np.asarray(rows, dtype=np.int64).ravel()]
        out = np.empty((len(rows), *self.shape[1:]), np.float32)
        for i, row in enumerate(rows):
            if not -len(self) <= row < len(self):
                raise IndexError(f"row {row} of a cache of {len(self)} scans")
            self._read_row(row % len(self), out[i])
        return out

    @property
    def digests(self) -> dict[str, str]:
        """Scan prefix -> SHA-256 of its file (as `load_scans` returns them)."""
        return {s["prefix"]: s["sha256"] for s in self.index["scans"]}


def is_cache_folder(folder: str | Path) -> bool:
    """Whether ``folder`` may be written as a cache: missing, empty or holding a cache only."""
    folder = Path(folder)
    if not folder.exists():
        return True
    return folder.is_dir() and {p.name for p in folder.iterdir()} <= {_DATA, _INDEX}


def _stat(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _wanted(scans: Sequence[Scan], grid: Grid, dtype: str, resampling: str) -> dict:
    return {
        "format": FORMAT,
        "dtype": dtype,
        "shape": [len(scans), *grid.shape],
        "affine": np.asarray(grid.affine, float).round(6).tolist(),
        "resampling": resampling,
        "scans": [
            {"prefix": s.prefix, "path": str(s.path.resolve()), **_stat(s.path)} for s in scans
        ],
    }


def _matches(folder: Path, wanted: dict) -> bool:
    try:
        index = json.loads((folder / _INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    found = {k: index.get(k) for k in wanted}
    found["scans"] = [
        {k: s.get(k) for k in ("prefix", "path", "size", "mtime_ns")} for s in found["scans"] or []
    ]
    return found == wanted and (folder / _DATA).is_file()


def write_inputs(
    folder: str | Path,
    inputs: Iterable[np.ndarray],
    shape: Sequence[int],
    dtype: str,
    index: dict,
) -> ScanCache:
    """Write network inputs (float arrays in [0, 1], ``shape[1:]`` each) as a cache.

    ``index`` (the scans, grid and resampling) goes into ``cache.json`` with the storage type,
    scaling and bound. Each input is written as it comes (positioned writes, nothing mapped),
    into a folder beside ``folder`` that replaces it when complete: a failure leaves no cache.
    ``index`` is written last, so ``inputs`` may still complete it while they are produced.
    """
    if dtype not in CACHE_TYPES:
        raise ValueError(f"unknown cache type {dtype!r}; choose from {sorted(CACHE_TYPES)}")
    folder = Path(folder)
    if not is_cache_folder(folder):
        raise ValueError(f"{folder} holds files other than a cache; it is not replaced")
    staging = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        path = staging / _DATA
        header = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=tuple(shape))
        offset = header.offset
        del header  # the file exists at full size; rows are written into it, not mapped
        fd = os.open(path, os.O_WRONLY)
        try:
            for i, data in enumerate(inputs):
                row = _encode(data, dtype).tobytes()
                if os.pwrite(fd, row, offset + i * len(row)) != len(row):
                    raise OSError(f"short write into {path}")
            os.fsync(fd)
        finally:
            os.close(fd)
        scale = 1.0 / 255.0 if dtype == "uint8" else 1.0
        atomic_write_json(
            staging / _INDEX,
            {"format": FORMAT, "dtype": dtype, "shape": list(shape), **index,
             "scale": scale, "max_error": max_error(dtype)},
        )  # fmt: skip
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ScanCache(folder)


def write_cache(
    scans: Sequence[Scan],
    grid: Grid,
    folder: str | Path,
    *,
    dtype: str = "float32",
    resampling: str = "linear",
    threads: int = 1,
    progress: Callable[[int], None] | None = None,
) -> ScanCache:
    """Load every scan onto ``grid`` once and write them as a cache into ``folder``.

    Memory holds a few scans at a time, not the cohort (`write_inputs`).

    Raises
    ------
    bids_lrp.model.data.TrainingDataError
        For a scan that cannot be read or is not a network input.
    """
    wanted = _wanted(scans, grid, dtype, resampling)
    size = len(scans) * int(np.prod(grid.shape)) * np.dtype(dtype).itemsize
    logger.info(
        "caching %d scans on the %s grid %s as %s in %s (%.2f GB on disk)",
        len(scans), voxel_text(grid.voxel_size), "x".join(map(str, grid.shape)), dtype,
        folder, size / 1e9,
    )  # fmt: skip

    def loaded() -> Iterator[np.ndarray]:
        for i, (data, digest) in enumerate(iter_loaded(scans, grid, resampling, threads)):
            wanted["scans"][i]["sha256"] = digest
            yield data
            if progress is not None:
                progress(i + 1)

    index = {k: v for k, v in wanted.items() if k not in ("format", "dtype", "shape")}
    return write_inputs(folder, loaded(), wanted["shape"], dtype, index)


def open_or_write_cache(
    scans: Sequence[Scan], grid: Grid, folder: str | Path, **options
) -> ScanCache:
    """The cache in ``folder`` when it holds these scans as asked, else a new one."""
    folder = Path(folder)
    wanted = _wanted(
        scans, grid, options.get("dtype", "float32"), options.get("resampling", "linear")
    )
    if _matches(folder, wanted):
        logger.info("reusing the cache of %d scans in %s", len(scans), folder)
        return ScanCache(folder)
    return write_cache(scans, grid, folder, **options)


def wait_for_cache(
    scans: Sequence[Scan],
    grid: Grid,
    folder: str | Path,
    *,
    dtype: str = "float32",
    resampling: str = "linear",
    poll: float = 2.0,
) -> ScanCache:
    """Wait until another process (rank 0 of a distributed run) has written the cache."""
    folder = Path(folder)
    wanted = _wanted(scans, grid, dtype, resampling)
    if not _matches(folder, wanted):
        logger.info("waiting for the first process to cache %d scans in %s", len(scans), folder)
    while not _matches(folder, wanted):
        time.sleep(poll)
    return ScanCache(folder)
