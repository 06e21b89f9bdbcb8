"""A regular (not editable) install carries the shipped model and its card."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_the_shipped_model(tmp_path):
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run(
        [*pip, "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("bids_lrp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("boehle2019.safetensors", "boehle2019.json"):
        assert f"bids_lrp/data/models/{name}" in names
    assert "bids_lrp/cli/parser.py" in names
