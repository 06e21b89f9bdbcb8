"""Training memory against cohort size, and the loader's throughput against the model's.

Question: does ``bids_lrp-train --cache`` keep memory bounded as the cohort grows, and can its
loader keep the network busy?

For each cohort size N, a cache of N network inputs on the 2 mm grid (97 x 115 x 97) is written
straight from synthetic brains (noisy ellipsoids, as the tests' toy scans; ``write_inputs``, no
NIfTI files, so 5,000 scans take minutes, not hours). Then, each in a fresh process, the
paper's network takes ``--steps`` training steps of batch 4 and validates on 8 scans, with the
inputs

- in memory: all N rows read into one float32 array first, which is what ``bids_lrp-train``
  without ``--cache`` holds (`bids_lrp.model.network_input.load_scans`), or
- from the cache: `bids_lrp.model.scan_cache.ScanCache`, read a batch at a time.

Peak memory is the child's peak resident set size (``VmHWM``; the DataLoader workers,
forked from it, hold a batch each on top). Where the in-memory array
would not fit in RAM, that run is skipped and its size stated. Throughput: scans/s the loader
reads (random batches of 4; main process and 2 workers; float32 and uint8 caches; the file
pages are in the page cache after the first pass, as on a machine whose RAM holds the cache) and
scans/s one training step processes (forward + backward + Adam), at 2 mm and at 1 mm.

    python benchmarks/training_scale.py --work /tmp/scale --sizes 100 1000 5000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bids_lrp.model.loader import BatchReader
from bids_lrp.model.network import build_model
from bids_lrp.model.scan_cache import ScanCache, write_inputs
from bids_lrp.model.train import Recipe, train_model

SHAPES = {2.0: (97, 115, 97), 1.0: (193, 229, 193)}


def _brains(shape, n_kinds: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = np.stack(np.meshgrid(*[np.linspace(-1, 1, k) for k in shape], indexing="ij"))
    inside = (idx**2).sum(axis=0) < 0.8
    out = []
    for _ in range(n_kinds):
        image = np.where(inside, 0.4 + 0.1 * rng.standard_normal(shape), 0.0).clip(0, None)
        out.append((image / image.max()).astype(np.float32))
    return np.stack(out)


def write_synthetic_cache(folder: Path, n: int, grid_mm: float, dtype: str) -> None:
    """A cache of ``n`` synthetic inputs (`write_inputs`; no scan files behind it)."""
    if (folder / "cache.json").is_file():
        return
    shape = SHAPES[grid_mm]
    kinds = _brains(shape)
    index = {
        "affine": np.diag([grid_mm] * 3 + [1.0]).tolist(),
        "resampling": "synthetic",
        "scans": [{"prefix": f"sub-{i:05d}", "sha256": "synthetic"} for i in range(n)],
    }
    rows = (kinds[i % len(kinds)] for i in range(n))
    write_inputs(folder, rows, (n, *shape), dtype, index)


def _child(folder: Path, mode: str, steps: int, grid_mm: float) -> dict:
    torch.set_num_threads(2)
    cache = ScanCache(folder)
    images = cache[np.arange(len(cache))] if mode == "memory" else cache
    n = len(cache)
    labels = np.arange(n) % 2
    rng = np.random.default_rng(0)
    order = rng.permutation(n)
    train, val = order[: 4 * steps], order[4 * steps : 4 * steps + 8]
    recipe = Recipe(epochs=1, min_epochs=0, patience=1, shift=(-1, 2))

    def build():
        return build_model("boehle2019", input_shape=SHAPES[grid_mm])

    tic = time.perf_counter()
    train_model(build, images, labels, train, val, recipe, workers=2 if mode == "cache" else 0)
    seconds = time.perf_counter() - tic
    return {"mode": mode, "n_scans": n, "peak_rss_gib": round(_peak_gib(), 3),
            "seconds": round(seconds, 1)}  # fmt: skip


def _peak_gib() -> float:
    """This process's peak resident set (VmHWM: of this program only; ``ru_maxrss`` also
    counts what the parent held when it started the process)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024**2  # KiB -> GiB


def _run_child(folder: Path, mode: str, steps: int, grid_mm: float) -> dict:
    command = [sys.executable, __file__, "--child", str(folder), mode, str(steps), str(grid_mm)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def loader_throughput(folder: Path, workers: int, batches: int = 40) -> float:
    """Scans/s read in random batches of 4 (after a warm pass over the same rows, which also
    starts the workers: they are kept for every epoch)."""
    cache = ScanCache(folder)
    rng = np.random.default_rng(1)
    chosen = [rng.choice(len(cache), 4, replace=False) for _ in range(batches)]
    reader = BatchReader(cache, workers)
    for _ in reader.read(chosen):  # warm the page cache and start the workers
        pass
    tic = time.perf_counter()
    for _ in reader.read(chosen):
        pass
    return 4 * batches / (time.perf_counter() - tic)


def model_throughput(grid_mm: float, steps: int = 3) -> float:
    """Scans/s of training steps (batch 4, forward + backward + Adam, 2 threads)."""
    torch.set_num_threads(2)
    model = build_model("boehle2019", input_shape=SHAPES[grid_mm])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.from_numpy(_brains(SHAPES[grid_mm], 4)[:, None])
    y = torch.tensor([0, 1, 0, 1])
    times = []
    for _ in range(steps + 1):
        tic = time.perf_counter()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        times.append(time.perf_counter() - tic)
    return 4 / float(np.median(times[1:]))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        folder, mode, steps, grid_mm = sys.argv[2:6]
        print(json.dumps(_child(Path(folder), mode, int(steps), float(grid_mm))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--dtype", default="float16", choices=["float32", "float16", "uint8"])
    args = parser.parse_args()
    available = int(open("/proc/meminfo").read().split("MemAvailable:")[1].split()[0]) * 1024
    rows = []
    for n in args.sizes:
        folder = args.work / f"cache-{n}-{args.dtype}"
        write_synthetic_cache(folder, n, 2.0, args.dtype)
        in_memory = n * int(np.prod(SHAPES[2.0])) * 4
        for mode in ("memory", "cache"):
            if mode == "memory" and in_memory > 0.8 * available:
                rows.append({"mode": mode, "n_scans": n, "peak_rss_gib": None,
                             "skipped": f"needs {in_memory / 2**30:.1f} GiB"})  # fmt: skip
                continue
            rows.append(_run_child(folder, mode, args.steps, 2.0))
        print(json.dumps(rows[-2:]), flush=True)
    throughput = {}
    for dtype in ("float32", "uint8"):
        folder = args.work / f"cache-200-{dtype}"
        write_synthetic_cache(folder, 200, 2.0, dtype)
        for workers in (0, 2):
            throughput[f"loader {dtype} workers={workers}"] = loader_throughput(folder, workers)
    for grid_mm in (2.0, 1.0):
        throughput[f"training step {grid_mm:g} mm"] = model_throughput(grid_mm)
    print(json.dumps({"memory": rows, "scans_per_second": throughput}, indent=1))


if __name__ == "__main__":
    main()
