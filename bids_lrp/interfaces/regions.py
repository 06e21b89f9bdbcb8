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
    traits,
)


def region_tables(
    relevance: list[str], atlases: list[str], template: str, out_dir: str = "."
) -> dict[str, Any]:
    """One region TSV per (atlas, relevance map), atlas-major order; see `bids_lrp.regions`."""
    from bids_lrp.regions import region_table
    from bids_lrp.templates import get_atlas

    out, files, names, descs = Path(out_dir), [], [], []
    images = [nib.load(rel_file) for rel_file in relevance]
    maps = [np.asarray(img.dataobj, dtype=np.float64) for img in images]  # read each map once
    for atlas_name in atlases:
        atlas = get_atlas(atlas_name, template)
        for rel_file, img, data in zip(relevance, images, maps, strict=True):
            if not np.allclose(img.affine, atlas.affine, atol=1e-4):
                raise ValueError(f"{rel_file} is not on the grid of atlas {atlas_name}")
            voxel = float(abs(np.linalg.det(img.affine[:3, :3])))
            table = region_table(data, atlas.labels, atlas.table, voxel)
            desc = Path(rel_file).name.split("_", 1)[1].split(".", 1)[0]
            path = out / f"regions_{atlas_name}_{desc}.tsv"
            table.to_csv(path, sep="\t", index=False, na_rep="n/a", float_format="%.8g")
            files.append(str(path))
            names.append(atlas_name)
            descs.append(desc)
    return {"tables": files, "atlas": names, "desc": descs}


class _RegionsInputSpec(BaseInterfaceInputSpec):
    relevance = InputMultiObject(File(exists=True), mandatory=True)
    atlases = traits.List(traits.Str, mandatory=True)
    template = traits.Str(mandatory=True)


class _RegionsOutputSpec(TraitedSpec):
    tables = traits.List(File(exists=True))
    atlas = traits.List(traits.Str)
    desc = traits.List(traits.Str)


class RegionTables(SimpleInterface):
    """Region tables per atlas and method (`region_tables`)."""

    input_spec = _RegionsInputSpec
    output_spec = _RegionsOutputSpec

    def _run_interface(self, runtime):
        i = self.inputs
        self._results.update(
            region_tables(list(i.relevance), list(i.atlases), i.template, runtime.cwd)
        )
        return runtime
