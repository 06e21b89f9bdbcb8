"""Group level at scale: 1,000 simulated participants' outputs, wall time and peak memory.

    .venv/bin/python benchmarks/group_scale.py --participants 1000 --nprocs 2

Builds a derivatives folder the way the participant level writes it (same names, same TSV
formats, relevance maps on the real MNI152NLin2009cAsym 1 mm grid, 193 x 229 x 193 float32,
compressed as the participant level does (``bids_lrp.fastgz``; ``--gzip nibabel``: gzip level 1
as ``nibabel.save``), as sparse as the maps of a real run: LRP non-zero on the 22%
of voxels in the brain mask, guided backprop on 47%; the other participant files as empty
placeholders, so that the folder listing is realistic) plus a raw dataset with
``participants.tsv``. The maps are generated for a pool of distinct images (``--pool``) and
copied per participant: the group level still decompresses each of the 2,000 files, but the
generation takes minutes, not an hour. Then runs ``bids_lrp <bids> <out> group`` in a child
process and reports its wall time, CPU time and peak resident memory
(``getrusage(RUSAGE_CHILDREN)``), and the time of the data part alone (the log line "group
tables and maps written", before the HTML report). Generation is timed separately.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np

SPACE = "MNI152NLin2009cAsym"
ATLAS = "Neuromorphometrics"
METHODS = ("LRPb0", "GuidedBackprop")
MODEL = "boehle2019adni"
PLACEHOLDERS = (
    f"space-{SPACE}_desc-preproc_T1w.nii.gz",
    f"space-{SPACE}_desc-preproc_T1w.json",
    f"from-T1w_to-{SPACE}_mode-image_xfm.mat",
    f"from-T1w_to-{SPACE}_mode-image_xfm.json",
    f"from-{SPACE}_to-T1w_mode-image_xfm.mat",
    f"from-{SPACE}_to-T1w_mode-image_xfm.json",
    "space-T1w_desc-LRPb0_relevance.nii.gz",
    "space-T1w_desc-LRPb0_relevance.json",
    "space-T1w_desc-GuidedBackprop_relevance.nii.gz",
    "space-T1w_desc-GuidedBackprop_relevance.json",
)


def _pool_item(args: tuple[int, bool, Path, str]) -> None:
    """One distinct pair of maps (LRP-like and guided-backprop-like) and their region tables."""
    from scipy import ndimage

    from bids_lrp.fastgz import sparse_gzip
    from bids_lrp.regions import region_table
    from bids_lrp.templates import get_atlas, get_template

    k, ad_like, folder, encoding = args
    rng = np.random.default_rng(k)
    template = get_template(SPACE)
    mask = template.brain_mask()
    atlas = get_atlas(ATLAS, SPACE)
    temporal = np.isin(
        atlas.labels,
        atlas.table.loc[
            atlas.table["area"].isin(
                ["Hippocampus", "Amygdala", "PP_planum_polare", "ITG_inferior_temporal_gyrus"]
            ),
            "index",
        ],
    )
    # LRP-like: non-negative relevance inside the template brain mask (the network input is
    # masked, so alpha1-beta0 relevance is 0 outside); guided-backprop-like: a wider support.
    wide = ndimage.binary_dilation(mask, iterations=25)
    for method, support in (("LRPb0", mask), ("GuidedBackprop", wide)):
        data = np.zeros(mask.shape, dtype=np.float32)
        values = rng.gamma(0.5, 2e-7, int(support.sum()))
        boost = np.where(temporal[support], 4.0 if ad_like else 1.5, 1.0)
        data[support] = (values * boost).astype(np.float32)
        img = nib.Nifti1Image(data, template.affine())
        img.header.set_data_dtype(np.float32)
        img.header.set_xyzt_units("mm")
        if encoding == "nibabel":
            raw = gzip.compress(img.to_bytes(), compresslevel=1, mtime=0)
        else:  # as the participant level writes them (bids_lrp.fastgz)
            raw = sparse_gzip(img.to_bytes())
        (folder / f"pool{k:03d}_{method}.nii.gz").write_bytes(raw)
        table = region_table(data, atlas.labels, atlas.table, 1.0)
        table.to_csv(
            folder / f"pool{k:03d}_{method}.tsv",
            sep="\t",
            index=False,
            na_rep="n/a",
            float_format="%.8g",
        )


def _sidecar(method: str) -> str:
    name = {"LRPb0": "boehle2019", "GuidedBackprop": "guided-backprop"}[method]
    return json.dumps({"Method": name, "MethodParameters": {}, "TargetClass": "AD"}, indent=2)


def generate(
    root: Path, n: int, pool: int, nprocs: int, encoding: str = "bids_lrp", seed: int = 0
) -> tuple[Path, Path]:
    """Write ``root/bids`` (participants.tsv) and ``root/out`` (participant outputs)."""
    bids, out, pool_dir = root / "bids", root / "out", root / "pool"
    for folder in (bids, out, pool_dir):
        folder.mkdir(parents=True, exist_ok=True)
    (bids / "dataset_description.json").write_text(
        json.dumps({"Name": "group benchmark", "BIDSVersion": "1.10.0"})
    )
    (out / "dataset_description.json").write_text(
        json.dumps({"Name": "bids_lrp derivatives", "DatasetType": "derivative"})
    )
    jobs = [(k, k % 2 == 0, pool_dir, encoding) for k in range(pool)]
    with ProcessPoolExecutor(nprocs) as executor:
        list(executor.map(_pool_item, jobs))
    rng = np.random.default_rng(seed)
    lines = ["participant_id\tdiagnosis\tage\tsex\thippocampus_mm3"]
    for i in range(1, n + 1):
        sub = f"sub-{i:04d}"
        ad = bool(rng.random() < 0.5)
        volume = rng.normal(6000 if ad else 7200, 700)  # FreeSurfer-like hippocampal volume
        lines.append(f"{sub}\t{'AD' if ad else 'CN'}\t{rng.uniform(55, 90):.1f}\tF\t{volume:.0f}")
        k = 2 * int(rng.integers(pool // 2)) + (0 if ad else 1)
        anat = out / sub / "ses-1" / "anat"
        anat.mkdir(parents=True)
        prefix = f"{sub}_ses-1"
        # About 87% correct, as the paper's network.
        p_ad = float(np.clip(rng.beta(6, 2) if ad else rng.beta(2, 6), 0, 1))
        if rng.random() < 0.13:
            p_ad = 1 - p_ad
        predicted = "AD" if p_ad >= 0.5 else "HC"
        (anat / f"{prefix}_desc-{MODEL}_predictions.tsv").write_text(
            "model\ttarget_class\tpredicted_class\tprobability_HC\tprobability_AD\t"
            "logit_HC\tlogit_AD\n"
            f"{MODEL}\tAD\t{predicted}\t{1 - p_ad:.6f}\t{p_ad:.6f}\t0.000000\t0.000000\n"
        )
        (anat / f"{prefix}_desc-{MODEL}_predictions.json").write_text("{}\n")
        for method in METHODS:
            stem = f"{prefix}_space-{SPACE}_desc-{method}_relevance"
            shutil.copyfile(pool_dir / f"pool{k:03d}_{method}.nii.gz", anat / f"{stem}.nii.gz")
            (anat / f"{stem}.json").write_text(_sidecar(method))
            table = f"{prefix}_space-{SPACE}_atlas-{ATLAS}_desc-{method}_relevance"
            shutil.copyfile(pool_dir / f"pool{k:03d}_{method}.tsv", anat / f"{table}.tsv")
            (anat / f"{table}.json").write_text("{}\n")
        for name in PLACEHOLDERS:
            (anat / f"{prefix}_{name}").write_bytes(b"{}\n" if name.endswith(".json") else b"")
    (bids / "participants.tsv").write_text("\n".join(lines) + "\n")
    shutil.rmtree(pool_dir)
    return bids, out


#: The group level without its HTML report (the app's report replaced by `NoReport`).
WITHOUT_REPORT = (
    "import sys; from bids_lrp.group.run import NoReport; "
    "from bids_lrp.reports import background; background.GroupReport = NoReport; "
    "from bids_lrp.cli.run import main; sys.exit(main(sys.argv[1:]))"
)


#: ``--paper``: the paper's analyses on top (68 areas, volume correlation of an external column).
PAPER_OPTIONS = ["--area-grouping", "boehle2019", "--volumes", "Hippocampus=hippocampus_mm3"]


def run_group(
    bids: Path, out: Path, nprocs: int, report: bool = True, paper: bool = False
) -> dict[str, float]:
    """Run the group level in a child process; its wall and CPU time, peak RSS, exit code."""
    env = {**os.environ, "NIPYPE_NO_ET": "1"}
    env.setdefault("MPLCONFIGDIR", str(out.parent / "mpl"))
    entry = ["-m", "bids_lrp.cli.run"] if report else ["-c", WITHOUT_REPORT]
    command = [sys.executable, *entry, str(bids), str(out), "group"]
    command += ["--nprocs", str(nprocs), "-w", str(out.parent / "work")]
    command += PAPER_OPTIONS if paper else []
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, check=False, capture_output=True, text=True)
    wall = time.perf_counter() - start
    sys.stderr.write(proc.stderr)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    data = re.search(r"group tables and maps written in ([0-9.]+) s", proc.stderr)
    return {
        "exit": proc.returncode,
        "wall_s": wall,
        "data_s": float(data[1]) if data else float("nan"),
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "sys_s": usage.ru_stime,
        "peak_gb": usage.ru_maxrss / 1024**2,
    }


def time_pybids(out: Path) -> float:
    """Seconds pybids takes to index the output folder (for the collector's design note)."""
    from bids import BIDSLayout

    start = time.perf_counter()
    layout = BIDSLayout(str(out), validate=False, config=["bids", "derivatives"])
    layout.get(suffix="relevance", extension=".tsv")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--pool", type=int, default=64, help="distinct map pairs generated")
    parser.add_argument("--nprocs", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    parser.add_argument("--reuse", action="store_true", help="keep data found in --workdir")
    parser.add_argument("--keep", action="store_true", help="do not delete the data")
    parser.add_argument("--pybids", action="store_true", help="also time a pybids index")
    parser.add_argument(
        "--gzip",
        choices=("bids_lrp", "nibabel"),
        default="bids_lrp",
        help="how the maps are compressed: as the participant level writes them "
        "(bids_lrp.fastgz, default) or as nibabel.save does (gzip level 1)",
    )
    parser.add_argument(
        "--without-report", action="store_true", help="time the data part alone (no HTML)"
    )
    parser.add_argument(
        "--paper",
        action="store_true",
        help="with the paper's analyses: 68 areas and the hippocampal volume correlation",
    )
    args = parser.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="bids_lrp-group-bench-"))
    try:
        if args.reuse and (root / "out").is_dir():
            bids, out = root / "bids", root / "out"
            print(f"reusing {root}")
        else:
            start = time.perf_counter()
            bids, out = generate(root, args.participants, args.pool, args.nprocs, args.gzip)
            print(f"generation: {time.perf_counter() - start:.1f} s ({root})")
        shutil.rmtree(out / "group", ignore_errors=True)
        inflate = "ISA-L (isal)" if importlib.util.find_spec("isal") else "zlib"
        load = os.getloadavg()[0]
        result = run_group(
            bids, out, args.nprocs, report=not args.without_report, paper=args.paper
        )
        rest = "start-up" if args.without_report else "start-up and the HTML report"
        print(
            f"group level ({inflate}, load average before {load:.2f}): exit {result['exit']}, "
            f"wall {result['wall_s']:.1f} s (data part {result['data_s']:.1f} s, the rest is "
            f"{rest}), CPU {result['cpu_s']:.1f} s (of which system {result['sys_s']:.1f} s), "
            f"peak RSS {result['peak_gb']:.2f} GB"
        )
        summary = json.loads((out / "group" / "group_summary.json").read_text())
        print(f"images used {summary['ImagesUsed']}, files {len(summary['Files'])}")
        if args.pybids:
            print(f"pybids BIDSLayout index of the outputs: {time_pybids(out):.1f} s")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
