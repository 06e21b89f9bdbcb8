"""The GPU figures: LRP throughput, training time at 1 mm, the participant level on CUDA.

One prepared run for a machine with an NVIDIA GPU (the numbers name the card):

1. LRP throughput of the paper's network at full size (193 x 229 x 193), volumes/s of
   ``explain(..., "boehle2019")`` for batches of 1-16, in float32 and under bfloat16 autocast;
2. training time at 1 mm: one epoch of `bids_lrp.model.train.train_model` over a cache of
   synthetic network inputs (batch 4, the paper's recipe), float32 and ``--precision bf16``,
   seconds per scan and the resulting epoch for the paper's 969 scans;
3. ``bids_lrp ... participant --device cuda`` on two simulated participants with the shipped
   model, wall time, against ``--device cpu`` in the same run.

    python benchmarks/gpu.py --work /tmp/gpu --out gpu.json

Each part writes its rows into ``--out`` as soon as it is done, so a run cut short keeps what
it measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from training_scale import SHAPES, write_synthetic_cache

from bids_lrp.lrp import explain
from bids_lrp.model import build_model
from bids_lrp.model.scan_cache import ScanCache
from bids_lrp.model.train import Recipe, train_model

SHAPE = SHAPES[1.0]


def _timed(fn) -> float:
    torch.cuda.synchronize()
    tic = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - tic


def lrp_throughput(batches=(1, 2, 4, 8, 16), repeats: int = 3) -> list[dict]:
    rows = []
    model = build_model("boehle2019", input_shape=SHAPE).eval().cuda()
    for precision in ("fp32", "bf16"):
        for batch in batches:
            x = torch.rand((batch, 1, *SHAPE), device="cuda")
            autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16")

            def run(x=x, autocast=autocast):
                with autocast:
                    explain(model, x, 1, "boehle2019")

            try:
                run()
                seconds = statistics.median(_timed(run) for _ in range(repeats))
                peak = torch.cuda.max_memory_allocated() / 2**30
                rows.append({"precision": precision, "batch": batch,
                             "volumes_per_s": round(batch / seconds, 2),
                             "peak_gib": round(peak, 2)})  # fmt: skip
            except (RuntimeError, torch.cuda.OutOfMemoryError) as err:
                rows.append({"precision": precision, "batch": batch, "error": str(err)[:200]})
            torch.cuda.reset_peak_memory_stats()
    return rows


def training_epoch(work: Path, n: int = 32) -> list[dict]:
    folder = work / f"cache-1mm-{n}"
    write_synthetic_cache(folder, n, 1.0, "float16")
    cache = ScanCache(folder)
    labels = np.arange(n) % 2
    rows = []
    for precision in ("fp32", "bf16"):
        recipe = Recipe(epochs=1, min_epochs=0, patience=1)
        tic = time.perf_counter()
        train_model(
            lambda: build_model("boehle2019", input_shape=SHAPE), cache, labels,
            np.arange(n - 8), np.arange(n - 8, n), recipe, device="cuda",
            workers=2, precision=precision,
        )  # fmt: skip
        seconds = time.perf_counter() - tic
        per_scan = seconds / n  # training and validation passes together
        rows.append({"precision": precision, "scans": n, "seconds": round(seconds, 1),
                     "epoch_969_scans_min": round(per_scan * 969 / 60, 1)})  # fmt: skip
    return rows


def participant_level(work: Path) -> list[dict]:
    bids = work / "bids"
    if not bids.exists():
        subprocess.run(["bids_lrp-simulate", str(bids), "--n-subjects", "2", "--seed", "3",
                        "--quiet"], check=True)  # fmt: skip
    rows = []
    for device in ("cuda", "cpu"):
        out, scratch = work / f"out-{device}", work / f"work-{device}"
        tic = time.perf_counter()
        done = subprocess.run(
            ["bids_lrp", str(bids), str(out), "participant", "-w", str(scratch),
             "--device", device, "--nprocs", "8", "--omp-nthreads", "4"],
            capture_output=True, text=True,
        )  # fmt: skip
        rows.append({"device": device, "images": 2, "exit": done.returncode,
                     "seconds": round(time.perf_counter() - tic, 1),
                     "stderr_tail": done.stderr[-300:] if done.returncode else ""})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu.py: no CUDA device")
    args.work.mkdir(parents=True, exist_ok=True)
    results = {"card": torch.cuda.get_device_name(0), "torch": torch.__version__}
    for name, part in (("lrp", lrp_throughput), ("training", lambda: training_epoch(args.work)),
                       ("participant", lambda: participant_level(args.work))):  # fmt: skip
        results[name] = part()
        args.out.write_text(json.dumps(results, indent=1))
        print(json.dumps({name: results[name]}), flush=True)


if __name__ == "__main__":
    main()
