"""The ground truth of a simulated cohort: who has AD, and where the atrophy was planted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bids_lrp.exitcodes import EX_NOINPUT
from bids_lrp.inputs import InputError

__all__ = ["SPACE", "GroundTruth", "read_truth"]

#: The template space of the simulator's masks (`bids_lrp.simulate`).
SPACE = "MNI152NLin2009cAsym"
SIMULATION = Path("derivatives") / "simulation"


@dataclass(frozen=True)
class GroundTruth:
    """A simulated cohort's truth.

    ``diagnosis``: participant id -> ``AD``/``CN``; ``masks``: scan prefix (e.g.
    ``sub-001_ses-1``) -> its planted-area mask in `SPACE`; ``planted_indices``: the atlas
    labels of the planted areas (both hemispheres).
    """

    diagnosis: dict[str, str]
    masks: dict[str, Path]
    planted_indices: tuple[int, ...]

    def is_ad(self, prefix: str) -> bool:
        """Whether the scan ``prefix`` belongs to an AD participant."""
        return self.diagnosis.get(prefix.split("_")[0]) == "AD"

    def mask(self, prefix: str) -> np.ndarray:
        """The planted areas of scan ``prefix`` (boolean, template grid)."""
        import nibabel as nib

        return np.asarray(nib.load(self.masks[prefix]).dataobj) > 0


def read_truth(bids: Path) -> GroundTruth:
    """Read the truth `bids_lrp-simulate` wrote into ``bids``; `InputError` if there is none."""
    table = bids / SIMULATION / "atrophy.tsv"
    participants = bids / "participants.tsv"
    if not table.is_file() or not participants.is_file():
        raise InputError(
            f"{bids} is not a bids_lrp-simulate cohort (no {SIMULATION / 'atrophy.tsv'}): the "
            "benchmark needs the planted atrophy as ground truth",
            EX_NOINPUT,
        )
    people = pd.read_csv(participants, sep="\t", dtype=str)
    diagnosis = dict(zip(people["participant_id"], people["diagnosis"], strict=True))
    masks = {
        path.name.split("_space-")[0]: path
        for path in sorted(
            (bids / SIMULATION).glob(f"sub-*/**/*_space-{SPACE}_desc-atrophy_dseg.nii.gz")
        )
    }
    atrophy = pd.read_csv(table, sep="\t", dtype=str)
    indices = sorted(
        {int(i) for value in atrophy["atlas_indices"].dropna().unique() for i in value.split()}
    )
    return GroundTruth(diagnosis, masks, tuple(indices))
