"""How fast is one relevance map read back, gzip level 1 (``nibabel.save``) against fastgz?

    .venv/bin/python benchmarks/map_encoding.py [--repeats 9]

Two maps on the real MNI152NLin2009cAsym 1 mm grid (193 x 229 x 193 float32), built as in
``group_scale.py``: LRP-like (random positive values inside the brain mask, 22% of the voxels)
and guided-backprop-like (the mask dilated by 25 voxels, 47%). Each is encoded both ways; reported
per encoding: file size, time to write, time to inflate alone (the group reader's own loop,
``niftistream._blocks``: ISA-L, 256 KB read, at most 1 MB out per step) and time for what the
group level does per map (``iter_values`` plus adding into a float32 sum). Medians of
``--repeats``, the two encodings alternated.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _elapsed_ms(func) -> float:
    start = time.perf_counter()
    func()
    return 1e3 * (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    from scipy import ndimage

    from bids_lrp.fastgz import sparse_gzip
    from bids_lrp.grid import Grid
    from bids_lrp.group.niftistream import _blocks, iter_values, keep_freed_memory
    from bids_lrp.templates import get_template

    keep_freed_memory()
    template = get_template("MNI152NLin2009cAsym")
    mask = template.brain_mask()
    grid = Grid(mask.shape, template.affine())
    total = np.zeros(grid.size, np.float32)
    rng = np.random.default_rng(0)

    def inflate(path: Path) -> None:
        for _ in _blocks(path):
            pass

    def read_and_add(path: Path) -> None:
        for pos, values in iter_values(path, grid):
            total[pos : pos + len(values)] += values

    encoders = {
        "gzip level 1": lambda raw: gzip.compress(raw, compresslevel=1, mtime=0),
        "fastgz": sparse_gzip,
    }
    support = {"LRP-like": mask, "guided-backprop-like": ndimage.binary_dilation(mask, None, 25)}
    print("| map | encoding | file MB | write s | inflate ms | read + add ms |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, inside in support.items():
            data = np.zeros(mask.shape, np.float32)
            data[inside] = rng.gamma(0.5, 2e-7, int(inside.sum())).astype(np.float32)
            img = nib.Nifti1Image(data, template.affine())
            img.header.set_data_dtype(np.float32)
            raw = img.to_bytes()
            rows = {}
            for label, encode in encoders.items():
                start = time.perf_counter()
                encoded = encode(raw)
                write_s = time.perf_counter() - start
                path = Path(tmp) / f"{label.replace(' ', '_')}.nii.gz"
                path.write_bytes(encoded)
                rows[label] = (path, len(encoded) / 1e6, write_s, [], [])
            for _ in range(args.repeats):  # alternated: both see the same machine load
                for path, _, _, inflate_ms, read_ms in rows.values():
                    inflate_ms.append(_elapsed_ms(lambda p=path: inflate(p)))
                    read_ms.append(_elapsed_ms(lambda p=path: read_and_add(p)))
            for label, (_, size, write_s, inflate_ms, read_ms) in rows.items():
                print(
                    f"| {name} | {label} | {size:.2f} | {write_s:.2f} | "
                    f"{np.median(inflate_ms):.1f} | {np.median(read_ms):.1f} |"
                )


if __name__ == "__main__":
    main()
