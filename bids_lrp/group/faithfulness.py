"""The group level's faithfulness table: per method, how its maps fared under region
perturbation across images (`bids_lrp.faithfulness`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bids_lrp.faithfulness import MARGIN, ORDERS, REFERENCE, image_aopc
from bids_lrp.group.write import write_tsv
from bids_lrp.layout import ImageOutputs
from bids_lrp.methods import label_order

__all__ = ["COLUMNS", "faithfulness_table", "write_faithfulness"]

logger = logging.getLogger("bids_lrp")

#: The columns of ``group/atlas-<A>_faithfulness.tsv``.
COLUMNS = {
    "method": "output label of the method (desc-<label>)",
    "n_images": "images whose maps were measured",
    **{
        f"aopc_{order}_{stat}": f"{word} of the AOPC over images, {name}"
        for order, name in (
            ("morf", "most relevant areas first"),
            ("random", "random order"),
            ("lerf", "least relevant areas first"),
        )
        for stat, word in (("mean", "mean"), ("sd", "standard deviation"))
    },
    "faithful_share": "share of images whose map's MoRF AOPC exceeds the random one by more "
    f"than {MARGIN} and the LeRF one",
}


def faithfulness_table(images: Sequence[ImageOutputs], space: str) -> tuple[pd.DataFrame, str]:
    """Per method, the AOPC of its maps over ``images`` (with curves in ``space``); the atlas.

    An image without curves, or whose curves cannot be read, is left out (with a warning).
    """
    rows, atlases = [], set()
    for image in images:
        found = sorted((a, p) for (s, a), p in image.faithfulness.items() if s == space)
        if not found:
            continue
        atlas, path = found[0]
        try:
            table = image_aopc(path)
        except (OSError, ValueError, KeyError, pd.errors.ParserError) as err:
            logger.warning("%s: faithfulness curves not read (%s)", image.prefix, err)
            continue
        atlases.add(atlas)
        wide = table.pivot(index="method", columns="order", values="aopc")
        for method, values in wide.iterrows():
            rows.append({"image": image.prefix, "method": method, **values.to_dict()})
    if not rows:
        return pd.DataFrame(columns=list(COLUMNS)), ""
    data = pd.DataFrame(rows)
    data["faithful"] = (data["morf"] > data["random"] + MARGIN) & (data["morf"] > data["lerf"])
    out = []
    for method in label_order(data["method"]):
        part = data[data["method"] == method]
        row = {"method": method, "n_images": len(part)}
        for order in ("morf", "random", "lerf"):
            row[f"aopc_{order}_mean"] = part[order].mean()
            row[f"aopc_{order}_sd"] = part[order].std(ddof=1) if len(part) > 1 else None
        row["faithful_share"] = float(part["faithful"].mean())
        out.append(row)
    return pd.DataFrame(out, columns=list(COLUMNS)), ", ".join(sorted(atlases))


def write_faithfulness(folder: Path, images: Sequence[ImageOutputs], space: str) -> list[Path]:
    """Write ``atlas-<A>_faithfulness.tsv`` and its sidecar; nothing when no curves exist."""
    table, atlas = faithfulness_table(images, space)
    if table.empty:
        return []
    sidecar = {
        "Description": "how faithful each method's maps are: the area over the perturbation "
        "curve (AOPC, Samek et al. 2017) when atlas areas are removed in the map's order, at "
        "random and in reverse",
        "Atlas": atlas,
        "Orders": list(ORDERS),
        "Reference": REFERENCE,
        **COLUMNS,
    }
    name = f"atlas-{atlas}_faithfulness.tsv" if "," not in atlas else "faithfulness.tsv"
    return [write_tsv(folder / name, table, sidecar)]
