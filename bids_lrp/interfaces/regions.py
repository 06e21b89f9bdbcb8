"""Region tables per atlas and method of one image's relevance maps (`bids_lrp.regions`)."""

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
    isdefined,
    traits,
)

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
    out_dir: str = ".",
    metadata: list[dict] | None = None,
    volume_ratio: str = "",
) -> dict[str, Any]:
    """One region TSV per (atlas, relevance map), atlas-major order; see `bids_lrp.regions`.

    ``metadata`` (one sidecar dict per relevance map) gives each table's ``meta``: the map's
    `TABLE_META_KEYS`. With ``volume_ratio`` (native volume per template voxel,
    `bids_lrp.normalize.volumes`) each table gets the column ``native_volume_mm3``: the
    region's volume on the participant's own scan.
    """
    from bids_lrp.normalize.volumes import native_area_volumes
    from bids_lrp.regions import region_table
    from bids_lrp.templates import get_atlas

    ratio = np.asarray(nib.load(volume_ratio).dataobj, np.float64) if volume_ratio else None

    metadata = metadata if metadata is not None else [{} for _ in relevance]
    if len(metadata) != len(relevance):
        raise ValueError(f"{len(metadata)} sidecars for {len(relevance)} relevance maps")
    out, files, names, descs, metas = Path(out_dir), [], [], [], []
    images = [nib.load(rel_file) for rel_file in relevance]
    maps = [np.asarray(img.dataobj, dtype=np.float64) for img in images]  # read each map once
    for atlas_name in atlases:
        atlas = get_atlas(atlas_name, template)
        for rel_file, img, data, meta in zip(relevance, images, maps, metadata, strict=True):
            if not np.allclose(img.affine, atlas.affine, atol=1e-4):
                raise ValueError(f"{rel_file} is not on the grid of atlas {atlas_name}")
            voxel = float(abs(np.linalg.det(img.affine[:3, :3])))
            table = region_table(data, atlas.labels, atlas.table, voxel)
            if ratio is not None:
                native = native_area_volumes(ratio, atlas.labels, atlas.table, voxel)
                table["native_volume_mm3"] = native  # after the fixed columns (COLUMNS)
            desc = Path(rel_file).name.split("_", 1)[1].split(".", 1)[0]
            path = out / f"regions_{atlas_name}_{desc}.tsv"
            table.to_csv(path, sep="\t", index=False, na_rep="n/a", float_format="%.8g")
            files.append(str(path))
            names.append(atlas_name)
            descs.append(desc)
            metas.append({k: meta[k] for k in TABLE_META_KEYS if k in meta})
    return {"tables": files, "atlas": names, "desc": descs, "meta": metas}


class _RegionsInputSpec(BaseInterfaceInputSpec):
    relevance = InputMultiObject(File(exists=True), mandatory=True)
    atlases = traits.List(traits.Str, mandatory=True)
    template = traits.Str(mandatory=True)
    metadata = traits.List(traits.Dict, desc="the relevance maps' sidecar content, in order")
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
        metadata = list(i.metadata) if isdefined(i.metadata) else None
        self._results.update(
            region_tables(
                list(i.relevance),
                list(i.atlases),
                i.template,
                runtime.cwd,
                metadata,
                i.volume_ratio,
            )
        )
        return runtime
