"""Atlas-wise relevance metrics against hand-computed values."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from bids_lrp.regions import COLUMNS, merge_hemispheres, region_table

TABLE = pd.DataFrame(
    {
        "index": [1, 2, 3, 9],
        "name": ["Left_Hippocampus", "Right_Hippocampus", "Brain_Stem", "Left_Empty"],
    }
)


def example() -> tuple[np.ndarray, np.ndarray]:
    labels = np.zeros((2, 2, 3), np.uint8)
    relevance = np.zeros((2, 2, 3))
    # label 1: values 1, -2, 3 ; label 2: 4 ; label 3: -1, -1 ; background: 5 ; label 7 (not in
    # the table): 10.
    labels[0, 0, :] = 1
    relevance[0, 0, :] = [1, -2, 3]
    labels[0, 1, 0] = 2
    relevance[0, 1, 0] = 4
    labels[1, 0, :2] = 3
    relevance[1, 0, :2] = -1
    relevance[1, 1, 0] = 5
    labels[1, 1, 1] = 7
    relevance[1, 1, 1] = 10
    return relevance, labels


def test_hand_computed_example():
    relevance, labels = example()
    table = region_table(relevance, labels, TABLE, voxel_volume_mm3=2.0)
    assert tuple(table.columns) == COLUMNS
    total = 1 - 2 + 3 + 4 - 2 + 5 + 10  # = 19, the whole image
    expected = pd.DataFrame(
        {
            "index": [1, 2, 3, 9],
            "name": TABLE["name"],
            "n_voxels": [3, 1, 2, 0],
            "volume_mm3": [6.0, 2.0, 4.0, 0.0],
            "relevance_sum": [2.0, 4.0, -2.0, 0.0],
            "relevance_density": [2 / 3, 4.0, -1.0, np.nan],
            "relevance_positive": [4.0, 4.0, 0.0, 0.0],
            "relevance_negative": [-2.0, 0.0, -2.0, 0.0],
            "relevance_fraction": [2 / total, 4 / total, -2 / total, 0.0],
        }
    )
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)


def test_merge_hemispheres():
    relevance, labels = example()
    merged = merge_hemispheres(region_table(relevance, labels, TABLE, voxel_volume_mm3=2.0))
    assert list(merged["name"]) == ["Hippocampus", "Brain_Stem", "Empty"]
    assert list(merged["indices"]) == ["1+2", "3", "9"]
    hippocampus = merged.iloc[0]
    assert hippocampus["n_voxels"] == 4
    assert hippocampus["volume_mm3"] == 8.0
    assert hippocampus["relevance_sum"] == 6.0
    assert hippocampus["relevance_density"] == pytest.approx(6 / 4)  # recomputed, not averaged
    assert hippocampus["relevance_positive"] == 8.0
    assert hippocampus["relevance_negative"] == -2.0
    assert hippocampus["relevance_fraction"] == pytest.approx(6 / 19)
    assert np.isnan(merged.iloc[2]["relevance_density"])


def test_zero_total_gives_nan_fraction():
    _, labels = example()
    table = region_table(np.zeros(labels.shape), labels, TABLE, voxel_volume_mm3=1.0)
    assert table["relevance_fraction"].isna().all()


@pytest.mark.parametrize(
    ("relevance", "labels", "message"),
    [
        (np.zeros((2, 2, 2)), np.zeros((2, 2, 3), int), "same grid"),
        (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), "integer"),
        (np.full((2, 2, 2), np.nan), np.zeros((2, 2, 2), int), "NaN"),
        (np.zeros((2, 2, 2)), -np.ones((2, 2, 2), int), "non-negative"),
    ],
)
def test_invalid_inputs(relevance, labels, message):
    with pytest.raises(ValueError, match=message):
        region_table(relevance, labels, TABLE, voxel_volume_mm3=1.0)


def test_real_atlas_full_size_is_fast_and_consistent():
    from bids_lrp.templates import get_atlas

    atlas = get_atlas("Neuromorphometrics")
    rng = np.random.default_rng(0)
    relevance = rng.standard_normal(atlas.labels.shape).astype(np.float32)
    region_table(relevance, atlas.labels, atlas.table, 1.0)  # warm-up
    times = []
    for _ in range(3):
        start = time.perf_counter()
        table = region_table(relevance, atlas.labels, atlas.table, 1.0)
        times.append(time.perf_counter() - start)
    assert np.median(times) < 0.5, times
    assert len(table) == len(atlas.table)
    inside = atlas.labels > 0
    assert table["n_voxels"].sum() == np.isin(atlas.labels, atlas.table["index"]).sum()
    assert table["relevance_sum"].sum() == pytest.approx(
        relevance[inside].sum(dtype=np.float64), rel=1e-9, abs=1e-6
    )
    hippocampus = atlas.labels == 48
    row = table.set_index("name").loc["Left_Hippocampus"]
    assert row["n_voxels"] == hippocampus.sum()
    assert row["relevance_sum"] == pytest.approx(relevance[hippocampus].sum(dtype=np.float64))
    merged = merge_hemispheres(table)
    assert len(merged) == 72  # 64 bilateral areas + 8 midline labels
    assert merged["relevance_sum"].sum() == pytest.approx(table["relevance_sum"].sum())
