"""Does the registration check pass good registrations and fail broken ones (issue 28)?

Registers real whole-head scans (Colin27 from Debian's ``mricron-data``; nilearn's MNI152 2009a
symmetric T1w) and simulated scans (``bids_lrp-simulate``) to MNI152NLin2009cAsym with the
participant level's own steps (N4, then ANTs registration), then breaks each registration on
purpose: shifts, rotations, flips, another scan's transform, no registration at all. Every
version goes through `bids_lrp.normalize.quality.check_registration`.

Usage::

    ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=2 python benchmarks/registration_check.py \
        --n-simulated 2 --kind affine

Prints one Markdown row per scan and version: correlation, best move, its gain, verdict.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from bids_lrp.normalize import (
    apply_transforms,
    load_t1w,
    load_template,
    n4_bias_correct,
    register_to_template,
    resample_to_grid,
)
from bids_lrp.normalize.quality import check_registration
from bids_lrp.templates import get_template

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")


def _nilearn_mni() -> Path:
    import nilearn

    return (
        Path(nilearn.__file__).parent
        / "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    )


def _moved(img: nib.Nifti1Image, matrix: np.ndarray, offset: np.ndarray) -> nib.Nifti1Image:
    data = np.asarray(img.dataobj, dtype=np.float32)
    out = ndimage.affine_transform(data, matrix, offset, order=1, mode="constant")
    return nib.Nifti1Image(out, img.affine)


def _broken(img: nib.Nifti1Image) -> dict[str, nib.Nifti1Image]:
    """Deliberately misregistered versions of a registered scan (1 mm grid)."""
    shape = np.array(img.shape[:3])
    centre = (shape - 1) / 2
    out = {}
    for mm in (4, 8, 15):
        out[f"shifted {mm} mm back-front"] = _moved(img, np.eye(3), np.array([0, -mm, 0]))
    out["shifted 10 mm down-up"] = _moved(img, np.eye(3), np.array([0, 0, 10]))
    for degrees in (7, 15, 30):
        angle = np.deg2rad(degrees)
        rot = np.array(
            [[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]]
        )
        out[f"rotated {degrees} degrees (pitch)"] = _moved(img, rot, centre - rot @ centre)
    for axis, name in enumerate(("left-right", "back-front", "down-up")):
        flip = np.eye(3)
        flip[axis, axis] = -1
        offset = np.zeros(3)
        offset[axis] = 2 * centre[axis]
        out[f"flipped {name}"] = _moved(img, flip, offset)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-simulated", type=int, default=2)
    parser.add_argument("--kind", default="affine", choices=("affine", "syn"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from bids_lrp.simulate import simulate_cohort

    name = "MNI152NLin2009cAsym"
    brain, mask = load_template(name)
    template = nib.load(get_template(name).t1w)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scans = {"Colin27": COLIN27, "nilearn MNI152 2009a sym": _nilearn_mni()}
        if args.n_simulated:
            simulate_cohort(work / "sim", n_subjects=args.n_simulated, seed=args.seed)
            for i in range(1, args.n_simulated + 1):
                scans[f"simulated sub-{i:03d}"] = (
                    work / f"sim/sub-{i:03d}/anat/sub-{i:03d}_T1w.nii.gz"
                )
        registered = {}
        for label, path in scans.items():
            start = time.perf_counter()
            raw = load_t1w(path)
            n4 = n4_bias_correct(raw)
            reg = register_to_template(
                n4, brain, kind=args.kind, out_prefix=work / f"{len(registered)}_", mask=mask
            )
            registered[label] = (n4, reg)
            seconds = time.perf_counter() - start
            versions = {"registered": reg.warped, **_broken(reg.warped)}
            versions["not registered (header only)"] = resample_to_grid(
                n4, template.shape[:3], template.affine
            )
            for version, img in versions.items():
                t0 = time.perf_counter()
                check = check_registration(img, template, mask)
                rows.append((label, version, check, time.perf_counter() - t0))
            print(f"# {label}: registered in {seconds:.0f} s", flush=True)
        labels = list(registered)
        for i, label in enumerate(labels):  # another scan's transform
            other = labels[(i + 1) % len(labels)]
            n4 = registered[label][0]
            img = apply_transforms(n4, template, registered[other][1].forward_transforms)
            rows.append(
                (
                    label,
                    f"moved by {other}'s transform",
                    check_registration(img, template, mask),
                    0,
                )
            )
    print("| scan | version | correlation | best move | gain | verdict |")
    print("|---|---|---|---|---|---|")
    for label, version, check, _ in rows:
        print(
            f"| {label} | {version} | {check.correlation:.3f} | {check.best_move} | "
            f"{check.improvement:+.3f} | {'pass' if check.passed else 'FAIL'} |"
        )
    seconds = [s for *_, s in rows if s]
    print(f"\ncheck time: median {np.median(seconds):.2f} s over {len(seconds)} checks")


if __name__ == "__main__":
    main()
