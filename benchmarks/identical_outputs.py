"""Are the outputs of a full participant and group run byte-identical to a recorded manifest?

A refactoring must not change what the app writes. This runs ``bids_lrp-simulate`` (2
participants, fixed seed), the participant level with ``--omp-nthreads 1`` (bit-reproducible
registrations) and the group level with the paper's preset, then hashes every output file.
Names that carry the time of the run (``logs/config-<time>.toml``) are left out.

Usage (the same ``--work`` both times: ``dataset_description.json`` records the input's path)::

    python benchmarks/identical_outputs.py --work /tmp/ident --write manifest.json    # before
    python benchmarks/identical_outputs.py --work /tmp/ident --compare manifest.json  # after

Exit status 1 and the differing files when ``--compare`` finds a difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path


def run(work: Path) -> Path:
    """Simulate, run both levels; return the output folder."""
    if work.exists():
        shutil.rmtree(work)
    bin_dir = Path(sys.executable).parent
    bids, out = work / "bids", work / "out"
    subprocess.run(
        [str(bin_dir / "bids_lrp-simulate"), str(bids), "--n-subjects", "2", "--seed", "11",
         "--quiet"],
        check=True,
    )  # fmt: skip
    common = [str(bids), str(out)]
    subprocess.run(
        [str(bin_dir / "bids_lrp"), *common, "participant", "-w", str(work / "work"),
         "--nprocs", "2", "--omp-nthreads", "1", "--preset", "boehle2019"],
        check=True,
    )  # fmt: skip
    subprocess.run(
        [str(bin_dir / "bids_lrp"), *common, "group", "--preset", "boehle2019"], check=True
    )
    return out


def manifest(out: Path) -> dict[str, str]:
    """SHA-256 of every output file, by its path in the output folder."""
    files = {}
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out).as_posix()
        if path.is_file() and not relative.startswith("logs/config-"):
            files[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path, help="record the manifest here")
    action.add_argument("--compare", type=Path, help="compare with this manifest")
    args = parser.parse_args(argv)
    found = manifest(run(args.work))
    if args.write:
        args.write.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
        print(f"{len(found)} files recorded in {args.write}")
        return 0
    wanted = json.loads(args.compare.read_text())
    differ = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
    for name in differ:
        how = "missing" if name not in found else "new" if name not in wanted else "changed"
        print(f"differs: {name} ({how})")
    print(f"{len(found)} files, {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
