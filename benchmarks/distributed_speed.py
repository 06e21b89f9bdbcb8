"""Training on two CPU processes (torchrun, gloo) against one: time per epoch.

Question: what does DistributedDataParallel cost or save on a small CPU machine? One epoch of
the paper's network on the 2 mm grid over a cache of synthetic inputs (as
benchmarks/training_scale.py writes them; batch 4, validation on 8 scans), with

- one process and 2 threads, and
- two processes under ``torchrun --standalone --nproc-per-node 2`` with 1 thread each (each
  takes 2 of every batch of 4; BatchNorm over the whole batch, gradients averaged).

    python benchmarks/distributed_speed.py --work /tmp/ddp --scans 40 --repeats 3
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

from bids_lrp.model.distributed import from_environment, process_group
from bids_lrp.model.network import build_model
from bids_lrp.model.scan_cache import ScanCache
from bids_lrp.model.train import Recipe, train_model


def _epoch(folder: Path, threads: int) -> None:
    torch.set_num_threads(threads)
    cache = ScanCache(folder)
    n = len(cache)
    labels = np.arange(n) % 2
    recipe = Recipe(epochs=1, min_epochs=0, patience=1, shift=(-1, 2))
    processes = from_environment()

    def run():
        tic = time.perf_counter()
        train_model(
            lambda: build_model("boehle2019", input_shape=SHAPES[2.0]), cache, labels,
            np.arange(n - 8), np.arange(n - 8, n), recipe, processes=processes,
        )  # fmt: skip
        return time.perf_counter() - tic

    if processes is None:
        seconds = run()
    else:
        with process_group(processes, "cpu"):
            seconds = run()
    if processes is None or processes.main:
        print(json.dumps({"seconds": seconds}), flush=True)


def _timed(command: list[str]) -> float:
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        _epoch(Path(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--scans", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = args.work / f"cache-{args.scans}"
    write_synthetic_cache(folder, args.scans, 2.0, "float16")
    one = [sys.executable, __file__, "--child", str(folder), "2"]
    two = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", __file__, "--child", str(folder), "1"]  # fmt: skip
    rows = {"one process, 2 threads": [], "two processes, 1 thread each": []}
    for _ in range(args.repeats):  # interleaved, so drifts of the machine hit both alike
        rows["one process, 2 threads"].append(_timed(one))
        rows["two processes, 1 thread each"].append(_timed(two))
    out = {k: {"median_s": round(statistics.median(v), 2), "runs": [round(x, 2) for x in v]}
           for k, v in rows.items()}  # fmt: skip
    print(json.dumps({"scans": args.scans, **out}, indent=1))


if __name__ == "__main__":
    main()
