"""The template anatomy every simulated subject starts from.

The real ICBM 2009c asymmetric brain (see `bids_lrp.templates`) with the Neuromorphometrics atlas
resampled onto it, tissue classes estimated from intensities (three-class k-means), and the
distance to the brain used to draw a synthetic head around it. Prepared once per process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from bids_lrp.grid import Grid
from bids_lrp.simulate.grids import coarse_grid
from bids_lrp.templates import Atlas, TemplateFiles, get_atlas, get_template

__all__ = ["FIELD_STEP", "Anatomy", "load_anatomy", "tissue_means"]

#: Displacement fields and head distances live on every FIELD_STEP-th template voxel.
FIELD_STEP = 2


@dataclass(frozen=True)
class Anatomy:
    """Template-space anatomy shared by all subjects.

    Attributes
    ----------
    template : TemplateFiles
        Where the template came from.
    atlas : Atlas
        Label atlas on the template grid.
    grid : Grid
        Template grid (1 mm).
    fields : Grid
        Coarse grid for displacement fields and distances.
    intensity : numpy.ndarray
        Brain T1w scaled so that white matter is 1, zero outside the brain (float32).
    mask : numpy.ndarray
        Brain mask (bool).
    classes : numpy.ndarray
        Hard tissue classes (uint8): 0 background, 1 CSF, 2 GM, 3 WM.
    head_distance : numpy.ndarray
        Distance (mm) from the brain on ``fields``; 0 inside.
    """

    template: TemplateFiles
    atlas: Atlas
    grid: Grid
    fields: Grid
    intensity: np.ndarray
    mask: np.ndarray
    classes: np.ndarray
    head_distance: np.ndarray


def _kmeans_1d(values: np.ndarray, k: int = 3, iterations: int = 50) -> np.ndarray:
    """Cluster centres of 1D data by Lloyd's algorithm on a histogram (deterministic)."""
    hist, edges = np.histogram(values, bins=256)
    centres_bins = (edges[:-1] + edges[1:]) / 2
    centres = np.quantile(values, np.linspace(0.15, 0.85, k))
    for _ in range(iterations):
        assign = np.argmin(np.abs(centres_bins[:, None] - centres[None, :]), axis=1)
        new = np.array(
            [
                np.average(centres_bins[assign == c], weights=hist[assign == c] + 1e-12)
                if np.any(assign == c)
                else centres[c]
                for c in range(k)
            ]
        )
        if np.allclose(new, centres):
            break
        centres = new
    return np.sort(centres)


def tissue_means(anatomy: Anatomy) -> dict[str, float]:
    """Mean normalized intensity of CSF, GM and WM."""
    names = {1: "csf", 2: "gm", 3: "wm"}
    return {n: float(anatomy.intensity[anatomy.classes == c].mean()) for c, n in names.items()}


@functools.lru_cache(maxsize=2)
def load_anatomy(
    template: str = "MNI152NLin2009cAsym", atlas: str = "Neuromorphometrics"
) -> Anatomy:
    """Prepare the template anatomy (cached per process; arrays are read-only).

    Parameters
    ----------
    template : str
        Template name (see `bids_lrp.templates.TEMPLATES`), 1 mm.
    atlas : str
        Atlas name (see `bids_lrp.templates.ATLASES`).

    Returns
    -------
    Anatomy
    """
    files = get_template(template, 1)
    grid = Grid(files.shape(), files.affine())
    mask = files.brain_mask()
    brain = files.brain()
    centres = _kmeans_1d(brain[mask])
    classes = np.zeros(grid.shape, dtype=np.uint8)
    classes[mask] = 1 + np.argmin(np.abs(brain[mask][:, None] - centres[None, :]), axis=1)
    intensity = (brain / np.float32(centres[2])).astype(np.float32)
    fields = coarse_grid(grid, FIELD_STEP)
    coarse_mask = mask[::FIELD_STEP, ::FIELD_STEP, ::FIELD_STEP]
    distance = ndimage.distance_transform_edt(~coarse_mask, sampling=fields.zooms).astype(
        np.float32
    )
    for array in (intensity, mask, classes, distance):
        array.setflags(write=False)
    return Anatomy(
        template=files,
        atlas=get_atlas(atlas, template, 1),
        grid=grid,
        fields=fields,
        intensity=intensity,
        mask=mask,
        classes=classes,
        head_distance=distance,
    )
