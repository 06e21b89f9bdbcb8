"""The group level's randomization table: per method, how much its maps changed when the
network's weights were randomized (`bids_lrp.randomization`), over every image checked.

The participant level records the check in each map's sidecar (``Randomization``): rho for the
network with its dense layers randomized and, with ``--randomization-layers cascade``, rho at
each step of the cascade. Each becomes one row per method here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bids_lrp.group.write import write_tsv
from bids_lrp.layout import ImageOutputs
from bids_lrp.methods import label_order
from bids_lrp.randomization import RANDOMIZED, THRESHOLD

__all__ = ["COLUMNS", "randomization_table", "write_randomization"]

logger = logging.getLogger("bids_lrp")

#: Label of the dense-layers row (the verdict of every map).
DENSE = "dense layers"
#: The columns of ``group/space-<tpl>_randomization.tsv``.
COLUMNS = {
    "method": "output label of the method (desc-<label>)",
    "randomized": f"'{DENSE}' ({RANDOMIZED}), or the lowest layer randomized in the cascade "
    "(every weight layer from the top down to it)",
    "step": "0 for the dense layers; k for the cascade's k-th step (k layers randomized)",
    "n_images": "images whose maps were checked",
    "spearman_mean": "mean Spearman rho between the map and the randomized network's map",
    "spearman_sd": "standard deviation of rho over images",
    "passed_share": f"share of images whose rho is below {THRESHOLD} (the map depends on the "
    "randomized weights)",
}


def _sidecar(path: Path) -> dict:
    sidecar = path.with_name(path.name.removesuffix(".nii.gz").removesuffix(".nii") + ".json")
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        logger.warning("%s: sidecar not read (%s)", sidecar.name, err)
        return {}
    return data if isinstance(data, dict) else {}


def _rows(image: ImageOutputs, method: str, path: Path) -> list[dict]:
    check = _sidecar(path).get("Randomization")
    if not isinstance(check, dict):
        return []
    rows = [{"method": method, "randomized": DENSE, "step": 0, "rho": check.get("Spearman")}]
    for k, step in enumerate(check.get("Cascade") or [], 1):
        if isinstance(step, dict):
            name = str(step.get("RandomizedDownTo"))
            rows.append({"method": method, "randomized": name, "step": k,
                         "rho": step.get("Spearman")})  # fmt: skip
    return [{**row, "image": image.prefix} for row in rows]


def randomization_table(images: Sequence[ImageOutputs], space: str) -> pd.DataFrame:
    """Per method and randomized step, rho over the ``images`` whose maps were checked."""
    rows = []
    for image in images:
        for (map_space, method), path in sorted(image.maps.items()):
            if map_space == space:
                rows += _rows(image, method, path)
    if not rows:
        return pd.DataFrame(columns=list(COLUMNS))
    data = pd.DataFrame(rows)
    data["rho"] = pd.to_numeric(data["rho"], errors="coerce")
    out = []
    for method in label_order(data["method"]):
        part = data[data["method"] == method]
        for (step, randomized), group in part.groupby(["step", "randomized"], sort=True):
            rho = group["rho"].dropna()
            out.append(
                {
                    "method": method,
                    "randomized": randomized,
                    "step": int(step),
                    "n_images": len(rho),
                    "spearman_mean": float(rho.mean()) if len(rho) else None,
                    "spearman_sd": float(rho.std(ddof=1)) if len(rho) > 1 else None,
                    "passed_share": float(np.mean(rho < THRESHOLD)) if len(rho) else None,
                }
            )
    return pd.DataFrame(out, columns=list(COLUMNS))


def write_randomization(folder: Path, images: Sequence[ImageOutputs], space: str) -> list[Path]:
    """Write ``space-<space>_randomization.tsv`` and its sidecar; nothing when none was checked."""
    table = randomization_table(images, space)
    if table.empty:
        return []
    sidecar = {
        "Description": "model randomization check (Adebayo et al. 2018): Spearman's rho, "
        "inside the template brain, between each map and the map of the same network with "
        "weights randomized, over images",
        "Threshold": THRESHOLD,
        **COLUMNS,
    }
    return [write_tsv(folder / f"space-{space}_randomization.tsv", table, sidecar)]
