"""Faithfulness of a map, the torch-free part: what is recorded and how it is judged.

For each image and method the map's atlas areas are removed in its order, in the reverse order
and at random (`bids_lrp.lrp.perturb`, run in the model node by `bids_lrp.areas`), replaced
by the template brain as the network sees it, and the probability of the class the method
explained is recorded after each step. The area under each curve (AOPC) goes into the map's
sidecar, the curves into one TSV per image; the group level summarizes them per method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "COLUMN_DESCRIPTIONS",
    "MARGIN",
    "ORDERS",
    "REFERENCE",
    "aopc",
    "image_aopc",
    "summary",
    "verdict",
    "write_faithfulness",
]

#: Orders in which areas are removed: the map's (most relevant first), its reverse, random.
ORDERS = ("morf", "lerf", "random")
#: AOPC difference (probability) below which a map is not told apart from random removal.
MARGIN = 0.01
#: What a removed area is replaced by (recorded in the sidecars).
REFERENCE = "the template, scaled as a network input (the model card's intensity scaling)"

#: The columns of ``*_faithfulness.tsv``.
COLUMN_DESCRIPTIONS = {
    "method": "output label of the method whose map ordered the areas (desc-<label>)",
    "order": "morf: most relevant area first; lerf: least relevant first; random: a seeded "
    "random order (the baseline)",
    "step": "number of areas removed so far (0: the image itself)",
    "index": "atlas label of the area removed at this step (n/a at step 0)",
    "name": "name of that area (n/a at step 0)",
    "score": "the network's probability of the class the method explained, after this step",
}


def aopc(values) -> float:
    """``1 / (K + 1) * sum_k (f(x_0) - f(x_k))`` of the scores ``f(x_0), ..., f(x_K)``
    (Samek et al. 2017, eq. 12)."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.mean(values[0] - values))


def verdict(morf: float | None, lerf: float | None, random: float | None) -> str:
    """One phrase: how the map's order compares with random and reverse removal."""
    if morf is None or random is None:
        return "not measured"
    if morf > random + MARGIN and (lerf is None or morf > lerf):
        return "faithful: its areas matter more than random ones"
    if morf < random - MARGIN:
        return "worse than random removal"
    return "not told apart from random removal"


def summary(aopc: dict[str, float], atlas: str, steps: int) -> dict[str, Any]:
    """The ``Faithfulness`` entry of a map's sidecar."""
    return {
        "Atlas": atlas,
        "Steps": steps,
        "Score": "probability of the explained class",
        "Reference": REFERENCE,
        "AOPC": {order: aopc[order] for order in ORDERS},
        "AOPCDefinition": "mean over steps 0..K of the score at step 0 minus the score at "
        "step k (Samek et al. 2017); morf well above random and lerf means a faithful map",
    }


def write_faithfulness(path: Path, rows: list[dict[str, Any]]) -> str:
    """Write the curves of one image (every method) as a TSV; return its path."""
    table = pd.DataFrame(rows, columns=list(COLUMN_DESCRIPTIONS))
    table["index"] = table["index"].astype("Int64")
    table.to_csv(path, sep="\t", index=False, na_rep="n/a", float_format="%.8g")
    return str(path)


def image_aopc(path: Path) -> pd.DataFrame:
    """The AOPC of every (method, order) of one image's curves: columns method, order, aopc."""
    curves = pd.read_csv(path, sep="\t", na_values="n/a")
    rows = [
        {"method": method, "order": order, "aopc": aopc(group.sort_values("step")["score"])}
        for (method, order), group in curves.groupby(["method", "order"], sort=False)
    ]
    return pd.DataFrame(rows, columns=["method", "order", "aopc"])
