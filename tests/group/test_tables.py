"""Group tables: area sums merged by hemisphere, means, densities, gains and ranks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bids_lrp.group.tables import (
    group_masks,
    group_stats,
    images_with_relevance,
    merge_area_columns,
    outcomes,
    rank_descending,
    relevance_gain,
)
from bids_lrp.regions import merge_hemispheres, region_table
from tests.group.conftest import LABEL_TABLE, SHAPE, atlas_labels


def _tables(n: int, seed: int = 0) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    return [
        region_table(rng.normal(size=SHAPE), atlas_labels(), LABEL_TABLE, 1.0) for _ in range(n)
    ]


def test_merge_area_columns_matches_merge_hemispheres():
    tables = _tables(4)
    sums = pd.DataFrame([t["relevance_sum"].to_numpy() for t in tables], columns=tables[0]["name"])
    n_voxels = pd.Series(tables[0]["n_voxels"].to_numpy(), index=tables[0]["name"])
    merged, merged_voxels = merge_area_columns(sums, n_voxels)
    assert list(merged.columns) == ["Hippocampus", "Amygdala", "Brain_Stem"]
    for row, table in zip(merged.to_numpy(), tables, strict=True):
        reference = merge_hemispheres(table)
        np.testing.assert_allclose(row, reference["relevance_sum"].to_numpy(), rtol=1e-12)
        np.testing.assert_array_equal(merged_voxels.to_numpy(), reference["n_voxels"])


def test_merge_keeps_nan_within_its_area():
    sums = pd.DataFrame([[1.0, np.nan, 2.0]], columns=["Left_A", "Right_A", "B"], index=["x"])
    merged, _ = merge_area_columns(sums, pd.Series([1, 1, 1], index=sums.columns))
    assert np.isnan(merged.loc["x", "A"]) and merged.loc["x", "B"] == 2.0


def test_outcomes_positive_is_ad():
    labels = ["AD", "AD", "HC", "HC", None, "AD"]
    predicted = ["AD", "HC", "HC", "AD", "AD", None]
    assert outcomes(labels, predicted) == ["TP", "FN", "TN", "FP", None, None]


def test_group_masks_leave_out_empty_groups():
    masks = group_masks(["AD", "HC", None], ["TP", "TN", None])
    assert list(masks) == ["all", "AD", "HC", "TP", "TN"]
    assert masks["all"].all() and masks["AD"].tolist() == [True, False, False]
    assert list(group_masks([None, None], [None, None])) == ["all"]


def test_rank_descending_ties_and_nan():
    ranks = rank_descending(pd.Series([3.0, 5.0, 3.0, np.nan, 1.0]))
    assert ranks.tolist() == [2, 1, 2, pd.NA, 4]


def test_relevance_gain_zero_denominator():
    gain = relevance_gain(pd.Series([2.0, 1.0, 0.0]), pd.Series([1.0, 0.0, 0.0]))
    assert gain[0] == 2.0 and np.isnan(gain[1]) and np.isnan(gain[2])


def test_group_stats_by_hand():
    sums = pd.DataFrame({"A": [1.0, 3.0, 10.0, 20.0], "B": [4.0, 4.0, 2.0, 2.0]})
    n_voxels = pd.Series({"A": 10, "B": 2})
    labels = ["AD", "AD", "HC", "HC"]
    masks = group_masks(labels, outcomes(labels, ["AD", "HC", "HC", "HC"]))
    stats = group_stats(sums, n_voxels, masks)
    assert stats["name"].tolist() == ["A", "B"]
    assert stats["n_voxels"].tolist() == [10, 2]
    np.testing.assert_allclose(stats["mean_AD"], [2.0, 4.0])
    np.testing.assert_allclose(stats["mean_HC"], [15.0, 2.0])
    np.testing.assert_allclose(stats["density_AD"], [0.2, 2.0])
    assert stats["rank_density_AD"].tolist() == [2, 1]
    np.testing.assert_allclose(stats["gain_AD_HC"], [2.0 / 15.0, 2.0])
    assert stats["rank_gain_AD_HC"].tolist() == [2, 1]
    # TP = image 0, TN = images 2 and 3; FN = image 1; no FP. TP and TN over all controls.
    np.testing.assert_allclose(stats["gain_TP_HC"], [1.0 / 15.0, 2.0])
    np.testing.assert_allclose(stats["gain_TN_HC"], [1.0, 1.0])
    assert "gain_TP_TN" not in stats
    assert "mean_FP" not in stats and "mean_FN" in stats
    np.testing.assert_allclose(stats["mean_all"], sums.mean().to_numpy())


def test_group_stats_without_labels_has_only_all():
    sums = pd.DataFrame({"A": [1.0, 3.0], "B": [0.0, 0.0]})
    masks = group_masks([None, None], [None, None])
    stats = group_stats(sums, pd.Series({"A": 4, "B": 0}), masks)
    assert [c for c in stats.columns if "_" in c and c != "n_voxels"] == [
        "mean_all",
        "density_all",
        "rank_density_all",
    ]
    assert np.isnan(stats.loc[1, "density_all"])
    assert stats["rank_density_all"].tolist() == [1, pd.NA]


def test_merge_requires_aligned_voxels():
    sums = pd.DataFrame({"A": [1.0]})
    with pytest.raises(ValueError, match="indexed like"):
        merge_area_columns(sums, pd.Series({"B": 1}))


def test_images_with_relevance_counts_maps_that_are_not_empty():
    sums = pd.DataFrame(
        {
            "A": [1.0, -2.0, 0.0, 1e-9, 0.3, np.nan],
            "B": [0.5, 1.0, 0.0, 0.0, np.nan, np.nan],
        }
    )
    labels = ["AD", "AD", "HC", "HC", "HC", "HC"]
    masks = group_masks(labels, [None] * 6)
    # 0 and 1e-9 (below 1e-6 of the largest total, 3.0) are empty; NaN sums count as 0.
    assert images_with_relevance(sums, masks) == {"all": 3, "AD": 2, "HC": 1}
    assert images_with_relevance(sums * 0, masks) == {"all": 0, "AD": 0, "HC": 0}
    assert images_with_relevance(sums.iloc[:0], {"all": np.zeros(0, bool)}) == {"all": 0}


def test_a_gain_over_a_near_zero_denominator_is_flagged():
    """Tiny but steady control sums (guided backprop in an area it ignores) are near 0 too."""
    from bids_lrp.group.tables import unstable_denominator

    mean = pd.Series([5e-5, 0.6, 0.5, 0.4, 2e-3])
    error = pd.Series([1e-6, 0.05, 0.6, 0.02, 1e-4])
    voxels = np.array([4596, 9484, 8000, 7000, 10])
    flags = unstable_denominator(mean, error, voxels).tolist()
    # 1: density far below the typical area's; 3: below its standard error; 5: small area
    assert flags == [1, 0, 1, 0, 0]
    unknown = unstable_denominator(mean, pd.Series([np.nan] * 5), voxels).tolist()
    assert unknown[0] == 1 and pd.isna(unknown[1])


def test_faithfulness_table_per_method(tmp_path):
    from bids_lrp.group.faithfulness import faithfulness_table, write_faithfulness
    from bids_lrp.layout import find_images

    def curves(anat, prefix, morf, rnd, lerf):
        rows = ["method\torder\tstep\tindex\tname\tscore"]
        for order, drop in (("morf", morf), ("random", rnd), ("lerf", lerf)):
            rows += [f"LRPb0\t{order}\t0\tn/a\tn/a\t0.9", f"LRPb0\t{order}\t1\t4\tA\t{0.9 - drop}"]
        anat.mkdir(parents=True, exist_ok=True)
        path = anat / f"{prefix}_space-X_atlas-Neuromorphometrics_faithfulness.tsv"
        path.write_text("\n".join(rows) + "\n")

    out = tmp_path / "out"
    curves(out / "sub-01" / "anat", "sub-01", 0.8, 0.2, 0.0)  # faithful
    curves(out / "sub-02" / "anat", "sub-02", 0.2, 0.4, 0.0)  # worse than random
    images = find_images(out)
    table, atlas = faithfulness_table(images, "X")
    assert atlas == "Neuromorphometrics"
    [row] = table.to_dict("records")
    assert row["method"] == "LRPb0" and row["n_images"] == 2
    assert row["aopc_morf_mean"] == pytest.approx((0.4 + 0.1) / 2)  # AOPC = drop / 2 steps
    assert row["aopc_random_mean"] == pytest.approx((0.1 + 0.2) / 2)
    assert row["faithful_share"] == 0.5
    [path] = write_faithfulness(tmp_path, images, "X")
    assert path.name == "atlas-Neuromorphometrics_faithfulness.tsv"
    assert write_faithfulness(tmp_path, images, "another space") == []


def test_randomization_table_per_method_and_step(tmp_path):
    import json

    from bids_lrp.group.randomization import randomization_table, write_randomization
    from bids_lrp.layout import find_images

    anat = tmp_path / "out" / "sub-01" / "anat"
    anat.mkdir(parents=True)
    checks = {  # per image: (dense rho, cascade rhos) of LRPb0; Gradient unchecked in sub-02
        "sub-01": (0.9, [0.95, 0.3]),
        "sub-02": (0.3, [0.5, 0.1]),
    }
    for sub, (dense, cascade) in checks.items():
        anat = tmp_path / "out" / sub / "anat"
        anat.mkdir(parents=True, exist_ok=True)
        for label in ("LRPb0", "Gradient"):
            stem = anat / f"{sub}_space-X_desc-{label}_relevance"
            Path(f"{stem}.nii.gz").write_bytes(b"")
            sidecar = {"MethodLabel": label}
            if label == "LRPb0" or sub == "sub-01":
                sidecar["Randomization"] = {
                    "Spearman": dense,
                    "Cascade": [
                        {"RandomizedDownTo": name, "Spearman": rho}
                        for name, rho in zip(("fc", "conv"), cascade, strict=True)
                    ],
                }
            Path(f"{stem}.json").write_text(json.dumps(sidecar))
    images = find_images(tmp_path / "out")
    table = randomization_table(images, "X")
    lrp = table[table["method"] == "LRPb0"].set_index("step")
    assert list(lrp["randomized"]) == ["dense layers", "fc", "conv"]
    assert lrp.loc[0, "spearman_mean"] == pytest.approx(0.6)
    assert lrp.loc[0, "passed_share"] == 0.5  # 0.3 < 0.5, 0.9 is not
    assert lrp.loc[2, "spearman_mean"] == pytest.approx(0.2)
    assert table[table["method"] == "Gradient"]["n_images"].tolist() == [1, 1, 1]
    [path] = write_randomization(tmp_path, images, "X")
    assert path.name == "space-X_randomization.tsv" and path.with_suffix(".json").is_file()
    assert write_randomization(tmp_path, images, "another space") == []
