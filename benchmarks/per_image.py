"""Wall time and peak memory of the participant level per real image, as a user runs it.

Each scan becomes its own participant of one BIDS dataset; each participant runs alone, one
after the other, through ``bids_lrp ... participant --participant-label <l>`` with the default
options (shipped model, its affine registration, both default methods, native-space maps,
report), under GNU ``time -v``. Scans: Colin27 (Debian ``mricron-data``), nilearn's MNI152 2009a
T1w, pydeface's mean head (``--pydeface-wheel``, from PyPI: ``pip download pydeface --no-deps``)
and one simulated scan.

Usage::

    python benchmarks/per_image.py --work /tmp/per_image [--pydeface-wheel pydeface-*.whl]
    python benchmarks/per_image.py --work /tmp/per_image_syn --only colin27 simulated \
        --extra=--registration --extra=syn

Prints one Markdown row per image: voxels, wall time, peak memory of the largest process, and
the N4 and registration times from the run's log.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nibabel as nib

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")


def _nilearn_mni() -> Path:
    import nilearn

    name = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    return Path(nilearn.__file__).parent / "datasets" / "data" / name


def _dataset(root: Path, scans: dict[str, Path]) -> None:
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "per-image benchmark", "BIDSVersion": "1.10.0"})
    )
    (root / "README").write_text("Real and simulated T1w scans, one per participant.\n")
    rows = ["participant_id"]
    for label, path in scans.items():
        anat = root / f"sub-{label}" / "anat"
        anat.mkdir(parents=True)
        target = anat / f"sub-{label}_T1w.nii.gz"
        data = path.read_bytes()
        target.write_bytes(data if data[:2] == b"\x1f\x8b" else gzip.compress(data))
        (anat / f"sub-{label}_T1w.json").write_text("{}")
        rows.append(f"sub-{label}")
    (root / "participants.tsv").write_text("\n".join(rows) + "\n")


def _seconds(log: str, step: str) -> float | None:
    """Seconds of a step from the run's progress lines (``[   12s] sub-x: n4 done``)."""
    times = [int(m) for m in re.findall(r"\[\s*(\d+)s\] [^:]+: (?:\w+ )?" + step + " done", log)]
    return float(times[0]) if times else None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--pydeface-wheel", type=Path)
    parser.add_argument(
        "--extra", action="append", default=[], help="one more option for bids_lrp (repeat)"
    )
    parser.add_argument("--only", nargs="*", help="run only these images (labels)")
    args = parser.parse_args(argv)
    if args.work.exists():
        shutil.rmtree(args.work)
    scans = {"colin27": COLIN27, "mni152nlin2009asym": _nilearn_mni()}
    if args.pydeface_wheel:
        with zipfile.ZipFile(args.pydeface_wheel) as wheel:
            target = args.work / "meanhead.nii.gz"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(wheel.read("pydeface/data/mean_reg2mean.nii.gz"))
        scans["pydefacemeanhead"] = target
    sim = args.work / "sim"
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [str(bin_dir / "bids_lrp-simulate"), str(sim), "--n-subjects", "1", "--seed", "3",
         "--quiet"],
        check=True,
    )  # fmt: skip
    scans["simulated"] = sim / "sub-001" / "anat" / "sub-001_T1w.nii.gz"
    bids = args.work / "bids"
    _dataset(bids, scans)
    print("| image | voxels | wall time (s) | peak memory, largest process (GB) | N4 done (s) |")
    print("|---|---|---|---|---|")
    for label, path in scans.items():
        if args.only and label not in args.only:
            continue
        shape = nib.load(path).shape[:3]
        command = [
            "/usr/bin/time", "-v", str(bin_dir / "bids_lrp"), str(bids), str(args.work / "out"),
            "participant", "--participant-label", label, "-w", str(args.work / "work"),
            *args.extra,
        ]  # fmt: skip
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        log = proc.stderr
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", log)
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)
        parts = [float(p) for p in wall.group(1).split(":")] if wall else []
        seconds = sum(p * 60 ** (len(parts) - 1 - i) for i, p in enumerate(parts))
        n4 = _seconds(log, "n4")
        print(
            f"| {label} | {'x'.join(map(str, shape))} | {seconds:.0f} | "
            f"{int(rss.group(1)) / 1e6 if rss else float('nan'):.2f} | "
            f"{'n/a' if n4 is None else f'{n4:.0f}'} |",
            flush=True,
        )
        if proc.returncode != 0:
            print(f"<!-- {label}: exit {proc.returncode}: {log[-2000:]} -->")


if __name__ == "__main__":
    main()
