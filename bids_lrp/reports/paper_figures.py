"""Figures of the group report's "Böhle et al. 2019" section, drawn as the authors drew them.

Each function takes arrays, draws on its own figure and writes one SVG atomically
(`bids_lrp.reports.figures.save_figure`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np

from bids_lrp.reports.figures import _RC, _new_figure, plain_ticks, save_figure, wrapped

__all__ = ["area_means", "area_violins", "beta_curve", "overlap_heatmaps", "volume_scatter"]

#: Colours of the authors' figures.
COLOURS = {"AD": "darkorange", "HC": "forestgreen", "TP": "firebrick", "TN": "blue"}


def _short(name: str, width: int = 28) -> str:
    text = name.replace("_", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _area_axis(ax, areas: Sequence[str]) -> None:
    ax.set_xticks(np.arange(len(areas)), [_short(a) for a in areas], rotation=60, ha="right")
    ax.set_xlim(-0.6, len(areas) - 0.4)
    ax.margins(y=0.12)  # room for the largest dots and the legend
    ax.grid(axis="y", color="0.9")
    ax.set_axisbelow(True)
    plain_ticks(ax)


def area_means(
    areas: Sequence[str],
    means: Mapping[str, Sequence[float]],
    sizes: Sequence[float],
    path: str | Path,
    *,
    title: str,
    ylabel: str,
) -> Path:
    """Group means per area as dots whose area follows the atlas area's size (authors' fig. 4)."""
    sizes = np.asarray(sizes, dtype=float)
    scale = 400 * sizes / sizes.max() if sizes.size and sizes.max() > 0 else 40
    with matplotlib.rc_context(_RC):
        fig = _new_figure(max(7.5, 0.32 * len(areas) + 1.5), 4.2)
        ax = fig.add_subplot()
        x = np.arange(len(areas))
        for group, values in means.items():
            ax.scatter(
                x,
                np.asarray(values, dtype=float),
                s=scale,
                alpha=0.7,
                label=group,
                color=COLOURS.get(group),
                edgecolors="0.4",
                linewidths=1.0,
                zorder=3,
            )
        _area_axis(ax, areas)
        ax.set_ylabel(ylabel)
        ax.set_title(wrapped(title))
        ax.legend(loc="upper right", markerscale=0.4)
    return save_figure(fig, path)


def area_violins(
    areas: Sequence[str],
    values: Mapping[str, np.ndarray],
    path: str | Path,
    *,
    title: str,
    ylabel: str,
    reference: float | None = None,
) -> Path:
    """Per-image values (images x areas) of each group as violins, group means as dots."""
    with matplotlib.rc_context(_RC):
        fig = _new_figure(max(7.5, 0.36 * len(areas) + 1.5), 4.4)
        ax = fig.add_subplot()
        x = np.arange(len(areas))
        for group, data in values.items():
            data = np.asarray(data, dtype=float)
            colour = COLOURS.get(group)
            columns = [c[np.isfinite(c)] for c in data.T]
            drawable = [i for i, c in enumerate(columns) if c.size >= 2 and np.ptp(c) > 0]
            if drawable:
                parts = ax.violinplot([columns[i] for i in drawable], positions=x[drawable],
                                      widths=0.75, showextrema=False, points=100)  # fmt: skip
                for body in parts["bodies"]:
                    body.set_facecolor(colour)
                    body.set_edgecolor("black")
                    body.set_alpha(0.25)
            means = [float(c.mean()) if c.size else np.nan for c in columns]
            ax.scatter(x, means, s=30, color=colour, edgecolors="white", zorder=4,
                       label=f"{group} (n = {data.shape[0]})")  # fmt: skip
        if reference is not None:
            ax.axhline(reference, color="0.3", linestyle="--", linewidth=0.8)
        _area_axis(ax, areas)
        ax.set_ylabel(ylabel)
        ax.set_title(wrapped(title))
        ax.legend(loc="upper right")
    return save_figure(fig, path)


def overlap_heatmaps(
    matrices: Mapping[str, np.ndarray], betas: Sequence[float], path: str | Path, *, title: str
) -> Path:
    """Top-10 overlap (percent) between betas, one panel per ranking (authors' fig. 8)."""
    ticks = [f"{b:g}" for b in betas]
    with matplotlib.rc_context(_RC):
        fig = _new_figure(3.1 * len(matrices) + 0.8, 3.4)
        axes = np.atleast_1d(fig.subplots(1, len(matrices), squeeze=False)).ravel()
        image = None
        for ax, (name, matrix) in zip(axes, matrices.items(), strict=True):
            image = ax.imshow(matrix, cmap="Reds", vmin=0, vmax=100)
            for i in range(matrix.shape[0]):
                for j in range(matrix.shape[1]):
                    ax.text(j, i, f"{matrix[i, j]:.0f}", ha="center", va="center",
                            color="white" if matrix[i, j] > 65 else "black")  # fmt: skip
            ax.set_xticks(range(len(ticks)), ticks)
            ax.set_yticks(range(len(ticks)), ticks)
            ax.set_xlabel("beta")
            ax.set_title(name)
        axes[0].set_ylabel("beta")
        fig.colorbar(image, ax=list(axes), label="shared top-10 areas (%)", shrink=0.8)
        fig.suptitle(wrapped(title))
    return save_figure(fig, path)


def volume_scatter(
    panels: Mapping[str, tuple[np.ndarray, np.ndarray, float, float]],
    path: str | Path,
    *,
    area: str,
) -> Path:
    """Volume against area relevance of the true positives, one panel per method, with r, p."""
    ncols = min(3, len(panels))
    nrows = int(np.ceil(len(panels) / ncols))
    with matplotlib.rc_context(_RC):
        fig = _new_figure(3.2 * ncols + 0.4, 3.0 * nrows + 0.4)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, (method, (volume, relevance, r, p)) in zip(axes, panels.items(), strict=False):
            keep = np.isfinite(volume) & np.isfinite(relevance)
            ax.scatter(volume[keep], relevance[keep], s=14, color=COLOURS["TP"])
            if keep.sum() >= 2 and np.ptp(volume[keep]) > 0:
                slope, intercept = np.polyfit(volume[keep], relevance[keep], 1)
                ends = np.array([volume[keep].min(), volume[keep].max()])
                ax.plot(ends, intercept + slope * ends, color="0.3", linewidth=1)
            stats = "r n/a" if not np.isfinite(r) else f"r = {r:.2f}, p = {p:.3g}"
            ax.set_title(f"{method}\n{stats}", fontsize=9)
            ax.set_xlabel(f"{_short(area)} volume (mm³)")
            plain_ticks(ax)
            plain_ticks(ax, "x")
        for ax in axes[len(panels) :]:
            ax.set_axis_off()
        axes[0].set_ylabel("relevance in the area (S_a)")
    return save_figure(fig, path)


def beta_curve(
    betas: Sequence[float], rs: Sequence[float], path: str | Path, *, area: str
) -> Path:
    """Correlation r of volume and relevance against beta (the authors' r by beta)."""
    with matplotlib.rc_context(_RC):
        fig = _new_figure(4.2, 3.0)
        ax = fig.add_subplot()
        ax.plot(betas, rs, marker="o", color=COLOURS["TP"])
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.set_xlabel("beta")
        ax.set_ylabel("r (volume, relevance)")
        ax.set_title(f"{_short(area)}: correlation by beta")
        ax.grid(color="0.9")
    return save_figure(fig, path)
