"""Quick screen of candidate demo models: do their explanations point at the planted atrophy?

    .venv/bin/python benchmarks/model_screen.py MODEL.safetensors --work /tmp/loc

A cheap stand-in for ``benchmarks/localization.py`` while choosing how to train the demo model:
it reuses a finished localization run (``--work``: the simulated cohort and the participant
level's template-space scans, i.e. the real registration; with ``--true-pose`` only the cohort is
needed: its scans aligned by their true pose, ``derivatives/simulation``, which gave the same
shares as the participant level's scans for the model shipped before 2026-12) and only re-runs
the network and three methods (``boehle2019`` beta 0 and 1, guided backprop) with the candidate
model. Predictions come from the model on those scans, not from a new pipeline run. Reported:
balanced accuracy, share of AD positive relevance inside the planted areas (and dilated by
3 mm), the planted areas' ranks by gain, the randomization curve (Spearman, top layers first),
and how far from the planted areas the rest lies: the share within 0, 3, 6, 12 and 20 mm of
them, next to the share of the brain that lies there, and the share in the left hemisphere (the
atrophy is planted on both sides alike); and how far weight decay pruned the network (weights
and channels alive per layer); and, for CN scans, how many hidden units that vote for AD are
active (with none, the z+ rule has no path for p(AD) and the map is zero: the gain is
undefined). Screen on one cohort, then measure the chosen model once with
``benchmarks/localization.py`` on a cohort of another seed: choosing on the cohort that
reports would flatter the result.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import localization as loc

SCREENED = ("boehle2019 b0", "boehle2019 b1", "guided-backprop")
#: Distances (mm) from the planted areas at which the share of relevance is reported.
PROFILE_MM = (0, 3, 6, 12, 20)


def alive_weights(net) -> str:
    """Share of each weight layer's weights above 1e-3 of its largest, and its live channels.

    Strong weight decay prunes the network; how far it went (conv layers: weights alive /
    output channels with any weight alive) is what set the heatmaps' spread in the screens.
    """
    import torch

    cells = []
    for layer in net.modules():
        if isinstance(layer, (torch.nn.Conv3d, torch.nn.Linear)):
            w = layer.weight.detach().abs()
            alive = w > 1e-3 * w.max()
            cell = f"{alive.float().mean():.2f}"
            if isinstance(layer, torch.nn.Conv3d):
                cell += f"/{int(alive.flatten(1).any(1).sum())}"
            cells.append(cell)
    return " ".join(cells)


def p_ad_and_ad_units(net, x) -> tuple[float, int]:
    """p(AD), and the hidden units (after the first dense layer's ReLU) active and voting AD.

    The alpha1-beta0 rules pass the AD relevance only through those units; a CN scan without
    any gets a zero map. One forward pass for both.
    """
    import torch

    layers = list(net.classifier)
    last = max(i for i, m in enumerate(layers) if isinstance(m, torch.nn.Linear))
    with torch.no_grad():
        hidden = net.classifier[: last - 1](net.features(x))  # up to the ReLU before the dropout
        logits = net.classifier[last - 1 :](hidden)
    units = int(((hidden[0] > 0) & (layers[last].weight[1] > 0)).sum())
    return float(torch.softmax(logits, 1)[0, 1]), units


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--work", type=Path, required=True, help="a localization.py --work")
    parser.add_argument("--randomization-scans", type=int, default=3)
    parser.add_argument(
        "--true-pose",
        action="store_true",
        help="the cohort's true-pose scans (derivatives/simulation), not the pipeline's",
    )
    args = parser.parse_args()

    from bids_lrp.templates import get_atlas

    loc.METHODS = tuple(m for m in loc.METHODS if m[0] in SCREENED)
    bids, out = args.work / "bids", args.work / "out"
    participants, masks = loc.truth_tables(bids)
    diagnosis = dict(zip(participants["participant_id"], participants["diagnosis"], strict=True))
    atlas = get_atlas("Neuromorphometrics", loc.TPL)
    atrophy = pd.read_csv(bids / "derivatives" / "simulation" / "atrophy.tsv", sep="\t")
    planted_idx = sorted(
        {int(i) for v in atrophy["atlas_indices"].drop_duplicates() for i in str(v).split()}
    )
    planted_names = loc.planted_area_names(atlas, planted_idx)
    net, _ = loc.load_model(args.model)
    print(f"{args.model}: weights alive per layer (share / channels): {alive_weights(net)}")
    rows, vectors, rand = [], {}, {}
    for key, mask_file in sorted(masks.items()):
        sub = key.split("_")[0]
        scans = bids / "derivatives" / "simulation" if args.true_pose else out
        anat = next((scans / sub).rglob(f"{key}_space-{loc.TPL}_desc-preproc_T1w.nii.gz"))
        planted = np.asarray(nib.load(mask_file).dataobj) > 0
        wide = loc.dilate(planted, 3.0)
        distance = ndimage.distance_transform_edt(~planted)  # mm: the template grid is 1 mm
        anat_img = nib.load(anat)
        brain = np.asarray(anat_img.dataobj) > 0
        i = np.arange(brain.shape[0])
        left = (anat_img.affine[0, 0] * i + anat_img.affine[0, 3] < 0)[:, None, None]  # RAS x < 0
        maps, x = loc.explain_all(args.model, anat)
        p_ad, units = p_ad_and_ad_units(net, x)
        vectors[key] = loc.area_vectors(maps, atlas)
        for label, rel in maps.items():
            pos = np.where(rel > 0, rel, 0.0)
            total = pos.sum()
            rows.append(
                {
                    "group": diagnosis[sub],
                    "method": label,
                    "p_ad": p_ad,
                    "ad_units": units,
                    "inside": pos[planted].sum() / total if total > 0 else np.nan,
                    "inside_3mm": pos[wide].sum() / total if total > 0 else np.nan,
                    "positive": total,
                    "left": (pos * left).sum() / total if total > 0 else np.nan,
                    **{
                        f"within_{r}": pos[distance <= r].sum() / total if total > 0 else np.nan
                        for r in PROFILE_MM
                    },
                    **{
                        f"brain_{r}": (brain & (distance <= r)).sum() / brain.sum()
                        for r in PROFILE_MM
                    },
                }
            )
        if diagnosis[sub] == "AD" and len(rand.get(SCREENED[0], [])) < args.randomization_scans:
            for label, values in loc.randomization(args.model, x).items():
                rand.setdefault(label, []).append(values)
    frame = pd.DataFrame(rows)
    first = frame[frame["method"] == SCREENED[0]]
    truth, predicted = first["group"] == "AD", first["p_ad"] >= 0.5
    sensitivity = (truth & predicted).sum() / truth.sum()
    specificity = (~truth & ~predicted).sum() / (~truth).sum()
    print(
        f"{args.model}: balanced accuracy {(sensitivity + specificity) / 2:.3f}; "
        f"median p(AD) of CN "
        f"scans {first.loc[~truth, 'p_ad'].median():.3g}, of AD scans "
        f"{first.loc[truth, 'p_ad'].median():.3g}"
    )
    cn_units = first.loc[~truth, "ad_units"]
    print(
        f"  hidden units voting AD that are active: median {cn_units.median():.0f} in CN scans "
        f"({(cn_units > 0).sum()} of {len(cn_units)} CN scans with any), median "
        f"{first.loc[truth, 'ad_units'].median():.0f} in AD scans"
    )
    for label in SCREENED:
        sub = frame[frame["method"] == label]
        ad, cn = sub[sub["group"] == "AD"], sub[sub["group"] != "AD"]
        order, by = loc.rank_by_gain(vectors, diagnosis, label)
        ranks = {n: order.index(n) + 1 for n in planted_names if n in order}
        curve = np.nanmean(np.array(rand.get(label, [[np.nan]])), axis=0)
        print(
            f"  {label}: planted {ad['inside'].mean():.1%}, +3 mm {ad['inside_3mm'].mean():.1%}; "
            f"ranks by {by} {ranks}, top 3 {order[:3]}; randomization {np.round(curve, 2)}; "
            f"CN/AD positive relevance {cn['positive'].mean() / ad['positive'].mean():.2f}"
        )
        profile = ", ".join(
            f"{r} mm {ad[f'within_{r}'].mean():.0%} ({ad[f'brain_{r}'].mean():.0%})"
            for r in PROFILE_MM
        )
        print(
            f"    within: {profile} (share of the brain in brackets); "
            f"left hemisphere {ad['left'].mean():.0%}"
        )


if __name__ == "__main__":
    main()
