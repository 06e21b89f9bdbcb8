"""Mean relevance maps in the group report: orthogonal slices and glass brains per cohort."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from scipy import ndimage

from bids_lrp.group.niftistream import read_grid, read_volume
from bids_lrp.group.write import group_words
from bids_lrp.reports.brain import pool_to_resolution, slice_mosaic
from bids_lrp.reports.figures import relevance_scale
from bids_lrp.reports.glass import glass_brain
from bids_lrp.reports.html import esc, figure
from bids_lrp.templates import get_template

__all__ = ["COHORT_ORDER", "load_map", "method_maps", "peak"]

#: Cohorts in the order their maps are shown; others follow alphabetically.
COHORT_ORDER = ("all", "AD", "HC", "TP", "TN", "FP", "FN")


def peak(data: np.ndarray, affine: np.ndarray) -> dict[str, list[float]]:
    """World coordinates of the strongest 5-voxel neighbourhood (a robust peak) of a map."""
    smooth = ndimage.uniform_filter(np.abs(data), size=5)
    ijk = np.unravel_index(int(np.argmax(smooth)), data.shape)
    xyz = affine[:3, :3] @ np.asarray(ijk, float) + affine[:3, 3]
    return {"x": [float(xyz[0])], "y": [float(xyz[1])], "z": [float(xyz[2])]}


def load_map(path: Path) -> nib.Nifti1Image:
    """A mean map as float32 in memory (ISA-L inflate when installed: nibabel's zlib is slower)."""
    grid = read_grid(path)
    data = read_volume(path, grid, np.empty(grid.size, dtype=np.float32))
    return nib.Nifti1Image(data.reshape(grid.shape, order="F"), grid.affine)


def method_maps(
    rep: Any, method: str, paths: dict[tuple[str, ...], Path], share: tuple[int, int] = (0, 1)
) -> None:
    """Orthogonal slices and a glass brain per cohort mean map, on one colour scale.

    ``share = (k, n)``: draw only the k-th of n consecutive slices of the cohorts (the colour
    scale is still that of all of them), so that n processes can draw one method together.
    ``rep`` is the report being built (`bids_lrp.reports.group`): figures go to ``rep.figures``,
    HTML to ``rep.blocks["maps"]``, warnings through ``rep.say``.
    """
    keys = sorted(
        paths, key=lambda k: (COHORT_ORDER.index(k[1]) if k[1] in COHORT_ORDER else 99, k[1])
    )
    images = {key: load_map(paths[key]) for key in keys}
    pooled = {key: pool_to_resolution(img) for key, img in images.items()}
    scales = [relevance_scale(i.dataobj) for i in images.values()]
    vmax, threshold = max(s[0] for s in scales), max(s[1] for s in scales)
    projections = [relevance_scale(i.dataobj, percentile=99.9, hide=95) for i in pooled.values()]
    first = images[keys[0]]
    cuts = peak(np.asarray(first.dataobj), first.affine)  # the same cut for every cohort
    k, n = share
    try:
        background = load_map(get_template(keys[0][2]).t1w)  # once, not per mosaic
    except (ValueError, OSError):
        background = None
        if k == 0:
            rep.say("maps", "warning", f"template {keys[0][2]} not found: glass brains only")
    if k == 0:
        rep.blocks["maps"].append(f"<h3>{esc(method)}</h3>")
    for _, cohort, space in keys[k * len(keys) // n : (k + 1) * len(keys) // n]:
        img = images[(method, cohort, space)]
        stem = f"space-{space}_desc-{method}_cohort-{cohort}"
        if background is not None:
            ortho = slice_mosaic(
                background,
                rep.figures / f"{stem}_mean.png",
                overlay=img,
                vmax=vmax,
                threshold=threshold,
                cuts=cuts,
                one_row=True,
                title=f"{method}, mean of {cohort}",
            )
            rep.blocks["maps"].append(
                figure(
                    rep.src(ortho),
                    f"The voxel-wise mean of the {method} maps of {_cohort_words(cohort)}, "
                    f"on the template; slices through the maximum of the first map shown, the "
                    "same for every group, and one colour scale for all of them, so that the "
                    "groups compare.",
                )
            )
        glass = glass_brain(
            pooled[(method, cohort, space)],
            rep.figures / f"{stem}_glassbrain.png",
            vmax=max(p[0] for p in projections),
            threshold=max(p[1] for p in projections),
            title=f"{method}, {cohort}",
        )
        rep.blocks["maps"].append(
            figure(
                rep.src(glass),
                f"The same mean map of {_cohort_words(cohort)} as a glass brain: maximum-"
                "intensity projections (pooled to 2 mm, weakest 95% hidden).",
            )
        )


def _cohort_words(cohort: str) -> str:
    """``TP`` -> ``the true positives (AD classified AD)``; ``all`` -> ``all images``."""
    words = group_words(cohort)
    return words if cohort == "all" else f"the {words}"
