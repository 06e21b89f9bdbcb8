"""Region tables per atlas and method of one image's relevance maps (`bids_lrp.regions`).

The maps come from the model node as files (nodes run in separate processes); each is read
once and the tables are computed from the arrays, named by the method label of its sidecar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    SimpleInterface,
    TraitedSpec,
    traits,
)

from bids_lrp.normalize.volumes import native_area_volumes
from bids_lrp.regions import atlas_tables
from bids_lrp.templates import get_atlas

# What a table's sidecar repeats from its relevance map's: which map, explaining which class.
TABLE_META_KEYS = (
    "Method",
    "MethodSpec",
    "MethodParameters",
    "TargetClass",
    "TargetSelection",
)


def region_tables(
    relevance: list[str],
    atlases: list[str],
    template: str,
    out_dir: str,
    metadata: list[dict],
    volume_ratio: str = "",
) -> dict[str, Any]:
    """One region TSV per (atlas, relevance map), atlas-major order (`bids_lrp.regions`).

    ``metadata`` (one sidecar dict per relevance map) names each map's method
    (``MethodLabel``) and gives each table's ``meta``: the map's `TABLE_META_KEYS`. With
    ``volume_ratio`` (native volume per template voxel, `bids_lrp.normalize.volumes`) each
    table gets the column ``native_volume_mm3``: the region's volume on the participant's own
    scan.
    """
    if len(metadata) != len(relevance):
        raise ValueError(f"{len(metadata)} sidecars for {len(relevance)} relevance maps")
    ratio = np.asarray(nib.load(volume_ratio).dataobj, np.float64) if volume_ratio else None
    images = [nib.load(path) for path in relevance]
    maps = {
        meta["MethodLabel"]: np.asarray(img.dataobj, dtype=np.float64)  # each map read once
        for img, meta in zip(images, metadata, strict=True)
    }
    out, files, names, descs, metas = Path(out_dir), [], [], [], []
    for atlas_name in atlases:
        atlas = get_atlas(atlas_name, template)
        for path, img in zip(relevance, images, strict=True):
            if not np.allclose(img.affine, atlas.affine, atol=1e-4):
                raise ValueError(f"{path} is not on the grid of atlas {atlas_name}")
        voxel = float(abs(np.linalg.det(atlas.affine[:3, :3])))
        native = None
        if ratio is not None:
            native = native_area_volumes(ratio, atlas.labels, atlas.table, voxel)
        tables = atlas_tables(maps, atlas.labels, atlas.table, voxel, native)
        for meta in metadata:
            desc = meta["MethodLabel"]
            table_path = out / f"regions_{atlas_name}_{desc}.tsv"
            tables[desc].to_csv(
                table_path, sep="\t", index=False, na_rep="n/a", float_format="%.8g"
            )
            files.append(str(table_path))
            names.append(atlas_name)
            descs.append(desc)
            metas.append({k: meta[k] for k in TABLE_META_KEYS if k in meta})
    return {"tables": files, "atlas": names, "desc": descs, "meta": metas}


class _RegionsInputSpec(BaseInterfaceInputSpec):
    relevance = InputMultiObject(File(exists=True), mandatory=True)
    atlases = traits.List(traits.Str, mandatory=True)
    template = traits.Str(mandatory=True)
    metadata = traits.List(
        traits.Dict, mandatory=True, desc="the relevance maps' sidecar content, in order"
    )
    volume_ratio = traits.Str("", usedefault=True, desc="native volume per template voxel")


class _RegionsOutputSpec(TraitedSpec):
    tables = traits.List(File(exists=True))
    atlas = traits.List(traits.Str)
    desc = traits.List(traits.Str)
    meta = traits.List(traits.Dict, desc="per table: which map it sums, explaining which class")


class RegionTables(SimpleInterface):
    """Region tables per atlas and method (`region_tables`)."""

    input_spec = _RegionsInputSpec
    output_spec = _RegionsOutputSpec

    def _run_interface(self, runtime):
        i = self.inputs
        self._results.update(
            region_tables(
                list(i.relevance),
                list(i.atlases),
                i.template,
                runtime.cwd,
                list(i.metadata),
                i.volume_ratio,
            )
        )
        return runtime
