"""Reading compressed NIfTI-1 maps fast: header check, block-wise inflate, float32 values.

The group level reads thousands of ``.nii.gz`` relevance maps; nibabel would decompress each
whole file into a new array. Here a map is inflated block by block (blocks of about a megabyte
that stay in the CPU cache) and handed on as float32 views, with the header checked against the
expected grid first. ISA-L (the ``isal`` package, a dependency; zlib without it) inflates about
twice as fast as zlib; maps written by `bids_lrp.fastgz` inflate several times faster
again (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import ctypes
import functools
import io
import itertools
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np

from bids_lrp.grid import Grid

__all__ = [
    "MapError",
    "iter_values",
    "keep_freed_memory",
    "read_grid",
    "read_volume",
]

_BLOCK = 1 << 18  # compressed bytes per read
_OUT = 1 << 20  # most inflated bytes per step (stays in the CPU cache)
_HEADER = 348


class MapError(ValueError):
    """A relevance map that cannot be used (unreadable, truncated, another grid)."""


@functools.lru_cache(maxsize=1)
def _zlib():
    try:  # ISA-L inflate is about twice as fast as zlib's (benchmarks/RESULTS.md)
        from isal import isal_zlib
    except ImportError:
        import zlib

        return zlib
    return isal_zlib


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed megabyte blocks instead of returning them at once.

    Each decompressed block is a new ~1 MB bytes object. By default glibc gives such blocks
    back to the kernel when they are freed and faults fresh pages in for the next one, which
    cost a quarter of the time per map here (benchmarks/RESULTS.md). Raising the mmap and
    trim thresholds (what ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` do at start-up)
    lets the process reuse them; it may hold up to 256 MB more than it needs. A no-op
    outside glibc.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    return bool(mallopt(m_mmap_threshold, 64 << 20)) and bool(mallopt(m_trim_threshold, 256 << 20))


def read_grid(path: str | Path) -> Grid:
    """The grid of a NIfTI image (header only)."""
    img = nib.load(str(path))
    return Grid(tuple(int(n) for n in img.shape[:3]), np.asarray(img.affine, dtype=np.float64))


def _blocks(path: Path):
    """Yield the decompressed bytes of a (possibly multi-member) gzip file, or raw bytes."""
    with open(path, "rb") as handle:
        if not path.name.endswith(".gz"):
            while data := handle.read(_BLOCK):
                yield data
            return
        zlib = _zlib()
        inflater = zlib.decompressobj(31)
        while data := handle.read(_BLOCK):
            while True:  # at most _OUT bytes at a time: zero runs inflate ~100x their size
                out = inflater.decompress(data, _OUT)
                if out:
                    yield out
                data = inflater.unconsumed_tail
                if inflater.eof:
                    data = inflater.unused_data
                    if not data.strip(b"\0"):  # trailing padding, not another member
                        return
                    inflater = zlib.decompressobj(31)
                elif not data and len(out) < _OUT:
                    break
        if not inflater.eof:
            raise MapError("the file is truncated")


def _check_header(head: bytes, grid: Grid) -> tuple[int, np.dtype, float, float]:
    """Data offset, dtype, slope and intercept of a NIfTI-1 header on ``grid``."""
    try:
        header = nib.Nifti1Header.from_fileobj(io.BytesIO(head[:_HEADER]), check=False)
    except Exception as err:  # nibabel raises several kinds for garbage
        raise MapError(f"not a NIfTI-1 image ({err})") from None
    if int(header["sizeof_hdr"]) != _HEADER:
        raise MapError("not a NIfTI-1 image")
    shape = header.get_data_shape()
    if tuple(shape[:3]) != grid.shape or int(np.prod(shape[3:], dtype=np.int64)) != 1:
        raise MapError(f"grid {tuple(shape)} differs from {grid.shape}")
    if not np.allclose(header.get_best_affine(), grid.affine, atol=1e-4):
        raise MapError("its affine differs from the other maps'")
    slope, inter = header.get_slope_inter()
    slope = 1.0 if slope is None else float(slope)
    inter = 0.0 if inter is None else float(inter)
    return int(header.get_data_offset()), header.get_data_dtype(), slope, inter


def iter_values(path: Path, grid: Grid) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first voxel, float32 values)`` block by block (file order); `MapError` if bad.

    The values of a native float32 image are read-only views of the decompressed block: use
    them before asking for the next one.
    """
    try:
        blocks = _blocks(path)
        head = b""
        for block in blocks:
            head += block
            if len(head) >= _HEADER and len(head) >= _check_header(head, grid)[0]:
                break
        else:
            raise MapError("the file is truncated")
        offset, dtype, slope, inter = _check_header(head, grid)
        native = dtype == np.dtype(np.float32) and (slope, inter) == (1.0, 0.0)
        size, pos, carry = dtype.itemsize, 0, b""
        for block in itertools.chain([head[offset:]], blocks):
            start = 0
            if carry and pos < grid.size:  # a value split between two blocks
                start = size - len(carry)
                if len(block) < start:
                    carry += block
                    continue
                parts = [(np.frombuffer(carry + block[:start], dtype=dtype), 1)]
            else:
                parts = []
            # No copy of the block: a view, unaligned when the previous block ended mid-value.
            n = max(0, min((len(block) - start) // size, grid.size - pos - len(parts)))
            parts.append((np.frombuffer(block, dtype=dtype, count=n, offset=start), n))
            for values, count in parts:
                if count:
                    if not native:
                        values = (values * slope + inter).astype(np.float32)
                    yield pos, values
                    pos += count
            carry = block[start + n * size :] if pos < grid.size else b""
    except (OSError, EOFError) as err:
        raise MapError(f"cannot read it ({err})") from None
    except _zlib().error as err:
        raise MapError(f"it is corrupt ({err})") from None
    if pos < grid.size:
        raise MapError("the file is truncated")


def read_volume(path: str | Path, grid: Grid, out: np.ndarray) -> np.ndarray:
    """Read a NIfTI-1 image on ``grid`` into ``out`` (float32, flat, file order) and return it.

    Raises `MapError` for an unreadable file or another grid (``out`` then holds garbage).
    """
    if out.dtype != np.float32 or out.size != grid.size:
        raise ValueError("out must be a float32 array with one value per voxel of grid")
    for pos, values in iter_values(Path(path), grid):
        out[pos : pos + len(values)] = values
    return out
