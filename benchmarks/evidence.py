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
  explanation's spread, not the model looking elsewhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append", default=[])
    parser.add_argument("--n-scans", type=int, default=6, help="AD scans")
    parser.add_argument("--seed", type=int, default=7001)
    parser.add_argument("--severity", type=float, default=0.3)
    args = parser.parse_args()
    from scipy.special import softmax

    from bids_lrp.model import load_checkpoint
    from bids_lrp.model.metrics import POSITIVE, predict
    from bids_lrp.normalize import resample_to_grid

    nets = [(path, *load_checkpoint(path)) for path in args.model]
    signal, darker, brighter, brain_share = [], [], [], None
    evidence: dict[Path, list[list[float]]] = {path: [] for path in args.model}
    for subject, ad, twin, planted, anatomy in twins(args.n_scans, args.seed, args.severity):
        distance = ndimage.distance_transform_edt(~planted)  # mm: the template grid is 1 mm
        diff = ad - twin
        signal.append(share_within(np.abs(diff), distance))
        darker.append(share_within(np.maximum(-diff, 0), distance))
        brighter.append(share_within(np.maximum(diff, 0), distance))
        if brain_share is None:
            brain_share = share_within(anatomy.mask.astype(float), distance)
        images = [twin, *(np.where(distance <= r, ad, twin) for r in RADII_MM), ad]
        on_grid: dict[tuple, np.ndarray] = {}  # resampled once per network grid
        for path, net, card in nets:
            key = (tuple(card.input_shape), np.asarray(card.affine).tobytes())
            if key not in on_grid:
                on_grid[key] = np.stack([
                    np.asarray(resample_to_grid(
                        nib.Nifti1Image(image.astype(np.float32), anatomy.grid.affine),
                        card.input_shape, np.asarray(card.affine),
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
    if nets:
        radii = " | ".join(f"within {r} mm" for r in RADII_MM)
        print(f"\n| model: median p(AD) | twin | {radii} | AD scan |\n|---|" + "---|" * 7)
        for path, rows in evidence.items():
            cells = " | ".join(f"{v:.3f}" for v in np.median(rows, axis=0))
            print(f"| {path.name} | {cells} |")


if __name__ == "__main__":
    main()
