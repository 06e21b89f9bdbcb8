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

__all__ = ["outside_share", "restrict_to_brain"]


def outside_share(relevance: np.ndarray, inside: np.ndarray) -> float:
    """``sum |r| outside / sum |r|``, in [0, 1]; 0 for an all-zero map."""
    if relevance.shape != inside.shape:
        raise ValueError(f"relevance {relevance.shape} and mask {inside.shape} differ in shape")
    magnitude = np.abs(relevance, dtype=np.float64)
    total = float(magnitude.sum())
    return float(magnitude[~inside].sum()) / total if total > 0 else 0.0


def restrict_to_brain(relevance: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, float]:
    """Zero ``relevance`` outside the brain; return it and the share of ``|relevance|`` removed.

    Parameters
    ----------
    relevance : numpy.ndarray
        One map on the network grid.
    inside : numpy.ndarray of bool
        Voxels of that grid whose input carries brain (same shape).

    Returns
    -------
    masked : numpy.ndarray
        ``relevance`` with the outside voxels set to 0 (same dtype).
    outside_share : float
        ``sum |r| outside / sum |r|`` before masking, in [0, 1]; 0 for an all-zero map.
    """
    share = outside_share(relevance, inside)
    return np.where(inside, relevance, np.zeros((), dtype=relevance.dtype)), share
