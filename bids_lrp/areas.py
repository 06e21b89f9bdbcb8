"""Atlas areas and the template brain on the network grid, and the faithfulness curves of a
map, computed in the model node where the model and the image are loaded already.

Occlusion removes these areas one at a time, the faithfulness measure cumulatively
(`bids_lrp.lrp.perturb`); both replace them by the template brain as a network input.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import nibabel as nib
import numpy as np
import torch

from bids_lrp.grid import Grid
from bids_lrp.lrp.perturb import PerturbationCurve, region_perturbation
from bids_lrp.model.network_input import network_input
from bids_lrp.normalize.grids import resample_to_grid
from bids_lrp.normalize.intensity import scale_for_network
from bids_lrp.templates import get_atlas, template_images

__all__ = ["NetworkAreas", "faithfulness_rows", "network_areas"]


class NetworkAreas:
    """An atlas's areas and the template brain on a network grid (torch tensors)."""

    def __init__(self, regions: np.ndarray, names: dict[int, str], reference: np.ndarray):
        self.regions = torch.from_numpy(regions.astype(np.int64))
        self.names = names
        self.reference = torch.from_numpy(reference.astype(np.float32))

    def context(self, device: str = "cpu") -> dict[str, torch.Tensor]:
        """The ``context`` of `bids_lrp.lrp.attribute` for occlusion."""
        return {"regions": self.regions.to(device), "reference": self.reference.to(device)}


@functools.lru_cache(maxsize=4)
def _areas_on(template: str, atlas: str, key: tuple) -> NetworkAreas:
    shape, affine, resampling, scaling = key
    grid = Grid(shape, np.reshape(affine, (4, 4)))
    found = get_atlas(atlas, template)
    labels = nib.Nifti1Image(np.asarray(found.labels, np.float32), np.asarray(found.affine))
    nearest = resample_to_grid(labels, grid.shape, grid.affine, interpolation="nearest")
    regions = np.rint(np.asarray(nearest.dataobj)).astype(np.int64)
    names = {
        int(i): str(n) for i, n in zip(found.table["index"], found.table["name"], strict=True)
    }
    t1w, mask, _ = template_images(template)
    scaled = scale_for_network(t1w, mask, scaling, grid, resampling)
    brain = network_input(scaled, grid, resampling)
    return NetworkAreas(regions, names, np.asarray(brain.dataobj, dtype=np.float32))


def network_areas(template: str, atlas: str, card: Any) -> NetworkAreas:
    """``atlas``'s areas and ``template``'s brain on the grid of a model card (cached)."""
    grid = Grid.of_card(card)
    key = (
        tuple(grid.shape),
        tuple(np.asarray(grid.affine).ravel()),
        card.input_resampling,
        card.intensity_scaling,
    )
    return _areas_on(template, atlas, key)


def faithfulness_rows(
    model: torch.nn.Module,
    x: torch.Tensor,
    target: int,
    relevance: np.ndarray,
    areas: NetworkAreas,
    *,
    label: str,
    steps: int,
    cache: dict | None = None,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The perturbation curves of one map as TSV rows, and the AOPC per order (``cache``: the
    image's scores so far, `bids_lrp.lrp.perturb.region_perturbation`)."""
    curves: Sequence[PerturbationCurve] = region_perturbation(
        model,
        x,
        target,
        torch.from_numpy(np.ascontiguousarray(relevance)),
        areas.regions,
        areas.reference,
        steps=steps,
        start="probability",
        cache=cache,
    )
    rows = []
    for curve in curves:
        for step, score in enumerate(curve.scores):
            index = curve.areas[step - 1] if step else None
            rows.append(
                {
                    "method": label,
                    "order": curve.order,
                    "step": step,
                    "index": index,
                    "name": areas.names.get(index) if index is not None else None,
                    "score": score,
                }
            )
    return rows, {curve.order: round(curve.aopc, 8) for curve in curves}
