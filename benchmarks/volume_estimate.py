"""How well the participant level's native volume estimate follows the true volumes.

Simulates a cohort (``bids_lrp-simulate``: AD scans with hippocampus, amygdala, entorhinal and
parahippocampal atrophy, controls without), registers each scan to the template with SyN as the
participant level does (N4, then ``register_to_template(kind="syn")``), integrates the Jacobian
per area (`bids_lrp.normalize.volumes`) and compares with the truth table's
``native_volume_mm3``. Also times the estimate's extra cost with an affine model (one SyN
registration plus the Jacobian) against the affine registration alone.

Usage::

    python benchmarks/volume_estimate.py --n-subjects 8 --seed 11

Prints per area: Pearson r of estimated and true volumes over the scans, the mean absolute
percentage error, and the timing medians.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bids_lrp.normalize import load_t1w, load_template, n4_bias_correct, register_to_template
from bids_lrp.normalize.volumes import native_area_volumes, volume_ratio
from bids_lrp.templates import get_atlas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-subjects", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--severity", type=float, default=0.3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bids"
        subprocess.run(
            [sys.executable, "-m", "bids_lrp.simulate.cli", str(root), "--n-subjects",
             str(args.n_subjects), "--seed", str(args.seed), "--severity", str(args.severity),
             "--quiet"],
            check=True,
        )  # fmt: skip
        truth = pd.read_csv(root / "derivatives/simulation/atrophy.tsv", sep="\t")
        brain, mask = load_template("MNI152NLin2009cAsym")
        atlas = get_atlas("Neuromorphometrics", "MNI152NLin2009cAsym")
        voxel = float(abs(np.linalg.det(atlas.affine[:3, :3])))
        rows, times = [], {"affine": [], "syn": [], "jacobian": []}
        for t1w in sorted(root.glob("sub-*/**/anat/*_T1w.nii.gz")):
            entities = dict(p.split("-", 1) for p in t1w.name.split("_")[:-1])
            corrected = n4_bias_correct(load_t1w(t1w))
            start = time.perf_counter()
            register_to_template(
                corrected, brain, kind="affine", out_prefix=Path(tmp) / "aff_",
                mask=mask, threads=args.threads,
            )  # fmt: skip
            times["affine"].append(time.perf_counter() - start)
            start = time.perf_counter()
            reg = register_to_template(
                corrected, brain, kind="syn", out_prefix=Path(tmp) / "syn_",
                mask=mask, threads=args.threads,
            )  # fmt: skip
            times["syn"].append(time.perf_counter() - start)
            start = time.perf_counter()
            ratio = volume_ratio(reg.forward_transforms, brain)
            volumes = native_area_volumes(
                np.asarray(ratio.dataobj), atlas.labels, atlas.table, voxel
            )
            times["jacobian"].append(time.perf_counter() - start)
            by_index = dict(zip(atlas.table["index"], volumes, strict=True))
            sub = truth[truth["participant_id"] == f"sub-{entities['sub']}"]
            if "ses" in entities:
                sub = sub[sub["session_id"] == f"ses-{entities['ses']}"]
            for _, area in sub.iterrows():
                indices = [int(i) for i in str(area["atlas_indices"]).split()]
                estimate = sum(by_index[i] for i in indices)
                rows.append(
                    {"scan": t1w.name, "region": area["region"], "diagnosis": area["diagnosis"],
                     "true": area["native_volume_mm3"], "estimate": estimate}
                )  # fmt: skip
            print(f"{t1w.name}: done", file=sys.stderr)
    table = pd.DataFrame(rows)
    print("| area | scans | r (estimate, truth) | mean abs. error (%) |")
    print("|---|---|---|---|")
    for region, group in table.groupby("region", sort=False):
        r = float(np.corrcoef(group["true"], group["estimate"])[0, 1])
        error = float((abs(group["estimate"] - group["true"]) / group["true"]).mean() * 100)
        print(f"| {region} | {len(group)} | {r:.3f} | {error:.1f} |")
    r_all = float(np.corrcoef(table["true"], table["estimate"])[0, 1])
    print(f"\nall areas and scans: r = {r_all:.3f} (n = {len(table)})")
    for stage, values in times.items():
        print(f"median {stage}: {statistics.median(values):.1f} s")


if __name__ == "__main__":
    main()
