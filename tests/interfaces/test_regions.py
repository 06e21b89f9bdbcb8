"""Region tables of one image's maps (`bids_lrp.interfaces.regions`)."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from bids_lrp.interfaces.regions import RegionTables, region_tables
from bids_lrp.templates import get_atlas


def test_each_table_names_the_map_and_class_it_sums(tmp_path):
    atlas = get_atlas("Neuromorphometrics")
    files, metadata = [], []
    for desc, target, selection in (("LRPb0", "AD", "given class"), ("GB", "HC", "predicted")):
        data = np.zeros(atlas.labels.shape, np.float32)
        data[atlas.labels == 48] = 1.0  # left hippocampus
        path = tmp_path / f"map{len(files)}.nii.gz"  # the method comes from the sidecar
        nib.save(nib.Nifti1Image(data, atlas.affine), path)
        files.append(str(path))
        metadata.append(
            {
                "Method": desc,
                "MethodLabel": desc,
                "TargetClass": target,
                "TargetSelection": selection,
                "Absorbed": 0,
            }
        )
    out = region_tables(files, ["Neuromorphometrics"], atlas.template, str(tmp_path), metadata)
    assert out["meta"] == [
        {"Method": "LRPb0", "TargetClass": "AD", "TargetSelection": "given class"},
        {"Method": "GB", "TargetClass": "HC", "TargetSelection": "predicted"},
    ]
    table = pd.read_csv(out["tables"][1], sep="\t").set_index("name")
    assert table.loc["Left_Hippocampus", "relevance_sum"] == (atlas.labels == 48).sum()
    assert out["desc"] == ["LRPb0", "GB"]
    assert [Path(t).name for t in out["tables"]] == [
        "regions_Neuromorphometrics_LRPb0.tsv",
        "regions_Neuromorphometrics_GB.tsv",
    ]
    with pytest.raises(ValueError, match="1 sidecars for 2 relevance maps"):
        region_tables(files, ["Neuromorphometrics"], atlas.template, str(tmp_path), metadata[:1])


def test_the_interface_adds_native_volumes(tmp_path):
    atlas = get_atlas("Neuromorphometrics")
    data = np.zeros(atlas.labels.shape, np.float32)
    data[atlas.labels == 48] = 2.0
    nib.save(nib.Nifti1Image(data, atlas.affine), tmp_path / "map.nii.gz")
    ratio = np.full(atlas.labels.shape, 1.5, np.float32)  # every voxel 1.5x larger natively
    nib.save(nib.Nifti1Image(ratio, atlas.affine), tmp_path / "ratio.nii.gz")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = RegionTables(
            relevance=[str(tmp_path / "map.nii.gz")],
            atlases=["Neuromorphometrics"],
            template=atlas.template,
            metadata=[{"MethodLabel": "LRPb0", "Method": "boehle2019"}],
            volume_ratio=str(tmp_path / "ratio.nii.gz"),
        ).run()
    finally:
        os.chdir(cwd)
    [path] = result.outputs.tables
    assert result.outputs.desc == ["LRPb0"] and result.outputs.atlas == ["Neuromorphometrics"]
    table = pd.read_csv(path, sep="\t").set_index("name")
    row = table.loc["Left_Hippocampus"]
    assert row["relevance_sum"] == pytest.approx(2.0 * row["n_voxels"])
    assert row["native_volume_mm3"] == pytest.approx(1.5 * row["volume_mm3"], rel=1e-6)
    assert Path(path).name == "regions_Neuromorphometrics_LRPb0.tsv"
