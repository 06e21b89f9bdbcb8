"""What does reusing sMRIPrep/fMRIPrep transforms or a CAPS folder (``--derivatives``) save per
image?

Question: on the same simulated images (1 mm, whole head), how long does the participant level
take when it registers (affine, as the shipped model's card says, and SyN) and when it takes the
transforms from sMRIPrep-style derivatives (here the simulator's true transforms written under
sMRIPrep's names, as the tests do)? With ``--layout caps``: a ClinicaDL ``Conv5_FC3`` (random
weights, its 1 mm CAPS grid) in MNI152NLin2009cSym (a stand-in template in a TemplateFlow
folder, as the tests make it), registering affinely against t1-linear's affines in a CAPS
folder (the simulator's true affines, one session per image).

    .venv/bin/python benchmarks/reuse_speed.py --work /tmp/reuse_speed [--n-subjects 2]
    .venv/bin/python benchmarks/reuse_speed.py --work /tmp/reuse_caps --layout caps

Prints the wall time of each run (every run in a fresh work folder, the same ``--nprocs`` and
``--omp-nthreads``) and the saving per image.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NIPYPE_NO_ET", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--n-subjects", type=int, default=2)
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--nprocs", type=int, default=2)
    parser.add_argument("--layout", choices=["smriprep", "caps"], default="smriprep")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if args.layout == "caps":  # before any worker starts: they read it too
        os.environ["TEMPLATEFLOW_HOME"] = str(args.work / "templateflow")
    from bids_lrp.cli.run import main as bids_lrp
    from bids_lrp.simulate import simulate_cohort
    from tests.e2e.helpers import make_smriprep

    bids, derivatives = args.work / "bids", args.work / args.layout
    common = ["--nprocs", str(args.nprocs), "--omp-nthreads", "1", "--skip-bids-validation",
              "--no-native-space", "--faithfulness-steps", "0"]  # fmt: skip
    if args.layout == "caps":
        common += _caps_inputs(args.work, bids, derivatives, args.n_subjects, args.seed)
        runs = {
            "register (affine)": ["--registration", "affine"],
            "reuse (--derivatives)": ["--derivatives", f"caps={derivatives}"],
        }
    else:
        if not bids.is_dir():
            simulate_cohort(bids, n_subjects=args.n_subjects, seed=args.seed)
        if not derivatives.is_dir():
            make_smriprep(bids, derivatives)
        runs = {
            "register (affine)": ["--registration", "affine"],
            "register (SyN)": ["--registration", "syn"],
            "reuse (--derivatives)": ["--derivatives", f"smriprep={derivatives}"],
        }
    seconds = {}
    for index, (name, extra) in enumerate(runs.items()):
        key = f"{index}_{name.split()[0]}"
        start = time.perf_counter()
        code = bids_lrp([str(bids), str(args.work / f"out_{key}"), "participant",
                         "-w", str(args.work / f"work_{key}"), *common, *extra])  # fmt: skip
        seconds[name] = time.perf_counter() - start
        if code != 0:
            raise SystemExit(f"{name}: exit {code}")
    n = args.n_subjects
    print(f"| run | wall s ({n} images) | s per image |")
    print("|---|---|---|")
    for name, value in seconds.items():
        print(f"| {name} | {value:.0f} | {value / n:.1f} |")
    reuse = seconds["reuse (--derivatives)"]
    for name in [r for r in runs if r.startswith("register")]:
        print(f"\nreuse saves {(seconds[name] - reuse) / n:.1f} s per image against {name}")


def _caps_inputs(work: Path, bids: Path, caps: Path, n_images: int, seed: int) -> list[str]:
    """One participant with ``n_images`` sessions, its CAPS folder, the stand-in symmetric
    template and a random ``Conv5_FC3``; returns the options that run it."""
    import torch

    from bids_lrp.model import save_checkpoint
    from bids_lrp.model.clinicadl import Conv5FC3, caps_card
    from bids_lrp.simulate import simulate_cohort
    from tests.e2e.helpers import SYM, make_caps, make_sym_templateflow

    if not (work / "templateflow").is_dir():
        make_sym_templateflow(work / "templateflow")
    if not bids.is_dir():
        simulate_cohort(bids, n_subjects=1, seed=seed, sessions=n_images)
    if not caps.is_dir():
        make_caps(bids, caps)
    model = work / "conv5fc3.safetensors"
    if not model.is_file():
        torch.manual_seed(seed)
        save_checkpoint(Conv5FC3().eval(), caps_card("conv5fc3-random"), model)
    return ["--model", str(model), "--template", SYM]


if __name__ == "__main__":
    main()
