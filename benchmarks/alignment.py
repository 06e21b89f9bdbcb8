"""How much do a small misalignment and another intensity window change a model's p(AD)?
Scans aligned by their true pose against the participant level's, the true-pose scans shifted by a
fraction of a voxel, and each kind of scan given the other's intensities.

    .venv/bin/python benchmarks/alignment.py MODEL.safetensors --work /tmp/loc7005

``--work`` is a finished ``benchmarks/localization.py`` run: its simulated cohort (the true-pose
scans in ``derivatives/simulation``) and the participant level's template-space scans (N4 and ANTs
affine registration). For every AD scan: p(AD) of the pipeline scan, of the true-pose scan, and of
the true-pose scan shifted by +-0.25 and +-0.5 voxel of the network grid along each axis (linear
interpolation); p(AD) of the pipeline scan given the true-pose scan's intensities and of the
true-pose scan given the pipeline's (histogram matching inside the brain: each voxel takes the
other scan's value of the same rank); the mean intensity ratio pipeline / true pose inside the
brain and the line ``pipeline ~ contrast * true + floor`` fitted there; and the
quarter-voxel shift (up to half a voxel per axis) that best maps the true-pose scan onto the
pipeline's, i.e. the registration's residual misalignment on the network grid. The medians over
the AD scans are printed last. The network's training augmentation shifts along x only (the
paper's), so a model can be robust along x and brittle along y and z.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import localization as loc

#: Quarter-voxel steps searched for the residual shift, per axis.
SHIFTS = (-0.5, -0.25, 0.0, 0.25, 0.5)
#: Shifts (network voxels) applied to the true-pose scan along each axis.
PROBES = (-0.5, -0.25, 0.25, 0.5)


def network_array(path: Path, card) -> np.ndarray:
    """The scan on the model card's grid, resampled as the participant level does."""
    from bids_lrp.model.network_input import load_network_input

    _, net_img = load_network_input(path, card)
    return np.asarray(net_img.dataobj, dtype=np.float32)


def residual_shift(true: np.ndarray, pipeline: np.ndarray, mask: np.ndarray) -> tuple:
    """The quarter-voxel shift of ``true`` closest to ``pipeline`` (mean squared difference)."""
    errors = {
        s: float(((ndimage.shift(true, s, order=1, mode="nearest") - pipeline)[mask] ** 2).mean())
        for s in itertools.product(SHIFTS, repeat=3)
    }
    return min(errors, key=errors.get)


def match_histogram(image: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` with, inside ``mask``, the values of ``reference`` in the same rank order."""
    out = image.copy()
    order = np.argsort(image[mask], kind="stable")
    values = np.sort(reference[mask])
    matched = np.empty_like(values)
    matched[order] = values
    out[mask] = matched
    return out


def probes(true: np.ndarray) -> dict[str, np.ndarray]:
    """The true-pose scan shifted by each of `PROBES` along each axis (linear interpolation)."""
    out = {}
    for axis, step in itertools.product(range(3), PROBES):
        shift = [0.0, 0.0, 0.0]
        shift[axis] = step
        out[f"{'xyz'[axis]}{step:+.2f}"] = ndimage.shift(true, shift, order=1, mode="nearest")
    return out


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
    participants, _ = loc.truth_tables(bids)
    diagnosis = dict(zip(participants["participant_id"], participants["diagnosis"], strict=True))

    rows = []
    for path in sorted((args.work / "out").rglob(f"*_space-{loc.TPL}_desc-preproc_T1w.nii.gz")):
        sub = path.name.split("_")[0]
        if diagnosis[sub] != "AD":
            continue
        name = f"{sub}_space-{loc.TPL}_desc-preproc_T1w.nii.gz"
        true = network_array(bids / "derivatives/simulation" / sub / "anat" / name, card)
        pipeline = network_array(path, card)
        mask = (true > 0) & (pipeline > 0)
        inputs = {
            "pipeline": pipeline,
            "true pose": true,
            **probes(true),
            "pipeline, true intensities": match_histogram(pipeline, true, mask),
            "true pose, pipeline intensities": match_histogram(true, pipeline, mask),
        }
        batch = torch.from_numpy(np.stack(list(inputs.values()))[:, None])
        with torch.no_grad():  # one pass for all of them (eval mode: BatchNorm per scan)
            p_ad = torch.softmax(net(batch), 1)[:, 1].tolist()
        contrast, floor = np.polyfit(true[mask], pipeline[mask], 1)
        bright = true > 0.1 * true.max()  # ratio and shift as in the eighth round
        rows.append(
            {
                "participant": sub,
                **dict(zip(inputs, p_ad, strict=True)),
                "intensity ratio": float(pipeline[bright].mean() / true[bright].mean()),
                "contrast": float(contrast),
                "floor": float(floor),
                "residual shift (voxels)": residual_shift(true, pipeline, bright),
            }
        )
    table = pd.DataFrame(rows)
    print(f"{args.model}: p(AD) of {len(table)} AD scans")
    print(table.round(3).to_string(index=False))
    print("median:")
    print(table.median(numeric_only=True).round(3).to_string())


if __name__ == "__main__":
    main()
