"""Relevance restricted to the voxels the network's input can carry: the template brain mask.

The participant level multiplies every registered scan by the template's brain mask before the
network sees it (Böhle et al. 2019). The attribution of the network's score to the registered
scan therefore passes through that mask: by the chain rule, d(m * x)/dx = m, so it is exactly 0
outside the brain. Gradient methods (guided backpropagation, gradient) nevertheless produce
values there, because they differentiate with respect to the masked tensor, whose outside
voxels are a constant 0 that no participant can change. Those values describe the network, not
the participant; left in, they fill mosaics, glass brains and group means with a halo around
the brain. LRP's input rules already give 0 where the input is 0.

`restrict_to_brain` removes them and measures how much there was, so that the maps and every
number made from them (region sums, group means) describe the brain only, and the share that
was removed is reported per map.
"""

from __future__ import annotations

import numpy as np

__all__ = ["restrict_to_brain"]


def restrict_to_brain(relevance: np.ndarray, brain: np.ndarray) -> tuple[np.ndarray, float]:
    """Zero ``relevance`` outside the brain; return it and the share of ``|relevance|`` removed.

    Parameters
    ----------
    relevance : numpy.ndarray
        One map on the network grid.
    brain : numpy.ndarray
        Per voxel of that grid, the fraction of it that is brain, in [0, 1] (a boolean mask on
        the template's own grid). A voxel with none is zeroed.

    Returns
    -------
    masked : numpy.ndarray
        ``relevance`` with the voxels without brain set to 0 (same dtype).
    outside_share : float
        ``sum |r| (1 - brain) / sum |r|`` before masking, in [0, 1]: each voxel counts outside by
        the part of it outside the brain, as the map moved onto a finer template grid would
        show it; 0 for an all-zero map.
    """
    if relevance.shape != brain.shape:
        raise ValueError(f"relevance {relevance.shape} and mask {brain.shape} differ in shape")
    fraction = np.clip(np.asarray(brain, dtype=np.float64), 0.0, 1.0)
    magnitude = np.abs(relevance, dtype=np.float64)
    total = float(magnitude.sum())
    share = float((magnitude * (1.0 - fraction)).sum()) / total if total > 0 else 0.0
    return np.where(fraction > 0, relevance, np.zeros((), dtype=relevance.dtype)), share
