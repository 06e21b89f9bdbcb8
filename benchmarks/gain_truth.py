"""Does the ranking by relevance gain follow where the planted atrophy changes the image?

    .venv/bin/python benchmarks/gain_truth.py --work /tmp/loc7006 [--true-pose] [--model M]

``--work`` is a finished ``localization.py`` run (its cohort and the participant level's
template-space scans; with ``--true-pose`` only the cohort is needed: its scans aligned by their
true pose). The shipped model by default.

Two rankings of the Neuromorphometrics areas (hemispheres merged), side by side:

- by relevance gain (mean AD area sum / mean CN area sum), as ``localization.py`` ranks them,
  with each area's share of the mean AD and of the mean CN relevance: the gain of an area is
  p(AD)-weighted relevance of the patients over that of the controls, so between areas it moves
  with the ratio of those two shares;
- by the density of the true change: ``|AD - twin|`` per voxel, each AD scan against the same
  person without the planted atrophy (``evidence.twins``; ``--n-twins`` AD scans of a cohort
  planned with ``--seed``), on the 1 mm grid and smoothed to the network's resolution
  (Gaussian, sigma ``--smooth-mm``). Set against control maps of even density, this is the
  ranking by gain an explanation true to the image change would give.

For ``boehle2019`` beta 0 (the authors' rule, also on the first layer) and, to see whether the
first layer's z+ rule (relevance in proportion to the voxel's value, none to voxels of value 0)
moves the ranking, the same rule with the box rule z^B on the first layer (bounds 0 and 1, the
network's input range). Also: how many control maps are non-zero (the gain's denominator rests
on them) and the Spearman correlation of gain and change density over the areas with a gain.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import evidence
import localization as loc

PLANTED = ("Hippocampus", "Amygdala", "Ent_entorhinal_area", "PHG_parahippocampal_gyrus")
SHOWN = 10


def register_zbox_first() -> tuple[str, str, dict]:
    """``boehle2019`` beta 0 with z^B (bounds 0, 1) on the first layer, as a method row."""
    from bids_lrp.lrp.methods import Method, register_method
    from bids_lrp.lrp.plan import Policy
    from bids_lrp.lrp.rules import Boehle2019Beta, ZBox

    def policy(beta, start, low, high):
        def rule_for(position, n_linear, module):
            if position == 0:
                return ZBox(low=low, high=high)
            return Boehle2019Beta(beta=float(beta))

        return Policy(rule_for, batchnorm="pass", relu="pass")

    name = "boehle2019-zbox-first"
    register_method(
        Method(
            name,
            "boehle2019 with z^B on the first layer (benchmark only)",
            {"beta": 0.0, "start": "probability", "low": 0.0, "high": 1.0},
            policy,
        )
    )
    return ("b0, z^B first layer", name, {"beta": 0.0}, "AD")


def change_density(n_twins: int, seed: int, severity: float, smooth_mm: float, atlas):
    """Mean ``|AD - twin|`` per voxel and area: at 1 mm and smoothed (both pd.Series)."""
    sums, smoothed, voxels = [], [], None
    for _, ad, twin, _, _ in evidence.twins(n_twins, seed, severity):
        diff = np.asarray(ad, dtype=np.float64) - np.asarray(twin, dtype=np.float64)
        for target, image in ((sums, diff), (smoothed, ndimage.gaussian_filter(diff, smooth_mm))):
            table = evidence.signal_by_area(image, atlas)
            target.append(table["relevance_sum"])
            voxels = table["n_voxels"].where(table["n_voxels"] > 0)
    return (
        pd.concat(sums, axis=1).mean(axis=1) / voxels,
        pd.concat(smoothed, axis=1).mean(axis=1) / voxels,
    )


def gain_frame(vectors: dict, diagnosis: dict, label: str) -> tuple[pd.DataFrame, int, int]:
    """Gain (as ``localization.py``) and the two groups' relevance shares per area; how many
    control maps hold any relevance (`bids_lrp.group.tables.images_with_relevance`), of how many.
    """
    from bids_lrp.group.tables import images_with_relevance

    ad, cn = loc.group_means(vectors, diagnosis, label)
    controls = [v[label] for k, v in vectors.items() if diagnosis[k.split("_")[0]] != "AD"]
    live = images_with_relevance(pd.DataFrame(controls), {"CN": np.ones(len(controls), bool)})
    frame = pd.DataFrame(
        {"gain": loc.gain_by_area(ad, cn), "ad": ad / ad.sum(), "cn": cn / cn.sum()}
    )
    return frame.dropna(subset=["gain"]), live["CN"], len(controls)


def report(label: str, frame: pd.DataFrame, live: int, n_cn: int) -> None:
    frame = frame.sort_values("gain", ascending=False)
    frame["rank"] = np.arange(1, len(frame) + 1)
    for column in ("change", "change_smooth"):
        frame[f"{column}_rank"] = frame[column].rank(ascending=False, method="min")
    print(
        f"\n{label}: gain defined for {len(frame)} areas; "
        f"{live} of {n_cn} control maps hold any relevance"
    )
    print(
        "\n| area | gain rank | gain | share of AD relevance | share of CN relevance | "
        "true change: density rank, 1 mm | smoothed |\n|---|---|---|---|---|---|---|"
    )
    shown = list(frame.index[:SHOWN]) + [n for n in frame.index[SHOWN:] if n in PLANTED]
    for name in shown:
        row = frame.loc[name]
        mark = " (planted)" if name in PLANTED else ""
        print(
            f"| {name}{mark} | {int(row['rank'])} | {row['gain']:.1f} | {row['ad']:.1%} | "
            f"{row['cn']:.1%} | {int(row['change_rank'])} | {int(row['change_smooth_rank'])} |"
        )
    for column in ("change", "change_smooth"):
        rho = spearmanr(frame["gain"], frame[column]).statistic
        print(f"Spearman(gain, {column.replace('_', ' ')} density) over these areas: {rho:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="a localization.py --work")
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--true-pose", action="store_true")
    parser.add_argument("--n-twins", type=int, default=10, help="AD scans for the true change")
    parser.add_argument("--seed", type=int, default=7006, help="cohort seed for the twins")
    parser.add_argument("--severity", type=float, default=0.3)
    parser.add_argument("--smooth-mm", type=float, default=1.7, help="4 mm FWHM")
    args = parser.parse_args()

    from bids_lrp.cli.parser import default_model
    from bids_lrp.templates import get_atlas

    model = args.model or default_model()
    atlas = get_atlas("Neuromorphometrics", loc.TPL)
    dense, smooth = change_density(args.n_twins, args.seed, args.severity, args.smooth_mm, atlas)
    loc.METHODS = (("b0", "boehle2019", {"beta": 0.0}, "AD"), register_zbox_first())
    bids = args.work / "bids"
    participants, masks = loc.truth_tables(bids)
    diagnosis = dict(zip(participants["participant_id"], participants["diagnosis"], strict=True))
    scans = bids / "derivatives" / "simulation" if args.true_pose else args.work / "out"
    vectors = {}
    for key in sorted(masks):
        sub = key.split("_")[0]
        anat = next((scans / sub).rglob(f"{key}_space-{loc.TPL}_desc-preproc_T1w.nii.gz"))
        maps, _ = loc.explain_all(model, anat)
        vectors[key] = loc.area_vectors(maps, atlas)
    print(
        f"model {model}; scans: {'true pose' if args.true_pose else 'participant level'} "
        f"({args.work}); true change: {args.n_twins} AD scans and their twins, seed {args.seed}, "
        f"severity {args.severity}"
    )
    for label, *_ in loc.METHODS:
        frame, live, n_cn = gain_frame(vectors, diagnosis, label)
        frame["change"], frame["change_smooth"] = dense, smooth
        report(label, frame, live, n_cn)


if __name__ == "__main__":
    main()
