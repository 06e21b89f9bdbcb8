"""What each method and the faithfulness measure cost per image, and how faithful each is.

Question: on the shipped model and CPU, how many seconds does each explanation method take per
image, how much does measuring its faithfulness (region perturbation, --faithfulness-steps)
add, and the randomization check (dense layers, and the cascade), and what AOPC does each
method reach? And what does the measure cost for every method
in one run, where the methods share the image's unperturbed and random-order scores?

Usage::

    python benchmarks/evaluation_cost.py --images OUT/sub-*/anat/*_desc-preproc_T1w.nii.gz \
        [--steps 20] [--threads 2]

``--images``: template-space network inputs (a participant-level output folder's
``*_desc-preproc_T1w.nii.gz``). Prints one Markdown table (medians over the images).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bids_lrp.cli.parser import default_model
from bids_lrp.explain import explain_image

METHODS = (
    "boehle2019",
    "guided-backprop:start=probability",
    "gradient",
    "grad-cam",
    "integrated-gradients",
    "smoothgrad",
    "occlusion",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    model = default_model()
    rows = []
    variants = {  # what each column adds to the plain explanation
        "plain": {},
        "faithfulness": {"faithfulness_steps": args.steps},
        "dense": {"randomization": True},
        "cascade": {"randomization": True, "randomization_layers": "cascade"},
    }
    for method in METHODS:
        times = {name: [] for name in variants}
        aopc, rho = {"morf": [], "random": [], "lerf": []}, []
        for image in args.images:
            for name, extra in variants.items():
                with tempfile.TemporaryDirectory() as work:
                    kwargs = dict(threads=args.threads, out_dir=work, atlas="Neuromorphometrics")
                    if name == "plain":
                        explain_image(str(image), str(model), "", [method], "AD", **kwargs)  # warm
                    start = time.perf_counter()
                    out = explain_image(
                        str(image), str(model), "", [method], "AD", **extra, **kwargs
                    )
                    times[name].append(time.perf_counter() - start)
                    meta = out["metadata"][0]
                    if name == "faithfulness":
                        for order, value in meta["Faithfulness"]["AOPC"].items():
                            aopc[order].append(value)
                    if name == "dense" and meta["Randomization"]["Spearman"] is not None:
                        rho.append(meta["Randomization"]["Spearman"])
        plain = statistics.median(times["plain"])
        rows.append(
            (
                method,
                plain,
                *(statistics.median(times[n]) - plain for n in list(variants)[1:]),
                *(statistics.mean(aopc[o]) for o in ("morf", "random", "lerf")),
                statistics.mean(rho) if rho else float("nan"),
            )
        )
    print(
        f"| method | s per image | + faithfulness ({args.steps} steps) | + randomization "
        "(dense) | + cascade | AOPC MoRF | random | LeRF | rho (dense) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for method, seconds, faith, dense, cascade, morf, rnd, lerf, r in rows:
        print(
            f"| {method} | {seconds:.2f} | {faith:.2f} | {dense:.2f} | {cascade:.2f} | "
            f"{morf:.3f} | {rnd:.3f} | {lerf:.3f} | {r:.2f} |"
        )
    together = _all_methods_together(model, args)
    alone = sum(row[2] for row in rows)
    print(
        f"\nAll {len(METHODS)} methods in one run: faithfulness adds {together:.2f} s per image "
        f"(median), against {alone:.2f} s for the methods measured one by one (the image itself "
        "and the random order are scored once per image, not once per method)."
    )


def _all_methods_together(model, args) -> float:
    """Median extra seconds of the faithfulness measure for every method in one call."""
    extra = []
    for image in args.images:
        times = {}
        for steps in (0, args.steps):
            with tempfile.TemporaryDirectory() as work:
                kwargs = dict(threads=args.threads, out_dir=work, atlas="Neuromorphometrics")
                start = time.perf_counter()
                explain_image(str(image), str(model), "", list(METHODS), "AD",
                              faithfulness_steps=steps, **kwargs)  # fmt: skip
                times[steps] = time.perf_counter() - start
        extra.append(times[args.steps] - times[0])
    return statistics.median(extra)


if __name__ == "__main__":
    main()
