"""The group products of Böhle et al. (2019)'s analyses (`bids_lrp.group.paper` computes them).

Files (``<out>/group/``, each with a JSON sidecar):

* ``atlas-<A>_desc-<M>_topareas.tsv``: the top 25 areas of each ranking (sum, density, TP
  gain) of one method, as the authors' figures and overlap matrices use them;
* ``atlas-<A>_desc-betastudy_overlap.tsv``: top-10 overlap (percent) of every pair of betas of
  the ``boehle2019`` method, per ranking (when two betas or more were run);
* ``atlas-<A>_volumes.tsv``: per image and source, the volume of each correlated area;
* ``atlas-<A>_volumecorrelation.tsv``: per method, area and volume source, Pearson r of
  volume and area relevance over the true positives, its permutation p, n (and the beta).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bids_lrp.group.areas import group_areas
from bids_lrp.group.cohort import AreaSums
from bids_lrp.group.paper import (
    RANKINGS,
    overlap_matrix,
    ranking_values,
    top_areas,
    volume_correlation,
)
from bids_lrp.group.products import AtlasTables
from bids_lrp.group.volumes import ExternalVolumes
from bids_lrp.group.write import write_tsv
from bids_lrp.methods import method_of_label

__all__ = ["OVERLAP_TOP", "TOP", "VolumeInputs", "write_paper_products"]

logger = logging.getLogger("bids_lrp")

#: Areas listed per ranking (the authors' figures) and compared across betas.
TOP = 25
OVERLAP_TOP = 10
#: The seed of the permutation tests (reproducible p values).
PERMUTATION_SEED = 2019


class VolumeInputs:
    """The volume sources of one atlas: estimated labels and external areas."""

    def __init__(
        self,
        estimate: tuple[np.ndarray, tuple[str, ...]] | None,
        n_voxels: pd.Series | None,
        external: ExternalVolumes | None,
        areas: Sequence[str],
        permutations: int,
    ) -> None:
        self.estimate = estimate
        self.n_voxels = n_voxels
        self.external = external
        self.areas = tuple(areas)
        self.permutations = permutations

    def tables(self, ctx: AtlasTables) -> dict[str, pd.DataFrame]:
        """Source -> images x areas (volumes, mm³), in the chosen area grouping."""
        out = {}
        if self.estimate is not None and self.n_voxels is not None:
            values, names = self.estimate
            frame = pd.DataFrame(values, columns=list(names))
            grouped, _ = group_areas(frame, self.n_voxels.reindex(list(names)), ctx.grouping)
            out["estimate"] = grouped[[a for a in self.areas if a in grouped.columns]]
        if self.external is not None:
            cohort = ctx.cohort
            out["external"] = self.external.for_images(
                list(cohort["participant_id"]), list(cohort["session_id"])
            )
        return out


def _params(meta: Mapping[str, Any]) -> dict[str, Any]:
    params = meta.get("MethodParameters")
    return dict(params) if isinstance(params, dict) else {}


def _top_tables(
    ctx: AtlasTables, atlas: str, label: str, grouped: AreaSums, meta: dict
) -> tuple[Path, dict[str, list[str]]]:
    sums, voxels = grouped.sums.to_numpy(), grouped.n_voxels.to_numpy()
    names = list(grouped.sums.columns)
    rows, tops = [], {}
    for ranking in RANKINGS:
        values = ranking_values(sums, voxels, ctx.masks, ranking)
        order = top_areas(values, TOP)
        tops[ranking] = [names[i] for i in order]
        for rank, i in enumerate(order, start=1):
            rows.append([ranking, rank, names[i], float(values[i]), int(voxels[i])])
    table = pd.DataFrame(rows, columns=["ranking", "rank", "area", "value", "n_voxels"])
    sidecar = {
        **meta,
        "Description": f"the top {TOP} areas of each ranking of Böhle et al. (2019): a stable "
        "ascending sort of the areas' values, its last entries (ties: the later area first); "
        "areas whose value is undefined are left out",
        "ranking": {"Description": "what is ranked", "Levels": dict(RANKINGS)},
        "rank": {"Description": "1 = highest value"},
        "area": {"Description": "atlas area"},
        "value": {"Description": "the ranked value of the area"},
        "n_voxels": {"Description": "voxels of the area on the template grid (|a|)"},
    }
    path = write_tsv(ctx.folder / f"atlas-{atlas}_desc-{label}_topareas.tsv", table, sidecar)
    return path, tops


def _beta_study(
    ctx: AtlasTables, atlas: str, tops: dict[str, dict], metas: dict[str, dict], common: dict
) -> list[Path]:
    """Top-10 overlap of the boehle2019 variants that differ only in beta."""
    variants = {}
    for label, meta in metas.items():
        params = _params(meta)
        if method_of_label(label) == "boehle2019" and "beta" in params:
            rest = tuple(sorted((k, str(v)) for k, v in params.items() if k != "beta"))
            variants.setdefault(rest, []).append((float(params["beta"]), label))
    files = []
    for rest, found in variants.items():
        if len(found) < 2:
            continue
        found.sort()
        rows = []
        for ranking in RANKINGS:
            lists = [tops[label][ranking][:OVERLAP_TOP] for _, label in found]
            matrix = overlap_matrix(lists, OVERLAP_TOP)
            for i, (beta_i, label_i) in enumerate(found):
                for j, (beta_j, label_j) in enumerate(found):
                    rows.append([ranking, beta_i, beta_j, label_i, label_j, matrix[i, j]])
        table = pd.DataFrame(
            rows,
            columns=["ranking", "beta_row", "beta_column", "method_row", "method_column",
                     "overlap_percent"],
        )  # fmt: skip
        suffix = "" if not rest else "".join(f"{k}{v}" for k, v in rest if k != "start")
        desc = "betastudy" + "".join(c for c in suffix if c.isalnum())
        sidecar = {
            **common,
            "Description": f"overlap of the top {OVERLAP_TOP} areas of the boehle2019 LRP "
            "variants that differ in beta (Böhle et al. 2019, 'Compare intersection of top 10 "
            f"regions'): |top_row & top_column| / {OVERLAP_TOP} x 100, per ranking",
            "OtherParameters": dict(rest),
            "overlap_percent": {"Description": "shared top areas, percent", "Units": "%"},
        }
        files.append(
            write_tsv(ctx.folder / f"atlas-{atlas}_desc-{desc}_overlap.tsv", table, sidecar)
        )
    return files


def _volumes(
    ctx: AtlasTables,
    atlas: str,
    grouped: Mapping[str, AreaSums],
    metas: Mapping[str, dict],
    volumes: VolumeInputs,
    common: dict,
) -> tuple[list[Path], list[str]]:
    """Per-image volumes and their correlation with the area relevance, per method."""
    sources = volumes.tables(ctx)
    if not sources:
        return [], []
    notes, rows, long = [], [], []
    cohort = ctx.cohort
    tp = (cohort["outcome"] == "TP").to_numpy()
    labelled = cohort["label"].notna().any()
    for source, table in sources.items():
        areas = volumes.areas if source == "estimate" else list(volumes.external.columns)
        for area in areas:
            if area not in table.columns or area not in next(iter(grouped.values())).sums:
                notes.append(
                    f"{atlas}: no area {area!r} in the {ctx.grouping} areas: its volume-"
                    "relevance correlation is skipped"
                )
                continue
            vol = table[area].to_numpy(dtype=np.float64)
            for image, value, outcome in zip(cohort["image"], vol, cohort["outcome"], strict=True):
                long.append([image, outcome, source, area, value])
            for label, sums in grouped.items():
                params = _params(metas.get(label, {}))
                found = volume_correlation(
                    vol[tp], sums.sums[area].to_numpy()[tp], volumes.permutations,
                    PERMUTATION_SEED,
                )  # fmt: skip
                note = found.reason
                if not labelled:
                    note = "no labels: no true positives"
                elif found.reason:
                    note = f"not computed: {found.reason}"
                if note:
                    notes.append(f"{label}, {atlas}, {area} ({source}): volume correlation {note}")
                rows.append(
                    [label, method_of_label(label) or label, params.get("beta", np.nan), area,
                     source, "TP", found.n, found.r, found.p, found.permutations, note]
                )  # fmt: skip
    if not rows:
        return [], notes
    columns = ["method", "method_name", "beta", "area", "volume_source", "cohort", "n", "r",
               "p", "permutations", "note"]  # fmt: skip
    table = pd.DataFrame(rows, columns=columns)
    sidecar = {
        **common,
        "Description": "Pearson correlation of area volume and area relevance S_a over the "
        "true positives (Böhle et al. 2019: hippocampal volume, r = -0.56 for LRP, 0.10 for "
        "guided backpropagation); images without a volume are left out",
        "PermutationTest": {
            "Permutations": volumes.permutations,
            "Seed": PERMUTATION_SEED,
            "Definition": "two-sided: p = (1 + #{|r_perm| >= |r|}) / (1 + permutations), each "
            "method against its own null distribution of shuffled volumes",
        },
        "volume_source": {
            "Description": "estimate: native_volume_mm3 of the region tables (Jacobian of "
            "the SyN warp integrated per area); external: --volumes columns",
        },
        "n": {"Description": "true positives with a volume"},
        "r": {"Description": "Pearson correlation coefficient"},
        "p": {"Description": "permutation p value (two-sided)"},
        "note": {"Description": "why r or p is missing"},
    }
    files = [write_tsv(ctx.folder / f"atlas-{atlas}_volumecorrelation.tsv", table, sidecar)]
    per_image = pd.DataFrame(
        long, columns=["image", "outcome", "volume_source", "area", "volume_mm3"]
    )
    described = {
        **common,
        "Description": "area volume per image and source (mm3)",
        "volume_mm3": {"Units": "mm^3"},
    }
    files.append(write_tsv(ctx.folder / f"atlas-{atlas}_volumes.tsv", per_image, described))
    return files, notes


def write_paper_products(
    ctx: AtlasTables,
    atlas: str,
    grouped: Mapping[str, AreaSums],
    metas: Mapping[str, dict],
    volumes: VolumeInputs,
) -> tuple[list[Path], list[str]]:
    """Top areas per method, the beta study and the volume correlation of one atlas.

    Parameters
    ----------
    grouped : mapping
        Method label -> the cohort's area sums (`bids_lrp.group.products.grouped_sums`).
    metas : mapping
        Method label -> a relevance map's sidecar (its ``MethodParameters`` give the beta).
    """
    common = {**ctx.common(), "Atlas": atlas, "AreaGrouping": ctx.grouping}
    files, notes, tops = [], [], {}
    for label, sums in grouped.items():
        meta = {**common, "Method": method_of_label(label) or label, "MethodLabel": label}
        path, tops[label] = _top_tables(ctx, atlas, label, sums, meta)
        files.append(path)
    files += _beta_study(ctx, atlas, tops, dict(metas), common)
    more_files, more_notes = _volumes(ctx, atlas, grouped, metas, volumes, common)
    return files + more_files, notes + more_notes
