"""Where is the evidence? The true AD signal, and where a model finds it (an upper bound).

    .venv/bin/python benchmarks/evidence.py --model MODEL.safetensors [--model ...]

Each AD scan of a simulated cohort is rendered twice from the same plan: as simulated, and as
the same person without the planted atrophy (`ScanSpec.without_atrophy`: same anatomy, pose,
contrast, bias field and noise). Both are aligned by their true pose, masked and scaled as the
network sees them (`bids_lrp.simulate.preproc.true_pose_preproc`). Reported:

- the signal: the share of ``|AD - twin|`` (and of its darker and brighter parts) within 0, 3,
  6, 12 and 20 mm of the planted areas, next to the share of the brain there. No explanation
  can honestly put more relevance near the planted areas than the evidence lies there;
- each model's evidence: p(AD) of the twin, and of composites that keep the atrophy only within
  r mm of the planted areas (the twin elsewhere). When p(AD) is already that of the AD scan at
  a small r, the model decides from that neighbourhood alone, and relevance outside it is the
  explanation's spread, not the model looking elsewhere;
- the signal by atlas area (Neuromorphometrics, hemispheres merged, as the region tables): the
  areas where ``|AD - twin|`` is densest (mean per voxel) and where most of it lies (sum), the
  planted areas marked. With a baseline of equal density everywhere, the density ranking is the
  ranking by relevance gain that an explanation true to the image change would give.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RADII_MM = (0, 3, 6, 12, 20)


def twins(n_scans: int, seed: int, severity: float):
    """Yield (AD image, twin image) pairs and the planted mask, on the 1 mm template grid."""
    from bids_lrp.simulate.atrophy import atrophy_model
    from bids_lrp.simulate.plan import CohortConfig, plan_cohort, validate_config
    from bids_lrp.simulate.preproc import true_pose_preproc
    from bids_lrp.simulate.scan import render_scan

    config = CohortConfig(n_subjects=max(2, 2 * n_scans), seed=seed, severity=severity)
    model = atrophy_model(validate_config(config))
    anatomy = model.anatomy
    specs = [s for s in plan_cohort(config) if s.diagnosis == "AD"][:n_scans]
    for spec in specs:
        pair = []
        for plan in (spec, spec.without_atrophy()):
            r = render_scan(plan, model)
            pair.append(
                true_pose_preproc(
                    r.t1w,
                    r.native.affine,
                    r.native_to_template_affine,
                    anatomy.grid,
                    anatomy.mask,
                    bias=r.bias,
                )
            )
        yield spec.subject, pair[0], pair[1], model.labels > 0, anatomy


def share_within(weights: np.ndarray, distance: np.ndarray) -> list[float]:
    """Share of ``weights`` within each of `RADII_MM` (mm) of the planted areas."""
    total = weights.sum()
    return [float(weights[distance <= r].sum() / total) for r in RADII_MM]


def signal_by_area(diff: np.ndarray, atlas) -> pd.DataFrame:
    """``|diff|`` summed per atlas area (hemispheres merged), with the areas' voxel counts."""
    from bids_lrp.regions import merge_hemispheres, region_table

    table = merge_hemispheres(region_table(np.abs(diff), atlas.labels, atlas.table, 1.0))
    return table.set_index("name")[["relevance_sum", "n_voxels"]]


def print_areas(tables: list[pd.DataFrame], planted: pd.Series, top: int = 6) -> None:
    """The areas with the densest and the largest signal, averaged over scans."""
    signal = pd.concat([t["relevance_sum"] for t in tables], axis=1).mean(axis=1)
    voxels = tables[0]["n_voxels"]
    frame = pd.DataFrame({
        "density": signal / voxels.where(voxels > 0),
        "share": signal / signal.sum(),
        "planted": planted,
    }).dropna()  # fmt: skip
    for key in ("density", "share"):
        ranked = frame.sort_values(key, ascending=False)
        cells = ", ".join(
            f"{name}{' (planted)' if row['planted'] else ''} {row['share']:.0%}"
            for name, row in ranked.head(top).iterrows()
        )
        ranks = {n: ranked.index.get_loc(n) + 1 for n in ranked.index[ranked["planted"]]}
        print(f"\nby {key} of abs(AD - twin), top {top} (share of the signal): {cells}")
        print(f"  planted areas' ranks by {key} (of {len(ranked)}): {ranks}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append", default=[])
    parser.add_argument("--n-scans", type=int, default=6, help="AD scans")
    parser.add_argument("--seed", type=int, default=7001)
    parser.add_argument("--severity", type=float, default=0.3)
    args = parser.parse_args()
    from scipy.special import softmax

    from bids_lrp.grid import Grid
    from bids_lrp.model import load_checkpoint
    from bids_lrp.model.metrics import POSITIVE, predict
    from bids_lrp.model.network_input import network_input

    nets = [(path, *load_checkpoint(path)) for path in args.model]
    signal, darker, brighter, areas = [], [], [], []
    distance = brain_share = planted_areas = None  # the same planted areas in every scan
    evidence: dict[Path, list[list[float]]] = {path: [] for path in args.model}
    for subject, ad, twin, planted, anatomy in twins(args.n_scans, args.seed, args.severity):
        if distance is None:
            distance = ndimage.distance_transform_edt(~planted)  # mm: the grid is 1 mm
            brain_share = share_within(anatomy.mask.astype(float), distance)
            planted_areas = signal_by_area(planted.astype(np.float64), anatomy.atlas)
            planted_areas = planted_areas["relevance_sum"] > 0
        diff = ad - twin
        signal.append(share_within(np.abs(diff), distance))
        darker.append(share_within(np.maximum(-diff, 0), distance))
        brighter.append(share_within(np.maximum(diff, 0), distance))
        areas.append(signal_by_area(diff, anatomy.atlas))
        images = [twin, *(np.where(distance <= r, ad, twin) for r in RADII_MM), ad]
        on_grid: dict[tuple, np.ndarray] = {}  # resampled once per network input kind
        for path, net, card in nets:
            grid = Grid.of_card(card)
            key = (grid.shape, grid.affine.tobytes(), card.input_resampling)
            if key not in on_grid:
                on_grid[key] = np.stack([
                    np.asarray(network_input(
                        nib.Nifti1Image(image.astype(np.float32), anatomy.grid.affine),
                        grid, card.input_resampling,
                    ).dataobj, dtype=np.float32)
                    for image in images
                ])  # fmt: skip
            p_ad = softmax(predict(net, on_grid[key]), axis=1)[:, POSITIVE]
            evidence[path].append(p_ad.tolist())
        print(f"sub-{subject} done", file=sys.stderr)
    head = " | ".join(f"{r} mm" for r in RADII_MM)
    print(f"AD scans: {len(signal)} (seed {args.seed}, severity {args.severity})\n")
    print(f"| share within | {head} |\n|---|" + "---|" * len(RADII_MM))
    for name, rows in (("abs(AD - twin)", signal), ("darker in AD", darker),
                       ("brighter in AD", brighter), ("brain volume", [brain_share])):  # fmt: skip
        cells = " | ".join(f"{v:.0%}" for v in np.mean(rows, axis=0))
        print(f"| {name} | {cells} |")
    print_areas(areas, planted_areas)
    if nets:
        radii = " | ".join(f"within {r} mm" for r in RADII_MM)
        print(f"\n| model: median p(AD) | twin | {radii} | AD scan |\n|---|" + "---|" * 7)
        for path, rows in evidence.items():
            cells = " | ".join(f"{v:.3f}" for v in np.median(rows, axis=0))
            print(f"| {path.name} | {cells} |")


if __name__ == "__main__":
    main()
