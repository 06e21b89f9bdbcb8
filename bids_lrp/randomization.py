"""Model randomization check (Adebayo et al. 2018): does a map depend on what the network
learned?

The network's dense layers (its classifier, the top of the cascade) are re-initialized with
seeded random weights and the image is explained again with the same method and class; the
Spearman rank correlation of the two maps inside the template brain says how much of the map
survives without the learned decision. A map that barely changes (rho at or above `THRESHOLD`)
shows the input and the architecture more than the model: an edge detector, not an
explanation.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import nn

__all__ = ["THRESHOLD", "randomized_top", "spearman", "summary"]

#: Spearman rho at or above which a map is called insensitive to the learned weights.
THRESHOLD = 0.5
#: What is randomized (recorded in the sidecars).
RANDOMIZED = "the dense layers (the classifier), re-initialized with seeded random weights"


@functools.lru_cache(maxsize=2)
def randomized_top(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with its dense layers re-initialized (cached per model and seed)."""
    copied = copy.deepcopy(model).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in copied.modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()
    return copied


def spearman(a: np.ndarray, b: np.ndarray, inside: np.ndarray) -> float | None:
    """Spearman's rho of two maps over the voxels ``inside``; None when either is constant."""
    x, y = np.asarray(a)[inside].ravel(), np.asarray(b)[inside].ravel()
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(stats.spearmanr(x, y).statistic)


def summary(rho: float | None) -> dict[str, Any]:
    """The ``Randomization`` entry of a map's sidecar."""
    return {
        "Randomized": RANDOMIZED,
        "Spearman": None if rho is None else round(rho, 6),
        "Threshold": THRESHOLD,
        "Passed": None if rho is None else bool(rho < THRESHOLD),
    }
