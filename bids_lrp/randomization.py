"""Model randomization check (Adebayo et al. 2018): does a map depend on what the network
learned?

The network's dense layers (its classifier, the top of the cascade) are re-initialized with
seeded random weights and the image is explained again with the same method and class; the
Spearman rank correlation of the two maps' absolute values inside the template brain says how
much of the map survives without the learned decision (absolute values, as Adebayo et al.: a map
whose signs flip shows the same places, and a heatmap is read by where it is strong). A map
that barely changes (rho at or above `THRESHOLD`) shows the input and the architecture more than
the model: an edge detector, not an explanation.

The cascading variant re-initializes the weight layers from the top down, one more at each step,
until every convolution is random too; the curve of rho over the steps shows at which depth a
map stops depending on the learned weights. The randomized networks are made by
`bids_lrp.model.randomize`; this module (no torch) holds the measure and its record.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from bids_lrp.config import RANDOMIZATION_LAYERS as LAYERS

__all__ = ["LAYERS", "RANDOMIZED", "THRESHOLD", "spearman", "summary"]

#: Spearman rho at or above which a map is called insensitive to the learned weights.
THRESHOLD = 0.5
#: What is randomized (recorded in the sidecars).
RANDOMIZED = "the dense layers (the classifier), re-initialized with seeded random weights"


def spearman(a: np.ndarray, b: np.ndarray, inside: np.ndarray) -> float | None:
    """Spearman's rho of two maps over the voxels ``inside``; None when either is constant."""
    x, y = np.asarray(a)[inside].ravel(), np.asarray(b)[inside].ravel()
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(stats.spearmanr(x, y).statistic)


def _round(rho: float | None) -> float | None:
    return None if rho is None else round(rho, 6)


def summary(rho: float | None, cascade: list[tuple[str, float | None]] | None = None) -> dict:
    """The ``Randomization`` entry of a map's sidecar (with the cascade's steps, if run)."""
    out: dict[str, Any] = {
        "Randomized": RANDOMIZED,
        "Spearman": _round(rho),
        "Values": "absolute",
        "Threshold": THRESHOLD,
        "Passed": None if rho is None else bool(rho < THRESHOLD),
    }
    if cascade is not None:
        out["Cascade"] = [
            {"RandomizedDownTo": name, "Spearman": _round(value)} for name, value in cascade
        ]
    return out
