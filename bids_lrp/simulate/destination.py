"""The output folder of a simulation: what may be replaced, and writing it all or nothing.

A run writes into a hidden staging folder inside the output folder and moves the finished files
into place at the end, ``dataset_description.json`` last: a folder that has one at its top is
complete. A run that fails or is interrupted removes what it wrote (and the output folder, when it
made it), so it never leaves a dataset that looks finished; what was there before stays untouched
until the new dataset is complete.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bids_lrp.safewrite import replaced_contents
from bids_lrp.simulate.plan import SimulationError

__all__ = ["GENERATOR", "check_output_dir", "is_simulated_dataset", "staged_output"]

logger = logging.getLogger(__name__)

#: ``GeneratedBy[].Name`` in the dataset_description.json the simulator writes.
GENERATOR = "bids_lrp-simulate"
#: Names of this module's hidden working folders (left behind only if a run is killed -9).
_WORK_PREFIX = ".bids_lrp-simulate-"
_DESCRIPTION = "dataset_description.json"


def is_simulated_dataset(folder: Path) -> bool:
    """Whether ``folder`` holds a raw dataset written by ``bids_lrp-simulate``.

    The mark is the top-level ``dataset_description.json``: a raw dataset whose ``GeneratedBy``
    names the simulator.
    """
    try:
        description = json.loads((folder / _DESCRIPTION).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(description, dict) or description.get("DatasetType") != "raw":
        return False
    generated = description.get("GeneratedBy")
    return isinstance(generated, list) and any(
        isinstance(g, dict) and g.get("Name") == GENERATOR for g in generated
    )


def _leftovers_only(folder: Path) -> bool:
    """Whether ``folder`` holds nothing but working folders of earlier, killed runs."""
    return all(p.name.startswith(_WORK_PREFIX) and p.is_dir() for p in folder.iterdir())


def check_output_dir(out_dir: Path, overwrite: bool) -> None:
    """Accept an absent or empty folder, or with ``overwrite`` a simulated dataset.

    Raises
    ------
    SimulationError
        Anything else; nothing is touched.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise SimulationError(f"{out_dir} exists and is not a folder")
    if not out_dir.is_dir() or _leftovers_only(out_dir):
        return
    if not overwrite:
        raise SimulationError(f"{out_dir} is not empty; choose another folder or pass --overwrite")
    if not is_simulated_dataset(out_dir):
        raise SimulationError(
            f"{out_dir} is not a dataset made by bids_lrp-simulate (its {_DESCRIPTION} does not "
            "name it in GeneratedBy); --overwrite only replaces those: choose another folder"
        )


@contextmanager
def staged_output(out_dir: Path) -> Iterator[Path]:
    """Yield a folder to write a dataset into; on success it becomes the contents of ``out_dir``.

    ``out_dir`` must have passed `check_output_dir`; its earlier contents (a simulated dataset,
    or working folders of killed runs) are removed once the new dataset is complete, and
    ``dataset_description.json`` arrives last (`bids_lrp.safewrite.replaced_contents`). If the
    block raises (``KeyboardInterrupt`` included), everything this run wrote is removed, with
    ``out_dir`` and its parents if this run made them, and the exception propagates.
    """
    try:
        with replaced_contents(out_dir, prefix=_WORK_PREFIX, last=_DESCRIPTION) as staging:
            yield staging
    except BaseException:
        logger.info("removed the unfinished output in %s", out_dir)
        raise
