"""Report figures: charts (SVG) and brain views (PNG), each written atomically to one file.

Every function takes arrays, images or paths, draws on its own `matplotlib.figure.Figure`
(never pyplot's global figure registry), writes one file through a temporary file in the same
folder (`bids_lrp.safewrite.atomic_write_bytes`) and returns the path. Brain views live in
`bids_lrp.reports.brain`; this module holds the colour scale they share and the charts.
"""

from __future__ import annotations

import io
import logging
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import LinearSegmentedColormap, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from bids_lrp.safewrite import atomic_write_bytes

__all__ = [
    "RELEVANCE_CMAP",
    "RELEVANCE_POSITIVE_CMAP",
    "bar_chart",
    "relevance_scale",
    "save_figure",
    "similarity_heatmap",
    "violin_plot",
]

LOGGER = logging.getLogger("bids_lrp")

#: Diverging map for relevance: negative cyan -> blue, positive red -> yellow. The jump at 0
#: keeps the weakest shown value (just above the threshold) saturated, so it stays visible on a
#: grey anatomical background (a map through white or black at 0 would fade it out).
RELEVANCE_CMAP = LinearSegmentedColormap.from_list(
    "bids_lrp_relevance", [(0.0, "#00e5ff"), (0.5, "#1030ff"), (0.5, "#e00000"), (1.0, "#ffee00")]
)
#: The positive half alone, for maps without negative values (alpha1-beta0 LRP, |gradients|).
RELEVANCE_POSITIVE_CMAP = LinearSegmentedColormap.from_list(
    "bids_lrp_relevance_positive", [(0.0, "#e00000"), (1.0, "#ffee00")]
)
GROUP_COLOURS = {"AD": "#c0392b", "HC": "#2471a3", "all": "#566573"}
_RC = {"svg.fonttype": "path", "svg.hashsalt": "bids_lrp", "font.size": 9}


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 100) -> Path:
    """Render ``fig`` (format from the suffix: ``.svg`` or ``.png``) and write it atomically.

    The figure was never registered with pyplot, so nothing keeps it alive after the caller
    drops it: there is nothing to close.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png"):
        raise ValueError(f"figures are written as .svg or .png, got {path.name!r}")
    buffer = io.BytesIO()
    metadata = {"Date": None, "Creator": None} if fmt == "svg" else {"Software": None}
    with matplotlib.rc_context(_RC):
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata, facecolor=fig.get_facecolor())
    return atomic_write_bytes(path, buffer.getvalue())


def relevance_scale(
    data: np.ndarray, *, percentile: float = 99.5, hide: float = 80.0
) -> tuple[float, float]:
    """Colour limits for a relevance map: ``(vmax, threshold)``.

    ``vmax`` is the given percentile of ``|r|`` over non-zero voxels (a few extreme voxels would
    otherwise wash out the map); values with ``|r| < threshold`` are not drawn. The threshold
    hides the weakest ``hide`` percent of the non-zero voxels and anything below 10 % of ``vmax``
    (a maximum-intensity projection needs a higher ``percentile`` and ``hide``: it shows maxima).

    Returns ``(0.0, 0.0)`` for an all-zero map.
    """
    values = np.asarray(data).ravel()
    values = values[values != 0]  # in the map's own dtype: no float64 copy of a whole volume
    if values.size > 400_000:  # percentiles of a regular subsample: same colours, 10x faster
        values = values[:: values.size // 200_000]
    values = np.abs(values.astype(np.float64))
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 0.0
    vmax = float(np.percentile(values, percentile))
    if vmax <= 0:
        vmax = float(values.max())
    threshold = max(float(np.percentile(values, hide)), 0.1 * vmax)
    return vmax, min(threshold, vmax)


def _new_figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_RC):
        return Figure(figsize=(width, height), layout="constrained")


def plain_ticks(ax, axis: str = "y") -> None:
    """Tick labels that carry their own scale (2e-05), not an offset text beside the axis."""
    formatter = FuncFormatter(lambda value, _: f"{value:g}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)


def wrapped(title: str, width: int = 80) -> str:
    """``title`` broken into lines of at most ``width`` characters (none is clipped)."""
    return textwrap.fill(title, width, break_long_words=False, break_on_hyphens=False)


def bar_chart(
    names: Sequence[str],
    series: Mapping[str, Sequence[float]],
    path: str | Path,
    *,
    title: str,
    xlabel: str,
    reference: float | None = None,
    flagged: Sequence[bool] | None = None,
    flag_label: str = "",
    log_if_wide: bool = False,
) -> Path:
    """Horizontal bars, first name on top; several series are drawn side by side.

    Parameters
    ----------
    names
        One label per bar group (e.g. areas, ranked).
    series
        Legend label -> values aligned with ``names`` (e.g. ``{"AD": ..., "HC": ...}``).
    path
        Output ``.svg`` or ``.png``.
    title, xlabel
        Text of the chart.
    reference
        Draw a vertical dashed line at this x (e.g. 1 for a gain).
    flagged, flag_label
        Bars to draw hatched and grey (one flag per name), and the legend entry saying why
        (e.g. a gain whose denominator is near 0).
    log_if_wide
        Use a logarithmic axis when all values are positive and span more than a factor 100
        (gains over a denominator near 0 would otherwise flatten every other bar).
    """
    if not names:
        raise ValueError("bar_chart needs at least one bar")
    with matplotlib.rc_context(_RC):
        fig = _new_figure(7.5, 0.9 + 0.22 * len(names) * max(1, len(series)) ** 0.5)
        ax = fig.add_subplot()
        y = np.arange(len(names))
        height = 0.8 / max(1, len(series))
        marked = np.asarray(flagged if flagged is not None else [False] * len(names), bool)
        for i, (label, values) in enumerate(series.items()):
            offset = (i - (len(series) - 1) / 2) * height
            bars = ax.barh(
                y + offset,
                np.asarray(values, dtype=float),
                height=height,
                label=label,
                color=GROUP_COLOURS.get(label, f"C{i}"),
            )
            for bar, flag in zip(bars, marked, strict=True):
                if flag:
                    bar.set(facecolor="0.75", hatch="///", edgecolor="0.45")
        if marked.any():
            handle = Patch(facecolor="0.75", hatch="///", edgecolor="0.45", label=flag_label)
            ax.legend(handles=[handle], loc="lower right")
        if reference is not None:
            ax.axvline(reference, color="0.3", linestyle="--", linewidth=0.8)
        every = np.concatenate([np.asarray(v, dtype=float) for v in series.values()])
        every = every[np.isfinite(every)]
        if log_if_wide and every.size and every.min() > 0 and every.max() > 100 * every.min():
            ax.set_xscale("log")
        ax.set_yticks(y, [str(n) for n in names])
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        if ax.get_xscale() == "linear":
            plain_ticks(ax, "x")
        fig.suptitle(wrapped(title), fontsize=10)
        ax.grid(axis="x", color="0.9")
        ax.set_axisbelow(True)
        if len(series) > 1 and not marked.any():
            ax.legend(loc="lower right")
    return save_figure(fig, path)


def violin_plot(
    data: Mapping[str, Mapping[str, Sequence[float]]],
    path: str | Path,
    *,
    title: str,
    ylabel: str,
) -> Path:
    """Violins of per-image values, one panel per area, one violin per group, points on top.

    Parameters
    ----------
    data
        Area -> group -> values (e.g. ``{"Hippocampus": {"AD": [...], "HC": [...]}}``).
        A group with fewer than two distinct values is drawn as points only (no density).
    path
        Output file.
    title, ylabel
        Text of the chart.
    """
    if not data:
        raise ValueError("violin_plot needs at least one area")
    rng = np.random.default_rng(0)  # jitter of the points, reproducible
    ncols = min(4, len(data))
    nrows = int(np.ceil(len(data) / ncols))
    with matplotlib.rc_context(_RC):
        fig = _new_figure(2.2 * ncols + 0.6, 2.3 * nrows + 0.5)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, (area, groups) in zip(axes, data.items(), strict=False):
            for i, (group, values) in enumerate(groups.items()):
                values = np.asarray(values, dtype=float)
                values = values[np.isfinite(values)]
                colour = GROUP_COLOURS.get(group, f"C{i}")
                if values.size >= 2 and np.ptp(values) > 0:
                    parts = ax.violinplot(values, positions=[i], showextrema=False, widths=0.8)
                    for body in parts["bodies"]:
                        body.set_facecolor(colour)
                        body.set_alpha(0.35)
                jitter = rng.uniform(-0.12, 0.12, values.size)
                ax.scatter(i + jitter, values, s=9, color=colour, zorder=3)
            ax.set_xticks(range(len(groups)), [f"{g}\nn={len(v)}" for g, v in groups.items()])
            ax.set_title(wrapped(area.replace("_", " "), 22), fontsize=9)
            plain_ticks(ax)
        for ax in axes[len(data) :]:
            ax.set_axis_off()
        axes[0].set_ylabel(ylabel)
        fig.suptitle(wrapped(title, int(11 * (2.2 * ncols + 0.6))))
    return save_figure(fig, path)


def similarity_heatmap(
    matrix: np.ndarray,
    labels: Sequence[str],
    path: str | Path,
    *,
    groups: Sequence[str] | None = None,
    title: str,
) -> Path:
    """A square similarity matrix (e.g. cosine similarity of per-image area vectors).

    Parameters
    ----------
    matrix
        (n, n) values in [-1, 1].
    labels
        Image names, used as tick labels when there are at most 40.
    groups
        Optional group per image (e.g. AD/HC), drawn as a coloured strip along both axes.
    path, title
        Output file and title.
    """
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(labels):
        raise ValueError(f"need a square matrix matching {len(labels)} labels, got {matrix.shape}")
    n = len(labels)
    size = min(9.0, 3.5 + 0.16 * n)
    with matplotlib.rc_context(_RC):
        fig = _new_figure(size + 1.2, size)
        ax = fig.add_subplot()
        finite = matrix[np.isfinite(matrix)]
        low = -1.0 if finite.size and finite.min() < 0 else 0.0
        image = ax.imshow(matrix, cmap="RdBu_r" if low < 0 else "viridis", vmin=low, vmax=1.0)
        fig.colorbar(image, ax=ax, shrink=0.8, label="cosine similarity")
        if n <= 40:
            ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
            ax.set_yticks(range(n), labels, fontsize=7)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
        if groups is not None:
            _group_strips(ax, groups)
            ax.tick_params(axis="y", pad=14)  # labels clear of the strip
            ax.set_title(wrapped(title, int(11 * size)), pad=14)
        else:
            ax.set_title(wrapped(title, int(11 * size)))
    return save_figure(fig, path)


def _group_strips(ax, groups: Sequence[str]) -> None:
    """Colour strips along the top and the left of a matrix, one cell per image's group."""
    names = list(dict.fromkeys(groups))
    cmap = ListedColormap([GROUP_COLOURS.get(g, "0.8") for g in names])
    codes = np.array([[names.index(g) for g in groups]])
    top = ax.inset_axes((0.0, 1.01, 1.0, 0.03))
    left = ax.inset_axes((-0.04, 0.0, 0.03, 1.0))
    top.imshow(codes, cmap=cmap, vmin=-0.5, vmax=len(names) - 0.5, aspect="auto")
    left.imshow(codes.T, cmap=cmap, vmin=-0.5, vmax=len(names) - 0.5, aspect="auto")
    for strip in (top, left):
        strip.set_axis_off()


#: Line styles of the perturbation orders: the map's own, random, the reverse.
_ORDER_STYLES = {
    "morf": ("#c0392b", "-", "most relevant first"),
    "random": ("#566573", ":", "random"),
    "lerf": ("#2471a3", "--", "least relevant first"),
}


def perturbation_curves(
    curves: Mapping[str, Mapping[str, Sequence[float]]], path: str | Path, *, title: str
) -> Path:
    """One panel per method: the score as areas are removed, in each order.

    ``curves``: method label -> order (``morf``, ``lerf``, ``random``) -> scores at steps 0..K.
    """
    n = len(curves)
    columns = min(3, n)
    rows = -(-n // columns)
    fig = _new_figure(3.0 * columns, 2.4 * rows + 0.4)
    with matplotlib.rc_context(_RC):
        axes = np.atleast_1d(fig.subplots(rows, columns, sharey=True, squeeze=False)).ravel()
        for ax, (label, orders) in zip(axes, curves.items(), strict=False):
            for order, (colour, style, name) in _ORDER_STYLES.items():
                values = orders.get(order)
                if values is not None:
                    ax.plot(range(len(values)), values, style, color=colour, label=name)
            ax.set_title(wrapped(label, 30), fontsize=9)
            ax.set_xlabel("areas removed")
            ax.grid(alpha=0.3)
        for ax in axes[n:]:
            ax.set_visible(False)
        axes[0].set_ylabel("probability of the explained class")
        axes[0].legend(fontsize=8, frameon=False, loc="best")
        fig.suptitle(wrapped(title), fontsize=10)
    return save_figure(fig, path)
