"""Agreement of several models' maps (pure functions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bids_lrp.stability import agreement_map, area_stability, mean_map


def test_mean_and_agreement_maps():
    inside = np.ones((10, 10), bool)
    inside[0] = False
    maps = np.zeros((3, 10, 10))
    maps[:, 5, 5] = 9.0  # every model's top voxel
    maps[0, 6, 6] = maps[1, 6, 6] = 8.0  # two of three
    maps[2, 0, 0] = 100.0  # outside the brain: never counted
    assert mean_map(maps)[6, 6] == pytest.approx(16 / 3)
    agree = agreement_map(maps, inside, top=0.03)  # the top 3 of 90 brain voxels
    assert agree[5, 5] == 1.0 and agree[6, 6] == pytest.approx(2 / 3)
    assert agree[0, 0] == 0.0
    assert set(np.round(np.unique(agree) * 3).astype(int)) <= {0, 1, 2, 3}
    assert agreement_map(-np.abs(maps), inside).max() == 0  # no positive relevance: no top
    with pytest.raises(ValueError, match="top"):
        agreement_map(maps, inside, top=1.5)


def test_area_stability_flags_findings_that_do_not_replicate():
    rng = np.random.default_rng(0)
    areas = [f"a{i}" for i in range(15)]
    base = np.linspace(15, 1, 15)  # a0 first, a14 last
    sums = pd.DataFrame(np.tile(base, (5, 1)), columns=areas)
    same = area_stability(sums, top=3, n_boot=200)
    assert list(same["name"][:3]) == ["a0", "a1", "a2"]
    assert (same["rank_low"] == same["rank"]).all() and (same["rank_high"] == same["rank"]).all()
    assert same["replicated"][:3].tolist() == [True, True, True]
    assert same["replicated"][3:].isna().all()  # not findings
    # a2 leads in one model only: it stays a finding of the mean (rank 1) but does not replicate
    shaky = sums.copy()
    shaky.loc[0, "a2"] = 100.0
    table = area_stability(shaky + rng.normal(0, 0.01, shaky.shape), top=3, n_boot=500)
    row = table.set_index("name").loc["a2"]
    assert row["rank"] == 1 and row["finding"]
    assert row["top_share"] == 1.0 and row["replicated"]  # still in every model's top 3
    shaky.loc[1:, "a2"] = 0.0  # now in one model's top 3 only
    table = area_stability(shaky, top=3, n_boot=500).set_index("name")
    assert table.loc["a2", "finding"] and table.loc["a2", "top_share"] == pytest.approx(0.2)
    assert not table.loc["a2", "replicated"]
    assert table.loc["a2", "rank_high"] > table.loc["a2", "rank_low"]  # its rank is uncertain
    with pytest.raises(ValueError, match="two models"):
        area_stability(sums.iloc[:1])
