"""Glass brains: signed maximum-intensity projections of a map inside the template's outline.

Three views as nilearn's ``plot_glass_brain(display_mode="ortho", plot_abs=False)``: sagittal
(anterior to the right), coronal and axial (both neurological: left hemisphere on the left).
Each projected pixel shows the value of largest magnitude along the line of sight; the outline is
the silhouette of the template's brain mask. Drawn with plain matplotlib: nilearn's schematic
brain outlines are thousands of patches, and its glass brain took ~1.2 s per figure, most of the
group report's time over 1,000 participants (benchmarks/RESULTS.md); this one takes ~0.15 s.
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib
import nibabel as nib
import numpy as np
from matplotlib.figure import Figure

from bids_lrp.reports.brain import _colorbar, _scale, _Volume, pool_to_resolution
from bids_lrp.reports.figures import _RC, relevance_scale, save_figure
from bids_lrp.templates import get_template

__all__ = ["glass_brain", "signed_projection"]

#: (projected axis, name) of the three views, left to right.
_VIEWS = ((0, "x"), (1, "y"), (2, "z"))


def signed_projection(data: np.ndarray, axis: int) -> np.ndarray:
    """The value of largest magnitude along ``axis`` (sign kept): a signed MIP."""
    pick = np.abs(data).argmax(axis=axis)
    return np.take_along_axis(data, np.expand_dims(pick, axis), axis=axis).squeeze(axis)


@functools.lru_cache(maxsize=2)
def _outline(template: str) -> tuple[tuple[np.ndarray, list[float]], ...] | None:
    """Per view: the projected brain mask of ``template`` and its imshow extent (mm)."""
    try:
        files = get_template(template)
        mask = _Volume(files.mask if files.mask is not None else files.t1w)
    except (ValueError, OSError):
        return None
    inside = mask.data > 0
    return tuple((inside.any(axis=axis), mask.extent(axis)) for axis, _ in _VIEWS)


def _sizes(volume: _Volume, outline) -> list[tuple[float, float, float, float]]:
    """Per view, the union of the map's and the outline's extents (mm)."""
    boxes = []
    for i, (axis, _) in enumerate(_VIEWS):
        e = volume.extent(axis)
        if outline is not None:
            o = outline[i][1]
            e = [min(e[0], o[0]), max(e[1], o[1]), min(e[2], o[2]), max(e[3], o[3])]
        boxes.append(tuple(e))
    return boxes


def glass_brain(
    image: nib.Nifti1Image | str | Path,
    path: str | Path,
    *,
    vmax: float | None = None,
    threshold: float | None = None,
    title: str = "",
    resolution: float = 2.0,
    template: str = "MNI152NLin2009cAsym",
) -> Path:
    """Glass brain (signed maximum-intensity projections) of a template-space map.

    Parameters
    ----------
    image
        A map in the world space of ``template``.
    path
        Output file (``.png``).
    vmax, threshold
        Colour limit and display threshold; by default from `relevance_scale` of the pooled map
        with settings for a projection (99.9th percentile, weakest 95 % hidden). ``vmax == 0``
        draws the outline only.
    title
        Shown on the figure.
    resolution
        The map is first pooled to about this voxel size (mm; signed max-|v| pooling keeps the
        projection), for speed.
    template
        Whose brain mask gives the outline (none is drawn when it cannot be found).
    """
    img = nib.load(image) if isinstance(image, str | Path) else image
    volume = _Volume(pool_to_resolution(img, resolution))
    if vmax is None or threshold is None:
        auto_vmax, auto_threshold = relevance_scale(volume.data, percentile=99.9, hide=95.0)
        vmax = auto_vmax if vmax is None else vmax
        threshold = auto_threshold if threshold is None else threshold
    outline = _outline(template)
    boxes = _sizes(volume, outline)
    widths = [b[1] - b[0] for b in boxes]
    height = max(b[3] - b[2] for b in boxes)
    bar = 1.1 if vmax > 0 else 0.0
    top = 0.35 if title else 0.1
    inches = 2.6 / height  # per mm
    fig_w, fig_h = sum(widths) * inches + bar + 0.2, height * inches + top + 0.1
    cmap, vmin, ticks, grey = _scale(volume, vmax, threshold)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(fig_w, fig_h))
        fig.set_facecolor("white")
        x = 0.1
        for i, (axis, name) in enumerate(_VIEWS):
            ax = fig.add_axes(
                (x / fig_w, 0.1 / fig_h, widths[i] * inches / fig_w, height * inches / fig_h)
            )
            x += widths[i] * inches
            ax.set_axis_off()
            if outline is not None:
                silhouette, extent = outline[i]
                ax.imshow(
                    silhouette.T, cmap="Greys", vmin=0, vmax=8, origin="lower", extent=extent
                )
                ax.contour(
                    silhouette.T.astype(np.float32),
                    levels=[0.5],
                    colors=["0.35"],
                    linewidths=0.8,
                    origin="lower",
                    extent=extent,
                )
            if vmax > 0:
                values = signed_projection(volume.data, axis)
                shown = np.ma.masked_where(~(np.abs(values) >= max(threshold, 1e-30)), values)
                ax.imshow(
                    shown.T,
                    cmap=cmap,
                    vmin=vmin,
                    vmax=vmax,
                    origin="lower",
                    extent=volume.extent(axis),
                    interpolation="nearest",
                    alpha=0.9,
                )
            box = boxes[i]
            ax.set_xlim(box[0], box[1])
            ax.set_ylim(box[2], box[3])
            ax.set_aspect("equal")
            ax.text(box[0], box[2], f" {name}", fontsize=8, va="bottom", color="0.2")
            if name != "x":
                ax.text(box[0], box[3], " L", fontsize=8, va="top", color="0.2")
                ax.text(box[1], box[3], "R ", fontsize=8, va="top", ha="right", color="0.2")
        if vmax > 0:
            cax = fig.add_axes(
                (
                    (x + 0.2) / fig_w,
                    0.2 / fig_h,
                    0.12 / fig_w,
                    (height * inches - 0.2) / fig_h,
                )
            )
            _colorbar(fig, cax, cmap, vmin, vmax, ticks, grey, "relevance per voxel", "0.2")
        if title:
            fig.suptitle(title, fontsize=10, y=1 - 0.05 / fig_h, va="top")
    return save_figure(fig, path)
