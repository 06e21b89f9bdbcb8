"""The authors' group formulas, re-implemented from their notebooks, against the package.

Böhle et al. (2019), github.com/moboehle/Pytorch-LRP: "Evaluate GB and LRP" (areas as label
ranges of nmm_mask_areas.py, per-case lists of area sums), "Plotting result graphs" (comp_mean,
the sorted_lbls rankings, violins, fingerprints), "Compare intersection of top 10 regions" and
"Beta Correlation". Written here in their style (dicts of lists, Python sorts), independent of
the package code, and compared on the same region sums.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bids_lrp.group.areas import group_areas
from bids_lrp.group.fingerprints import cosine_similarity, most_dissimilar_pair
from bids_lrp.group.paper import (
    overlap_matrix,
    per_image_density,
    per_image_gain,
    ranking_values,
    top_areas,
    volume_correlation,
)
from bids_lrp.group.tables import group_masks, group_stats, outcomes
from bids_lrp.templates import get_atlas

#: nmm_mask_areas.all_areas: area -> (lowest, highest) Neuromorphometrics label, inclusive.
ALL_AREAS = {
    "Accumbens": (23, 30), "Amygdala": (31, 32), "Brain Stem": (35, 35), "Caudate": (36, 37),
    "Cerebellum": (38, 41), "Hippocampus": (47, 48), "Parahippocampal gyrus": (170, 171),
    "Pallidum": (55, 56), "Putamen": (57, 58), "Thalamus": (59, 60), "CWM": (44, 45),
    "ACG": (100, 101), "Ant. Insula": (102, 103), "Post. Insula": (172, 173), "AOG": (104, 105),
    "AG": (106, 107), "Cuneus": (114, 115), "Central operculum": (112, 113),
    "Frontal operculum": (118, 119), "Frontal pole": (120, 121), "Fusiform gyrus": (122, 123),
    "Temporal pole": (202, 203), "TrIFG": (204, 205), "TTG": (206, 207),
    "Entorh. cortex": (116, 117), "Parietal operculum": (174, 175), "SPL": (198, 199),
    "CSF": (46, 46), "3rd Ventricle": (4, 4), "4th Ventricle": (11, 11),
    "Lateral Ventricles": (49, 52), "Diencephalon": (61, 62), "Vessels": (63, 64),
    "Optic Chiasm": (69, 69), "Vermal Lobules": (71, 73), "Basal Forebrain": (75, 76),
    "Calc": (108, 109), "GRe": (124, 125), "IOG": (128, 129), "ITG": (132, 133),
    "LiG": (134, 135), "LOrG": (136, 137), "MCgG": (138, 139), "MFC": (140, 141),
    "MFG": (142, 143), "MOG": (144, 145), "MOrG": (146, 147), "MPoG": (148, 149),
    "MPrG": (150, 151), "MSFG": (152, 153), "MTG": (154, 155), "OCP": (156, 157),
    "OFuG": (160, 161), "OpIFG": (162, 163), "OrIFG": (164, 165), "PCgG": (166, 167),
    "PCu": (168, 169), "PoG": (176, 177), "POrG": (178, 179), "PP": (180, 181),
    "PrG": (182, 183), "PT": (184, 185), "SCA": (186, 187), "SFG": (190, 191),
    "SMC": (192, 193), "SMG": (194, 195), "SOG": (196, 197), "STG": (200, 201),
}  # fmt: skip


@pytest.fixture(scope="module")
def cohort():
    """Label sums of 40 images of the real Neuromorphometrics table, with groups and scores."""
    table = get_atlas("Neuromorphometrics", "MNI152NLin2009cAsym").table
    rng = np.random.default_rng(7)
    n = 40
    label_sums = pd.DataFrame(
        rng.gamma(2.0, 1.0, size=(n, len(table))) * rng.uniform(0.5, 2, len(table)),
        columns=list(table["name"]),
    )
    voxels = pd.Series(rng.integers(50, 5000, len(table)), index=list(table["name"]))
    labels = ["AD" if i % 2 else "HC" for i in range(n)]
    score = np.clip(rng.uniform(0, 1, n) + np.where(np.array(labels) == "AD", 0.3, -0.2), 0, 1)
    predicted = ["AD" if s > 0.5 else "HC" for s in score]
    return table, label_sums, voxels, labels, score, predicted


def _authors_areas(table, label_sums, voxels):
    """Evaluate GB and LRP: an area is every label in [min_idx, max_idx]."""
    index = table["index"].to_numpy()
    sums, sizes = {}, {}
    for name, (low, high) in ALL_AREAS.items():
        members = [n for n, i in zip(table["name"], index, strict=True) if low <= i <= high]
        sums[name] = label_sums[members].sum(axis=1).to_numpy()
        sizes[name] = float(voxels[members].sum())
    return sums, sizes


def test_68_areas_are_the_authors(cohort):
    table, label_sums, voxels, *_ = cohort
    sums, sizes = _authors_areas(table, label_sums, voxels)
    ours, our_voxels = group_areas(label_sums, voxels, "boehle2019")
    assert len(ours.columns) == len(ALL_AREAS) == 68
    # same areas (names differ: ours keep the atlas's); matched by their voxel counts and sums
    theirs = np.array(sorted(sizes.values()))
    np.testing.assert_array_equal(np.sort(our_voxels.to_numpy(dtype=float)), theirs)
    np.testing.assert_allclose(ours["Hippocampus"], sums["Hippocampus"])
    np.testing.assert_allclose(ours["Cerebellum"], sums["Cerebellum"])
    np.testing.assert_allclose(ours["Lateral_Ventricles"], sums["Lateral Ventricles"])
    np.testing.assert_allclose(ours["Cerebellar_Vermal_Lobules"], sums["Vermal Lobules"])


def _cases(labels, score):
    """The authors' per-case index lists: true case (AD/HC) and outcome at AD_score.round()."""
    cases = {c: [] for c in ("AD", "HC", "TP", "TN", "FP", "FN")}
    for i, (label, s) in enumerate(zip(labels, score, strict=True)):
        ad = bool(np.round(s))
        case = {(True, True): "TP", (True, False): "FP", (False, True): "FN"}.get(
            (ad, label == "AD"), "TN"
        )
        cases[case].append(i)
        cases[label].append(i)
    return cases


def test_group_numbers_are_the_authors(cohort):
    table, label_sums, voxels, labels, score, predicted = cohort
    sums, sizes = _authors_areas(table, label_sums, voxels)
    cases = _cases(labels, score)
    names = list(ALL_AREAS)

    def comp_mean(case, area_norm=False):
        return {a: np.mean([sums[a][i] for i in cases[case]]) / (sizes[a] if area_norm else 1)
                for a in names}  # fmt: skip

    mean_ad, mean_hc, mean_tp, mean_tn = (comp_mean(c) for c in ("AD", "HC", "TP", "TN"))
    sorted_lbls = {
        "sum": [k for k, v in sorted(mean_ad.items(), key=lambda x: float(x[1]))],
        "density": [k for k, v in sorted(((k, v / sizes[k]) for k, v in mean_ad.items()),
                                         key=lambda x: float(x[1]))],
        "gain_TP_HC": [k for k, v in sorted(((k, v / mean_hc[k]) for k, v in mean_tp.items()),
                                            key=lambda x: float(x[1]))],
    }  # fmt: skip

    ours, our_voxels = group_areas(label_sums, voxels, "boehle2019")
    # our names for the authors' areas: same order of areas in both groupings
    order = {a: c for a, c in zip(names, _match(ours, our_voxels, sums, sizes), strict=True)}
    masks = group_masks(labels, outcomes(labels, predicted))
    stats = group_stats(ours, our_voxels, masks).set_index("name")
    for area in names:
        ours_name = order[area]
        assert stats.loc[ours_name, "mean_AD"] == pytest.approx(mean_ad[area], rel=1e-12)
        assert stats.loc[ours_name, "density_AD"] == pytest.approx(
            mean_ad[area] / sizes[area], rel=1e-12
        )
        assert stats.loc[ours_name, "gain_AD_HC"] == pytest.approx(
            mean_ad[area] / mean_hc[area], rel=1e-12
        )
        assert stats.loc[ours_name, "gain_TP_HC"] == pytest.approx(
            mean_tp[area] / mean_hc[area], rel=1e-12
        )
        assert stats.loc[ours_name, "gain_TN_HC"] == pytest.approx(
            mean_tn[area] / mean_hc[area], rel=1e-12
        )
    values = ours.to_numpy()
    columns = list(ours.columns)
    for ranking, authors in sorted_lbls.items():
        top = top_areas(ranking_values(values, our_voxels.to_numpy(), masks, ranking), 25)
        assert [columns[i] for i in top] == [order[a] for a in authors[-25:][::-1]], ranking

    # violins: per-image density (AD, HC) over the top-25 density areas; gains (TP, TN)
    density_top = authors_top = sorted_lbls["density"][-25:]
    ours_top = np.array([columns.index(order[a]) for a in density_top])
    theirs = np.array([[sums[a][i] / sizes[a] for a in density_top] for i in cases["AD"]])
    np.testing.assert_allclose(
        per_image_density(values, our_voxels.to_numpy(), ours_top)[cases["AD"]], theirs
    )
    gain_top = sorted_lbls["gain_TP_HC"][-25:]
    gain_cols = np.array([columns.index(order[a]) for a in gain_top])
    theirs = np.array([[sums[a][i] / mean_hc[a] for a in gain_top] for i in cases["TN"]])
    ours_gain = per_image_gain(values, masks["HC"], gain_cols)[cases["TN"]]
    np.testing.assert_allclose(ours_gain, theirs)

    # fingerprints: TP with score > .9, cosine of raw sums over the top-25 density areas
    idcs = [i for i in cases["TP"] if score[i] > 0.9]
    vectors = {n: np.array([sums[a][i] for a in authors_top]) for n, i in enumerate(idcs)}
    m = np.zeros((len(idcs), len(idcs)))
    mini, pair = np.inf, None
    for i in range(len(m)):
        for j in range(len(m)):
            first, second = vectors[i], vectors[j]
            m[i, j] = np.dot(first / np.linalg.norm(first), second / np.linalg.norm(second))
            if mini > m[i, j]:
                mini, pair = m[i, j], (i, j)
    similarity = cosine_similarity(values[np.ix_(idcs, ours_top)])
    np.testing.assert_allclose(similarity, m, atol=1e-12)
    found = most_dissimilar_pair(similarity, np.ones(len(idcs), dtype=bool))
    assert found.similarity == pytest.approx(mini) and {found.first, found.second} == set(pair)


def _match(ours, our_voxels, sums, sizes):
    """Our column of each of the authors' areas (equal voxels and sums)."""
    out = []
    for area in ALL_AREAS:
        hits = [
            c
            for c in ours.columns
            if our_voxels[c] == sizes[area] and np.allclose(ours[c].to_numpy(), sums[area])
        ]
        assert len(hits) == 1, area
        out.append(hits[0])
    return out


def test_top10_overlap_is_the_authors():
    rng = np.random.default_rng(3)
    areas = [f"a{i}" for i in range(30)]
    sortings = [list(rng.permutation(areas)) for _ in range(5)]
    top = 10
    matrix = np.zeros((5, 5))
    for i, first in enumerate(sortings):
        for j, second in enumerate(sortings):
            matrix[i, j] = len(set(first[-top:]).intersection(second[-top:])) / top * 100
    np.testing.assert_allclose(overlap_matrix([s[-top:] for s in sortings], top), matrix)


def test_volume_correlation_is_their_r_with_an_honest_p():
    rng = np.random.default_rng(11)
    volume = rng.normal(6000, 800, 60)
    relevance = -2.0 * (volume - 6000) / 800 + rng.normal(0, 1, 60)
    volume[[3, 17]] = np.nan  # their mask = ~np.isnan(AD_Hvals)
    keep = ~np.isnan(volume)
    r = np.corrcoef(volume[keep], relevance[keep])[1, 0]
    found = volume_correlation(volume, relevance, permutations=1000, seed=1)
    assert found.n == 58 and found.r == pytest.approx(r, rel=1e-12)
    # each method against its own null: shuffled volumes, two-sided, (1 + k) / (1 + 1000)
    generator = np.random.default_rng(1)
    null = [
        np.corrcoef(generator.permutation(volume[keep]), relevance[keep])[1, 0]
        for _ in range(1000)
    ]
    k = sum(abs(x) >= abs(r) - 1e-12 for x in null)
    assert found.p == pytest.approx((1 + k) / 1001)
    assert 1 / 1001 <= found.p < 0.01  # a real correlation: no permutation beats it
    unrelated = volume_correlation(volume, rng.normal(size=60), permutations=1000)
    assert unrelated.p > 0.01


@pytest.mark.parametrize("n", [0, 1, 2])
def test_correlation_needs_three_images(n):
    found = volume_correlation(np.arange(n, dtype=float), np.arange(n, dtype=float), 100)
    assert np.isnan(found.r) and np.isnan(found.p) and "needs 3" in found.reason
