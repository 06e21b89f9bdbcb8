"""Network inputs: a template-space scan on the network's grid, for training and inference.

`network_input` is the one place where training (`load_scans`) and the participant level (the
explainer, with the model card's grid and ``input_resampling``) turn a scan into what the
network sees, so both see identical arrays.
"""

from __future__ import annotations

import gzip
import logging
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from zlib import error as zlib_error

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError

from bids_lrp.grid import Grid
from bids_lrp.model.card import INPUT_RESAMPLINGS
from bids_lrp.model.checkpoint import sha256_file
from bids_lrp.model.data import Scan, TrainingDataError, voxel_text
from bids_lrp.normalize.grids import on_grid

__all__ = [
    "iter_loaded",
    "load_network_input",
    "load_one",
    "load_scans",
    "network_grid",
    "network_input",
]

logger = logging.getLogger("bids_lrp.model.data")

#: Slack on the [0, 1] range of the scaled scans (float rounding of other writers).
_RANGE_TOLERANCE = 1e-3


def network_grid(template: Grid, grid_mm: float) -> Grid:
    """The template's field of view at ``grid_mm`` voxels, from the template's first voxel.

    At the template's own voxel size this is the template grid (193 x 229 x 193 at 1 mm for
    MNI152NLin2009cAsym, the grid of Böhle et al. 2019), so no resampling happens; coarser grids
    keep the origin and cover the same extent (``ceil(n * zoom / grid_mm)`` voxels per axis).
    """
    zooms = np.asarray(template.voxel_size, float)
    if np.allclose(zooms, grid_mm, atol=1e-6):
        return Grid(tuple(template.shape), np.array(template.affine, float))
    shape = tuple(
        math.ceil(n * z / grid_mm - 1e-6) for n, z in zip(template.shape, zooms, strict=True)
    )
    affine = np.array(template.affine, float)
    affine[:3, :3] = affine[:3, :3] * (grid_mm / zooms)[None, :]
    return Grid(shape, affine)


def network_input(img: nib.Nifti1Image, grid: Grid, resampling: str = "linear") -> nib.Nifti1Image:
    """A template-space scan as the network sees it, on ``grid``.

    The one place where training (`load_scans`) and the participant level (the explainer, with
    the model card's grid and ``input_resampling``) turn a scan into a network input, so both
    see identical arrays: ``img`` itself when it lies on ``grid`` already, else
    `bids_lrp.normalize.resample_to_grid`, low-passed first when ``resampling`` is
    ``"antialiased"``.

    Parameters
    ----------
    img : nibabel.Nifti1Image
        Template-space scan (brain-masked, scaled to [0, 1]).
    grid : Grid
        The network's input grid.
    resampling : str
        One of `bids_lrp.model.card.INPUT_RESAMPLINGS`.

    Returns
    -------
    nibabel.Nifti1Image
        ``img``, or a float32 image on ``grid``.
    """
    if resampling not in INPUT_RESAMPLINGS:
        raise ValueError(f"resampling must be one of {INPUT_RESAMPLINGS}, got {resampling!r}")
    return on_grid(img, grid, antialias=resampling == "antialiased")


def load_network_input(path: str | Path, card) -> tuple[nib.Nifti1Image, nib.Nifti1Image]:
    """A template-space scan file and the network input its model card asks for.

    What the participant level feeds the model: `network_input` on the card's grid with the
    card's ``input_resampling``. Returns the scan and that input (the same object when the
    scan already lies on the card's grid).
    """
    img = nib.load(path)
    return img, network_input(img, Grid.of_card(card), card.input_resampling)


def _read_scan(path: Path) -> tuple[nib.Nifti1Image, str]:
    """The scan as an in-memory image, and the SHA-256 of its file.

    Raises
    ------
    TrainingDataError
        Naming the file when it cannot be read (truncated, corrupt, not NIfTI, no access).
    """
    try:
        img = nib.load(path)
        raw = np.asarray(img.dataobj, dtype=np.float32)
        affine = img.affine
        digest = sha256_file(path)
    except (EOFError, zlib_error, gzip.BadGzipFile, ImageFileError, ValueError) as err:
        # ValueError: HeaderDataError, or data shorter than the header says (uncompressed)
        detail = str(err).strip().splitlines()[0].replace(str(path), path.name) if str(err) else ""
        raise TrainingDataError(
            f"cannot read {path}: file is truncated or corrupt "
            f"({type(err).__name__}{': ' + detail if detail else ''}); fix or remove it"
        ) from None
    except OSError as err:  # no permission, an I/O error
        raise TrainingDataError(f"cannot read {path}: {err.strerror or err}") from None
    return nib.Nifti1Image(raw, affine), digest


def load_one(scan: Scan, grid: Grid, resampling: str) -> tuple[np.ndarray, str]:
    """One scan on ``grid`` (float32, checked to be a network input) and its file's SHA-256."""
    img, digest = _read_scan(scan.path)
    data = np.asarray(network_input(img, grid, resampling).dataobj, dtype=np.float32)
    if not np.isfinite(data).all():
        raise TrainingDataError(f"{scan.path.name} has non-finite values")
    low, high = float(data.min()), float(data.max())
    if low < -_RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
        raise TrainingDataError(
            f"{scan.path.name} has values in [{low:g}, {high:g}]: not a network input "
            "(brain-masked and min-max scaled to [0, 1])"
        )
    return data, digest


def load_scans(
    scans: Sequence[Scan],
    grid: Grid,
    *,
    threads: int = 1,
    progress: Callable[[int], None] | None = None,
    resampling: str = "linear",
) -> tuple[np.ndarray, dict[str, str]]:
    """Load every scan onto ``grid`` once, as `network_input` with ``resampling`` does.

    Returns
    -------
    images : numpy.ndarray
        float32, shape ``(n_scans, *grid.shape)``.
    digests : dict
        Scan prefix -> SHA-256 of its file (for `fingerprint`).
    """
    try:
        images = np.empty((len(scans), *grid.shape), np.float32)
    except MemoryError:
        size = len(scans) * int(np.prod(grid.shape)) * 4 / 1e9
        raise TrainingDataError(
            f"not enough memory for {len(scans)} scans on the {voxel_text(grid.voxel_size)} grid "
            f"({size:.1f} GB): use a coarser --grid-mm"
        ) from None
    logger.info(
        "loading %d scans onto the %s grid %s (%.2f GB in memory)",
        len(scans),
        voxel_text(grid.voxel_size),
        "x".join(map(str, grid.shape)),
        images.nbytes / 1e9,
    )
    digests: dict[str, str] = {}
    for index, (data, digest) in enumerate(iter_loaded(scans, grid, resampling, threads)):
        images[index] = data
        digests[scans[index].prefix] = digest
        if progress is not None:
            progress(index + 1)
    return images, digests


def iter_loaded(
    scans: Sequence[Scan], grid: Grid, resampling: str = "linear", threads: int = 1
) -> Iterator[tuple[np.ndarray, str]]:
    """`load_one` of every scan, in order, loaded by ``threads`` threads.

    At most ``2 * threads`` scans are loaded ahead of the consumer, so a consumer that writes
    each scan away (`bids_lrp.model.scan_cache.write_cache`) holds a few scans, not the cohort.
    """
    ahead = 2 * max(1, threads)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        pending: deque = deque()
        for scan in scans:
            pending.append(pool.submit(load_one, scan, grid, resampling))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
