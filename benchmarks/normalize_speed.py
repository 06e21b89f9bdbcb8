"""Per-stage wall time and peak RSS of the normalization (issue 4).

Stages: load (`load_t1w`), N4, affine registration, SyN registration, masking/scaling, warp back
(`relevance_to_native` of a random template-space map through the SyN inverse transforms).
Inputs: one simulated scan (``bids_lrp.simulate``) and Colin27 (Debian ``mricron-data``).

Usage::

    ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=2 python benchmarks/normalize_speed.py --repeats 3

Prints a Markdown table (median over repeats; peak RSS of the whole process).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from bids_lrp.normalize import (
    load_t1w,
    load_template,
    mask_and_scale,
    n4_bias_correct,
    register_to_template,
    registration_quality,
    relevance_to_native,
)

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")


def _timed(times: dict[str, list[float]], stage: str, fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    times.setdefault(stage, []).append(time.perf_counter() - start)
    return out


def run_once(path: Path, work: Path, brain, mask, times, quality, kinds) -> None:
    img = _timed(times, "load", load_t1w, path)
    n4 = _timed(times, "N4", n4_bias_correct, img)
    reg = None
    for kind in kinds:
        reg = _timed(
            times,
            f"{kind} registration",
            register_to_template,
            n4,
            brain,
            kind=kind,
            out_prefix=work / f"{kind}_",
            mask=mask,
        )
        quality.setdefault(kind, []).append(registration_quality(reg.warped, brain, mask))
    _timed(times, "mask + scale", mask_and_scale, reg.warped, mask)
    relevance = np.random.default_rng(0).standard_normal(mask.shape).astype(np.float32)
    relevance_img = nib.Nifti1Image(relevance * (np.asarray(mask.dataobj) > 0), mask.affine)
    _timed(times, "warp back", relevance_to_native, relevance_img, img, reg.inverse_transforms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--syn-repeats", type=int, default=1, help="SyN is slow: fewer repeats")
    parser.add_argument("--inputs", nargs="*", choices=["simulated", "colin27"])
    args = parser.parse_args()
    brain, mask = load_template()
    work = Path(tempfile.mkdtemp(prefix="bids_lrp-bench-"))
    inputs = {}
    if not args.inputs or "simulated" in args.inputs:
        from bids_lrp.simulate import simulate_cohort

        simulate_cohort(work / "sim", n_subjects=1, ad_fraction=0.0, seed=3)
        inputs["simulated"] = work / "sim" / "sub-001" / "anat" / "sub-001_T1w.nii.gz"
    if not args.inputs or "colin27" in args.inputs:
        inputs["colin27"] = COLIN27
    print("| input | stage | median s | runs | quality (r in mask) |")
    print("|---|---|---|---|---|")
    for name, path in inputs.items():
        times: dict[str, list[float]] = {}
        quality: dict[str, list[float]] = {}
        for repeat in range(args.repeats):
            kinds = ["affine", "syn"] if repeat < args.syn_repeats else ["affine"]
            run_once(path, work / name, brain, mask, times, quality, kinds)
        for stage, values in times.items():
            kind = stage.split()[0]
            q = f"{statistics.median(quality[kind]):.3f}" if kind in quality else ""
            print(f"| {name} | {stage} | {statistics.median(values):.1f} | {len(values)} | {q} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"\nPeak RSS (whole process): {peak:.2f} GB")


if __name__ == "__main__":
    main()
