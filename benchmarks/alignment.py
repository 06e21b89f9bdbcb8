"""How much does a small misalignment change a model's p(AD)? Scans aligned by their true pose
against the participant level's, and against the true-pose scans shifted by a fraction of a voxel.

    .venv/bin/python benchmarks/alignment.py MODEL.safetensors --work /tmp/loc7005

``--work`` is a finished ``benchmarks/localization.py`` run: its simulated cohort (the true-pose
scans in ``derivatives/simulation``) and the participant level's template-space scans (N4 and ANTs
affine registration). For every AD scan: p(AD) of the pipeline scan, of the true-pose scan, and of
the true-pose scan shifted by +-0.25 and +-0.5 voxel of the network grid along each axis (linear
interpolation); the mean intensity ratio pipeline / true pose inside the brain; and the
quarter-voxel shift (up to half a voxel per axis) that best maps the true-pose scan onto the
pipeline's, i.e. the registration's residual misalignment on the network grid. The medians over
the AD scans are printed last. The network's training augmentation shifts along x only (the
paper's), so a model can be robust along x and brittle along y and z.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage

SPACE = "MNI152NLin2009cAsym"
SHIFTS = (-0.5, -0.25, 0.0, 0.25, 0.5)


def network_array(path: Path, card) -> np.ndarray:
    """The scan on the model card's grid, as the participant level feeds it."""
    from bids_lrp.normalize import resample_to_grid

    img = resample_to_grid(nib.load(path), card.input_shape, np.asarray(card.affine, float))
    return np.asarray(img.dataobj, dtype=np.float32)


def residual_shift(true: np.ndarray, pipeline: np.ndarray, mask: np.ndarray) -> tuple:
    """The quarter-voxel shift of ``true`` closest to ``pipeline`` (mean squared difference)."""
    errors = {
        s: float(((ndimage.shift(true, s, order=1, mode="nearest") - pipeline)[mask] ** 2).mean())
        for s in itertools.product(SHIFTS, repeat=3)
    }
    return min(errors, key=errors.get)


def main() -> None:
    import torch

    from bids_lrp.model.checkpoint import load_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--work", type=Path, required=True, help="a localization.py --work")
    args = parser.parse_args()
    net, card = load_checkpoint(args.model)
    net.eval()
    bids = args.work / "bids"
    dx = pd.read_csv(bids / "participants.tsv", sep="\t").set_index("participant_id")["diagnosis"]

    def p_ad(x: np.ndarray) -> float:
        with torch.no_grad():
            logits = net(torch.from_numpy(np.ascontiguousarray(x))[None, None])
        return float(torch.softmax(logits, 1)[0, 1])

    rows = []
    for path in sorted((args.work / "out").rglob(f"*_space-{SPACE}_desc-preproc_T1w.nii.gz")):
        sub = path.name.split("_")[0]
        if dx[sub] != "AD":
            continue
        name = f"{sub}_space-{SPACE}_desc-preproc_T1w.nii.gz"
        true = network_array(bids / "derivatives/simulation" / sub / "anat" / name, card)
        pipeline = network_array(path, card)
        row = {"participant": sub, "pipeline": p_ad(pipeline), "true pose": p_ad(true)}
        for axis, step in itertools.product(range(3), (-0.5, -0.25, 0.25, 0.5)):
            shift = [0.0, 0.0, 0.0]
            shift[axis] = step
            moved = ndimage.shift(true, shift, order=1, mode="nearest")
            row[f"{'xyz'[axis]}{step:+.2f}"] = p_ad(moved)
        mask = true > 0.1 * true.max()
        row["intensity ratio"] = float(pipeline[mask].mean() / true[mask].mean())
        row["residual shift (voxels)"] = residual_shift(true, pipeline, mask)
        rows.append(row)
    table = pd.DataFrame(rows)
    print(f"{args.model}: p(AD) of {len(table)} AD scans")
    print(table.round(3).to_string(index=False))
    print("median:")
    print(table.median(numeric_only=True).round(3).to_string())


if __name__ == "__main__":
    main()
