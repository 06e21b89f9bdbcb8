"""Per-image wall time and peak memory of the participant level, by stage, at 1 mm.

Runs the same functions the workflow's interfaces call, in one process, on one simulated
1 mm T1w (whole head), with the paper's full-size network (193 x 229 x 193, random weights):

    .venv/bin/python benchmarks/participant_speed.py --registration affine syn --threads 2

Stages: n4 (read + check + N4), registration, model (checkpoint load + forward), lrp (one
explanation per method), regions (Neuromorphometrics tables), writing (native-space maps and
the derivative files). Peak memory is the process's maximum resident set size after each stage.

``--app`` also runs the real command (``bids_lrp ... participant``, the nipype workflow with
MultiProc) on the same image and reports its wall time and the peak RSS of its largest
process (nipype workers are separate processes).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NIPYPE_NO_ET", "1")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(t1w: Path, model: Path, registration: str, threads: int, work: Path) -> dict:
    import nibabel as nib
    import numpy as np
    import torch

    from bids_lrp.explain import explain_image
    from bids_lrp.interfaces.io import write_derivatives
    from bids_lrp.interfaces.regions import region_tables
    from bids_lrp.normalize import (
        load_t1w,
        mask_and_scale,
        n4_bias_correct,
        register_to_template,
        relevance_to_native,
    )
    from bids_lrp.templates import template_images

    torch.set_num_threads(threads)
    times: dict[str, float] = {}
    peaks: dict[str, float] = {}

    def stage(name, start):
        times[name] = time.perf_counter() - start
        peaks[name] = _peak_mb()

    template, mask, _ = template_images("MNI152NLin2009cAsym")
    t = time.perf_counter()
    img = n4_bias_correct(load_t1w(t1w))
    stage("n4", t)
    t = time.perf_counter()
    reg = register_to_template(
        img, template, kind=registration, out_prefix=work / "xfm_", mask=mask, threads=threads
    )
    preproc = mask_and_scale(reg.warped, mask)
    nib.save(preproc, work / "preproc.nii.gz")
    stage("registration", t)
    t = time.perf_counter()
    result = explain_image(
        str(work / "preproc.nii.gz"),
        str(model),
        "",
        ["boehle2019"],
        "AD",
        threads=threads,
        out_dir=str(work),
    )
    stage("model+lrp(boehle2019)", t)
    t = time.perf_counter()
    second = explain_image(
        str(work / "preproc.nii.gz"),
        str(model),
        "",
        ["guided-backprop"],
        "AD",
        threads=threads,
        out_dir=str(work),
    )
    stage("lrp(guided-backprop)", t)
    relevance = result["relevance"] + second["relevance"]
    metadata = result["metadata"] + second["metadata"]
    t = time.perf_counter()
    tables = region_tables(
        relevance, ["Neuromorphometrics"], "MNI152NLin2009cAsym", str(work), metadata
    )
    stage("regions", t)
    t = time.perf_counter()
    native = []
    for i, path in enumerate(relevance):
        out = relevance_to_native(nib.load(path), img, reg.inverse_transforms)
        native.append(str(work / f"native{i}.nii.gz"))
        nib.save(out, native[-1])
    ents = {"sub": "01"}
    out_dir = work / "out"
    write_derivatives(
        [str(work / "preproc.nii.gz")],
        str(out_dir),
        ents,
        "T1w",
        varying={"space": "MNI152NLin2009cAsym", "desc": "preproc"},
    )
    write_derivatives(
        relevance + native,
        str(out_dir),
        ents,
        "relevance",
        varying={
            "space": ["MNI152NLin2009cAsym"] * 2 + ["T1w"] * 2,
            "desc": ["LRPb0", "GuidedBackprop"] * 2,
        },
        meta={"x": 1},
    )
    write_derivatives(
        tables["tables"],
        str(out_dir),
        ents,
        "relevance",
        varying={"space": "MNI152NLin2009cAsym", "atlas": tables["atlas"], "desc": tables["desc"]},
    )
    stage("native+writing", t)
    assert np.isfinite(np.asarray(nib.load(native[0]).dataobj)).all()
    return {"times": times, "peaks": peaks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registration", nargs="+", default=["affine", "syn"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--app", action="store_true", help="also time the real bids_lrp run")
    args = parser.parse_args()
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bids_lrp.simulate import simulate_cohort
    from tests.e2e.helpers import make_model

    with tempfile.TemporaryDirectory(prefix="bids_lrp-bench-") as tmp:
        root = Path(tmp)
        simulate_cohort(root / "bids", n_subjects=1, seed=0)
        (t1w,) = sorted((root / "bids").glob("sub-*/anat/*_T1w.nii.gz"))
        model = root / "model.safetensors"
        make_model(model, grid_mm=1.0, name="full-size-random", net={})
        print(f"input {t1w.name}; model grid 193x229x193 (full-size network, random weights)")
        print("| path | stage | wall s | peak RSS MB |")
        print("|---|---|---|---|")
        for kind in args.registration:
            work = root / kind
            work.mkdir()
            start = time.perf_counter()
            result = bench(t1w, model, kind, args.threads, work)
            total = time.perf_counter() - start
            for name, seconds in result["times"].items():
                print(f"| {kind} | {name} | {seconds:.1f} | {result['peaks'][name]:.0f} |")
            print(
                f"| {kind} | **total** | **{total:.1f}** | {max(result['peaks'].values()):.0f} |"
            )
            sys.stdout.flush()
        for kind in args.registration if args.app else ():
            seconds, peak = run_app(root / "bids", root / f"app-{kind}", model, kind, args.threads)
            print(f"| {kind} | **bids_lrp command (nipype)** | **{seconds:.1f}** | {peak:.0f} |")
            sys.stdout.flush()


def run_app(bids: Path, root: Path, model: Path, kind: str, threads: int) -> tuple[float, float]:
    """Wall time and peak RSS (MB, largest process) of the real participant-level command."""
    import json
    import subprocess

    exe = Path(sys.executable).parent / "bids_lrp"
    command = [
        str(exe),
        str(bids),
        str(root / "out"),
        "participant",
        "-w",
        str(root / "work"),
        "--model",
        str(model),
        "--registration",
        kind,
        "--nprocs",
        str(threads),
        "--omp-nthreads",
        str(threads),
        "--skip-bids-validation",
    ]
    wrapper = (
        "import resource, subprocess, sys, json\n"
        "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps([code, peak]))\n"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *command], capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - start
    code, peak = json.loads(done.stdout.strip().splitlines()[-1])
    if code != 0:
        raise RuntimeError(f"bids_lrp exited with {code}: {done.stderr[-2000:]}")
    return seconds, peak


if __name__ == "__main__":
    main()
