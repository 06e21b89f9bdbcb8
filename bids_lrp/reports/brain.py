"""Brain views for the reports: slice mosaics with overlays or outlines (glass brains: `glass`).

Slices are drawn with plain matplotlib rather than nilearn's displays: only the shown planes are
resampled (`scipy.ndimage.map_coordinates` on the background's grid), so a mosaic of a 1 mm
volume takes a fraction of a second and images on different grids (template outline, native
relevance) need no full-volume resampling. `pool_to_resolution` makes the coarser copy a glass
brain projects (signed max-|r| pooling keeps the maximum-intensity projection). Views follow the
neurological convention (left hemisphere on the left), like nilearn.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import nibabel as nib
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter
from scipy import ndimage

from bids_lrp.reports.figures import (
    _RC,
    RELEVANCE_CMAP,
    RELEVANCE_POSITIVE_CMAP,
    save_figure,
)

__all__ = ["Outline", "pool_to_resolution", "slice_mosaic"]

_AXES = {"x": 0, "y": 1, "z": 2}


@dataclass(frozen=True)
class Outline:
    """A contour drawn on a mosaic: the iso-line of ``image`` at ``level``, in ``colour``."""

    image: nib.Nifti1Image | str | Path
    level: float
    colour: str = "#ff3030"


class _Volume:
    """An image in closest-canonical (RAS) orientation, with its inverse affine."""

    def __init__(self, image: nib.Nifti1Image | str | Path) -> None:
        img = nib.as_closest_canonical(nib.load(image) if isinstance(image, str | Path) else image)
        data = np.asarray(img.dataobj, dtype=np.float32)
        self.data = data[..., 0] if data.ndim == 4 else data
        self.affine = np.asarray(img.affine, dtype=float)
        self.inverse = np.linalg.inv(self.affine)
        self.zooms = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))

    def index(self, axis: int, mm: float) -> int:
        """Nearest voxel index along ``axis`` of the world coordinate ``mm``."""
        k = (mm - self.affine[axis, 3]) / self.affine[axis, axis]
        return int(np.clip(np.rint(k), 0, self.data.shape[axis] - 1))

    def plane(self, axis: int, k: int) -> np.ndarray:
        return self.data[(slice(None),) * axis + (k,)]  # a view; np.take would copy

    def world(self, axis: int, k: int) -> np.ndarray:
        """World coordinates (3, a, b) of the voxels of plane ``k`` along ``axis``."""
        others = [n for i, n in enumerate(self.data.shape) if i != axis]
        grid = np.meshgrid(np.arange(others[0]), np.arange(others[1]), indexing="ij")
        vox = [None, None, None]
        vox[axis] = np.full(grid[0].shape, k, dtype=float)
        j = 0
        for i in range(3):
            if i != axis:
                vox[i] = grid[j].astype(float)
                j += 1
        stacked = np.stack([*vox, np.ones_like(vox[0])])
        return np.tensordot(self.affine, stacked, axes=1)[:3]

    def extent(self, axis: int) -> list[float]:
        """imshow extent (mm) of a plane along ``axis`` (transposed: first other axis is x)."""
        bounds = []
        for i in range(3):
            if i != axis:
                start, step = self.affine[i, 3], self.affine[i, i]
                bounds += [start - step / 2, start + step * (self.data.shape[i] - 0.5)]
        return bounds


def _sample(volume: _Volume, ref: _Volume, axis: int, k: int, order: int) -> np.ndarray:
    """``volume`` on plane ``k`` of ``ref`` (direct slicing when the grids agree)."""
    if volume.data.shape == ref.data.shape and np.allclose(volume.affine, ref.affine, atol=1e-4):
        return volume.plane(axis, k)
    world = ref.world(axis, k)
    vox = np.tensordot(volume.inverse[:3, :3], world, axes=1) + volume.inverse[:3, 3, None, None]
    return ndimage.map_coordinates(volume.data, vox, order=order, mode="constant", cval=0.0)


def _bounds(ref: _Volume, level: float) -> np.ndarray:
    """World (mm) extent (3, 2) of the voxels above ``level``, with a 4 mm margin."""
    inside = ref.data > level
    bounds = np.empty((3, 2))
    for axis in range(3):
        others = tuple(i for i in range(3) if i != axis)
        hits = np.flatnonzero(inside.any(axis=others))
        lo, hi = (hits[0], hits[-1]) if hits.size else (0, ref.data.shape[axis] - 1)
        start, step = ref.affine[axis, 3], ref.affine[axis, axis]
        bounds[axis] = (start + step * lo - 4.0, start + step * hi + 4.0)
    return bounds


def _scale(over: _Volume | None, vmax: float, threshold: float):
    """Colour map, limits and colour-bar ticks: symmetric if the map has negative values."""
    if over is not None and float(over.data.min()) < 0:
        return RELEVANCE_CMAP, -vmax, [-vmax, -threshold, threshold, vmax], (-threshold, threshold)
    return RELEVANCE_POSITIVE_CMAP, 0.0, [threshold, vmax], (0.0, threshold)


def slice_mosaic(
    background: nib.Nifti1Image | str | Path,
    path: str | Path,
    *,
    overlay: nib.Nifti1Image | str | Path | None = None,
    vmax: float = 0.0,
    threshold: float = 0.0,
    outlines: Sequence[Outline] = (),
    display: str = "xyz",
    n_cuts: int = 6,
    cuts: dict[str, Sequence[float]] | None = None,
    one_row: bool = False,
    title: str = "",
    colorbar_label: str = "relevance per voxel",
    focus: nib.Nifti1Image | None = None,
) -> Path:
    """Slices of ``background`` (grey) with a thresholded ``overlay`` and/or contours.

    Parameters
    ----------
    background
        Anatomical image; its grid (made RAS) is the display grid. Panels are cropped to where it
        is brighter than 5 % of its robust maximum.
    path
        Output ``.png`` (or ``.svg``).
    overlay
        Relevance map (any grid in the same world space), between ``-vmax`` and ``vmax`` with
        `RELEVANCE_CMAP`, or between 0 and ``vmax`` with `RELEVANCE_POSITIVE_CMAP` when it has no
        negative values; voxels with ``|value| < threshold`` are not drawn.
    vmax, threshold
        Colour limit and display threshold of the overlay (see `relevance_scale`).
    outlines
        Contours drawn over the slices (e.g. the template's brain outline).
    display
        Which orientations, one row each: ``x`` sagittal, ``y`` coronal, ``z`` axial.
    n_cuts, cuts
        Number of slices per orientation spread over the background's extent, or explicit
        world coordinates (mm) per orientation.
    one_row
        Put all panels in one row (an orthogonal view with one cut per orientation).
    title, colorbar_label
        Text of the figure.
    focus
        An image whose non-zero voxels (e.g. a relevance map, which lies in the brain) give the
        extent the slices are spread over and cropped to, instead of the whole background: a
        whole-head scan then spends no slice on face, neck or scalp.
    """
    ref = _Volume(background)
    over = _Volume(overlay) if overlay is not None and vmax > 0 else None
    contours = [(_Volume(o.image), o.level, o.colour) for o in outlines]
    inside = ref.data[ref.data > 0]
    bg_max = (
        float(np.percentile(inside[:: max(1, inside.size // 200_000)], 99.5))
        if inside.size
        else 1.0
    )
    bounds = _bounds(ref, 0.05 * bg_max)
    if focus is not None:
        region = _Volume(focus)
        if region.data.any():
            region.data = np.abs(region.data)
            inner = _bounds(region, 0.0) + np.array([-6.0, 6.0])  # 10 mm around it in all
            bounds = np.stack(
                [np.maximum(bounds[:, 0], inner[:, 0]), np.minimum(bounds[:, 1], inner[:, 1])],
                axis=1,
            )
            bounds[:, 1] = np.maximum(bounds[:, 1], bounds[:, 0] + 10.0)
    panels = []
    for name in display:
        axis = _AXES[name]
        if cuts and name in cuts:
            coords = list(cuts[name])
        else:
            lo, hi = bounds[axis] + (4.0, -4.0)
            coords = list(lo + (hi - lo) * np.linspace(0.15, 0.85, n_cuts))
        panels += [(name, axis, ref.index(axis, c)) for c in coords]
    if not panels:
        raise ValueError("slice_mosaic needs at least one orientation in `display`")
    nrows = 1 if one_row else len(display)
    ncols = len(panels) if one_row else int(np.ceil(len(panels) / nrows))
    # One axes for all panels (each shifted to its cell, clipped to its box): an axes per
    # panel would cost more than all the drawing.
    sizes = np.ptp(bounds, axis=1)
    others = [[a for a in range(3) if a != axis] for _, axis, _ in panels]
    width = max(sizes[a] for a, _ in others) + 2.0  # + a 2 mm gap between panels
    height = max(sizes[b] for _, b in others) + 2.0
    style = _Style(over, contours, bg_max, threshold, *_scale(over, vmax, threshold)[:2], vmax)
    bar = 1.0 if over is not None else 0.0
    with matplotlib.rc_context(_RC):
        inches = 2.6 if one_row else 1.75  # per panel: an orthogonal view is shown larger
        fig = Figure(figsize=(inches * ncols + bar, inches * nrows * height / width + 0.3))
        fig.set_facecolor("black")
        right = 1 - bar / fig.get_figwidth()
        top = 1 - 0.3 / fig.get_figheight()
        ax = fig.add_axes((0, 0, right, top))
        ax.set_axis_off()
        for i, (name, axis, k) in enumerate(panels):
            row, col = divmod(i, ncols)
            cell = (col * width, (nrows - 1 - row) * height, width, height)
            _panel(ax, ref, style, name, axis, k, bounds, cell, labels=col == 0 or one_row)
        ax.set_xlim(0, ncols * width)
        ax.set_ylim(0, nrows * height)
        ax.set_aspect("equal")
        if over is not None:
            cax = fig.add_axes(
                (right + 0.12 / fig.get_figwidth(), 0.12, 0.12 / fig.get_figwidth(), 0.7 * top)
            )
            cmap, vmin, ticks, grey = _scale(over, vmax, threshold)
            _colorbar(fig, cax, cmap, vmin, vmax, ticks, grey, colorbar_label)
        fig.suptitle(title, color="white", fontsize=10, y=1 - 0.04 / fig.get_figheight(), va="top")
    return save_figure(fig, path)


@dataclass(frozen=True)
class _Style:
    over: _Volume | None
    contours: list
    bg_max: float
    threshold: float
    cmap: Any
    vmin: float
    vmax: float


def _panel(ax, ref: _Volume, style: _Style, name, axis, k, bounds, cell, *, labels) -> None:
    """Draw plane ``k`` along ``axis`` into ``cell`` (x, y, width, height) of the axes."""
    (x0, x1), (y0, y1) = (bounds[a] for a in range(3) if a != axis)
    dx = cell[0] + (cell[2] - (x1 - x0)) / 2 - x0
    dy = cell[1] + (cell[3] - (y1 - y0)) / 2 - y0
    e = ref.extent(axis)
    extent = (e[0] + dx, e[1] + dx, e[2] + dy, e[3] + dy)
    clip = Rectangle((x0 + dx, y0 + dy), x1 - x0, y1 - y0, transform=ax.transData)
    artists = [
        ax.imshow(
            ref.plane(axis, k).T,
            cmap="gray",
            vmin=0,
            vmax=style.bg_max,
            origin="lower",
            extent=extent,
            interpolation="bilinear",
        )
    ]
    if style.over is not None:
        values = _sample(style.over, ref, axis, k, order=0)
        shown = np.ma.masked_where(~(np.abs(values) >= max(style.threshold, 1e-30)), values)
        artists.append(
            ax.imshow(
                shown.T,
                cmap=style.cmap,
                vmin=style.vmin,
                vmax=style.vmax,
                origin="lower",
                extent=extent,
                interpolation="nearest",
                alpha=0.9,
            )
        )
    for volume, level, colour in style.contours:
        plane = _sample(volume, ref, axis, k, order=1)
        if plane.min() < level < plane.max():
            artists.append(
                ax.contour(
                    plane.T,
                    levels=[level],
                    colors=[colour],
                    linewidths=0.6,
                    origin="lower",
                    extent=extent,
                )
            )
    for artist in artists:
        artist.set_clip_path(clip)
    mm = ref.affine[axis, 3] + ref.affine[axis, axis] * k
    text = {"color": "white", "fontsize": 8}
    ax.text(x0 + dx, y0 + dy, f" {name}={mm:.0f}", va="bottom", **text)
    if name != "x" and labels:
        ax.text(x0 + dx, y1 + dy, " L", va="top", **text)
        ax.text(x1 + dx, y1 + dy, "R ", va="top", ha="right", **text)


def _colorbar(
    fig: Figure, cax, cmap, vmin, vmax, ticks, grey, label: str, colour: str = "white"
) -> None:
    bar = fig.colorbar(ScalarMappable(Normalize(vmin, vmax), cmap), cax=cax)
    bar.set_ticks(ticks)
    # every tick carries its own scale (2.1e-05): no offset text to find at the top
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: tick_label(v)))
    bar.ax.tick_params(colors=colour, labelsize=8)
    bar.set_label(label, color=colour, fontsize=8)
    bar.ax.axhspan(*grey, color="0.5")


def tick_label(value: float) -> str:
    """A short tick label that carries its own scale: ``0``, ``0.25``, ``2.1e-05``."""
    if value == 0:
        return "0"
    text = f"{value:.2g}"
    return text.replace("e-0", "e-").replace("e+0", "e+")


def pool_to_resolution(image: nib.Nifti1Image, resolution: float = 2.0) -> nib.Nifti1Image:
    """Pool ``image`` by whole voxel blocks to about ``resolution`` mm, keeping signed max |v|.

    Each block of ``f`` voxels per axis (``f = resolution // voxel size``, at least 1) becomes the
    value of largest magnitude in it, so a maximum-intensity projection is unchanged up to the
    coarser grid. Trailing voxels that do not fill a block are dropped.
    """
    data = np.asarray(image.dataobj, dtype=np.float32)
    zooms = np.asarray(image.header.get_zooms()[:3], dtype=float)
    factors = np.maximum(1, (resolution // np.maximum(zooms, 1e-6)).astype(int))
    if np.all(factors == 1):
        return nib.Nifti1Image(data, image.affine)
    shape = [n // f for n, f in zip(data.shape[:3], factors, strict=True)]
    cropped = data[: shape[0] * factors[0], : shape[1] * factors[1], : shape[2] * factors[2]]
    # Largest and smallest value per block from strided views, one per offset in the block:
    # no reshaped copy (nibabel's arrays are in Fortran order, where a reshape copies).
    high = low = None
    for offset in itertools.product(*(range(f) for f in factors)):
        view = cropped[tuple(slice(o, None, f) for o, f in zip(offset, factors, strict=True))]
        high = view.copy() if high is None else np.maximum(high, view, out=high)
        low = view.copy() if low is None else np.minimum(low, view, out=low)
    pooled = np.where(-low > high, low, high)
    affine = np.asarray(image.affine, dtype=float).copy()
    affine[:3, 3] += affine[:3, :3] @ ((factors - 1) / 2)
    affine[:3, :3] = affine[:3, :3] * factors
    return nib.Nifti1Image(pooled, affine)
