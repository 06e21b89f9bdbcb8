"""Areas of the group tables: atlas labels grouped as the user chose (pure pandas).

* ``none``: every atlas label is an area;
* ``hemispheres``: ``Left_<area>`` and ``Right_<area>`` merged (72 areas of the bundled
  Neuromorphometrics atlas, `bids_lrp.regions.merge_hemispheres`);
* ``boehle2019``: the 68 areas of Böhle et al. (2019), as their ``nmm_mask_areas.py`` groups
  the Neuromorphometrics labels: hemispheres merged, and also the cerebellum (exterior and white
  matter, labels 38-41), the lateral ventricles (inferior lateral included, 49-52) and the
  three cerebellar vermal lobules (71-73). Nothing is left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bids_lrp.group.tables import merge_area_columns

__all__ = ["BOEHLE2019_MERGES", "group_areas"]

#: Hemisphere-merged Neuromorphometrics areas that Böhle et al. (2019) merged further.
BOEHLE2019_MERGES = {
    "Cerebellum_Exterior": "Cerebellum",
    "Cerebellum_White_Matter": "Cerebellum",
    "Inf_Lat_Vent": "Lateral_Ventricles",
    "Lateral_Ventricle": "Lateral_Ventricles",
    "Cerebellar_Vermal_Lobules_I-V": "Cerebellar_Vermal_Lobules",
    "Cerebellar_Vermal_Lobules_VI-VII": "Cerebellar_Vermal_Lobules",
    "Cerebellar_Vermal_Lobules_VIII-X": "Cerebellar_Vermal_Lobules",
}


def _merge_named(
    sums: pd.DataFrame, n_voxels: pd.Series, merges: dict[str, str]
) -> tuple[pd.DataFrame, pd.Series]:
    """Add the columns that ``merges`` sends to one area (at the place of the first one)."""
    targets: dict[str, list[str]] = {}
    for column in sums.columns:
        targets.setdefault(merges.get(str(column), str(column)), []).append(column)
    values = sums.to_numpy(dtype=np.float64)
    position = {c: i for i, c in enumerate(sums.columns)}
    data = {
        area: values[:, [position[c] for c in members]].sum(axis=1)
        for area, members in targets.items()
    }
    voxels = [float(n_voxels[members].sum()) for members in targets.values()]
    return pd.DataFrame(data, index=sums.index), pd.Series(voxels, index=list(targets))


def group_areas(
    sums: pd.DataFrame, n_voxels: pd.Series, grouping: str
) -> tuple[pd.DataFrame, pd.Series]:
    """Group the label columns of ``sums`` (images x labels) into areas.

    Parameters
    ----------
    sums : pandas.DataFrame
        One row per image, one column per atlas label (area sums, or volumes: any quantity
        that adds over labels).
    n_voxels : pandas.Series
        Voxels per label, indexed like the columns of ``sums``.
    grouping : {"none", "hemispheres", "boehle2019"}

    Returns
    -------
    (pandas.DataFrame, pandas.Series)
        Per-area sums and voxels per area.
    """
    if grouping == "none":
        return sums, n_voxels
    if grouping not in ("hemispheres", "boehle2019"):
        raise ValueError(f"unknown area grouping {grouping!r}")
    sums, n_voxels = merge_area_columns(sums, n_voxels)
    if grouping == "boehle2019":
        sums, n_voxels = _merge_named(sums, n_voxels, BOEHLE2019_MERGES)
    return sums, n_voxels.astype(np.int64)
