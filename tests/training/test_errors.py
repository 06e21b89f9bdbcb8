"""Bad input: one line on stderr, exit 64, nothing written, no image loaded, no training."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import bids_lrp.training.files as files_module
import bids_lrp.training.run as run_module
from bids_lrp.cli.train import main
from tests.training.helpers import NET_8MM, TEMPLATE, grid, make_toy_dataset, write_scan

FAST = ["--grid-mm", "8", *NET_8MM, "--threads", "1", "--epochs", "1"]


@pytest.fixture
def never_load(monkeypatch):
    """Fail loudly if a bad request gets as far as loading images or training."""

    def refuse(*args, **kwargs):
        raise AssertionError("images were loaded or training started")

    monkeypatch.setattr(run_module, "load_scans", refuse)
    monkeypatch.setattr(run_module, "train_model", refuse)


def _run(capsys, scans_dir, out, *extra: str) -> tuple[int, str]:
    code = main([str(scans_dir), "--out", str(out), *FAST, *extra])
    err = capsys.readouterr().err.strip().splitlines()
    return code, [line for line in err if "bids_lrp-train: error" in line or "usage" in line]


def _labels(bids, text: str) -> None:
    (bids / "participants.tsv").write_text(text)


def _tsv(values: list[str]) -> str:
    rows = [f"sub-{i:02d}\t{v}" for i, v in enumerate(values, start=1)]
    return "participant_id\tdiagnosis\n" + "\n".join(rows) + "\n"


CASES = {
    "one class": (lambda b, s: _labels(b, _tsv(["AD"] * 6)), [], "no scan is HC"),
    "too few of a class": (
        lambda b, s: _labels(b, _tsv(["AD"] * 4 + ["CN"] * 2)),
        [],
        "class HC has 2 participant",
    ),
    "labels missing": (
        lambda b, s: _labels(b, _tsv(["AD"] * 3 + ["CN", "n/a"])),
        [],
        "no 'diagnosis' label in participants.tsv for 2 participant\\(s\\) with scans: "
        "sub-05, sub-06",
    ),
    "label column": (lambda b, s: None, ["--label-column", "dx"], "has no column 'dx'"),
    "grids differ": (
        lambda b, s: write_scan(
            s / "sub-02" / "anat" / f"sub-02_space-{TEMPLATE}_desc-preproc_T1w.nii.gz",
            np.zeros(grid(6.0)[0]),
            grid(6.0)[1],
        ),
        [],
        "scans are on different grids",
    ),
    "registrations differ": (
        lambda b, s: (
            s / "sub-03" / "anat" / f"sub-03_space-{TEMPLATE}_desc-preproc_T1w.json"
        ).write_text(json.dumps({"Template": {"Registration": "syn"}})),
        [],
        "registered differently: affine \\(5 scans\\), syn \\(1 scans\\)",
    ),
    "network too big": (
        lambda b, s: None,
        ["--pools", "2", "3", "2", "3", "--channels", "8", "16", "32", "64"],
        "the network does not fit the 8 mm grid",
    ),
    "labels in both": (lambda b, s: None, ["--hc-labels", "AD"], "in both --ad-labels"),
    "no scans": (
        lambda b, s: [shutil.rmtree(d) for d in s.glob("sub-*")],
        [],
        "no \\*_space-MNI152NLin2009cAsym_desc-preproc_T1w.nii.gz scans found in",
    ),
    "fractions": (lambda b, s: None, ["--val-fraction", "0.5", "--test-fraction", "0.5"], "sum"),
    "bad value": (lambda b, s: None, ["--epochs", "0"], "argument --epochs: '0' must be"),
    "negative warm-up": (lambda b, s: None, ["--warmup", "-1"], "argument --warmup: '-1' must"),
    "two warm-ups": (
        lambda b, s: None,
        ["--warmup", "2", "--decay-warmup", "2"],
        "--warmup and --decay-warmup are two warm-ups",
    ),
    "monitoring after the last epoch": (
        lambda b, s: None,
        ["--epochs", "3", "--monitor-from", "4"],
        "--monitor-from 4 is after the last epoch \\(--epochs 3\\)",
    ),
    "smoothing of 1": (
        lambda b, s: None,
        ["--label-smoothing", "1"],
        "argument --label-smoothing: '1' must",
    ),
    "no cuda": (lambda b, s: None, ["--device", "cuda"], "no CUDA device"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case, tmp_path, capsys, never_load, monkeypatch):
    if case == "no cuda":  # on a GPU machine too: the check is what is tested
        import torch

        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    bids, scans = make_toy_dataset(tmp_path, n_ad=3, n_hc=3)
    change, extra, message = CASES[case]
    change(bids, scans)
    out = tmp_path / "models" / "m.safetensors"
    code, lines = _run(capsys, scans, out, *extra)
    assert code == 64
    assert len(lines) == 1, lines
    assert re.search(message, lines[0]), lines[0]
    assert not out.parent.exists()  # nothing written


def test_existing_outputs_and_bad_suffix(tmp_path, capsys, never_load):
    _, scans = make_toy_dataset(tmp_path, n_ad=3, n_hc=3)
    out = tmp_path / "m.safetensors"
    (tmp_path / "m_curves.png").write_bytes(b"old")
    code, lines = _run(capsys, scans, out)
    assert code == 64 and "m_curves.png exists" in lines[0] and "--overwrite" in lines[0]
    assert (tmp_path / "m_curves.png").read_bytes() == b"old" and not out.exists()
    code, lines = _run(capsys, scans, tmp_path / "m.pt")
    assert code == 64 and "must end in .safetensors" in lines[0]


def _unscaled(path):
    write_scan(path, np.full(grid(8.0)[0], 900.0), grid(8.0)[1])
    return "not a network input"


def _truncated(path):
    path.write_bytes(path.read_bytes()[:-100])  # the header reads; the data does not
    return f"cannot read {path}: file is truncated or corrupt"


@pytest.mark.parametrize("damage", [_unscaled, _truncated], ids=["unscaled", "truncated"])
def test_a_bad_scan_is_refused_before_training(tmp_path, capsys, monkeypatch, damage):
    def refuse(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(run_module, "train_model", refuse)
    _, scans = make_toy_dataset(tmp_path, n_ad=3, n_hc=3)
    path = scans / "sub-02" / "anat" / f"sub-02_space-{TEMPLATE}_desc-preproc_T1w.nii.gz"
    message = damage(path)
    out = tmp_path / "models" / "m.safetensors"
    code, lines = _run(capsys, scans, out)
    assert code == 64 and len(lines) == 1, lines
    assert message in lines[0] and not out.parent.exists()
    assert not out.parent.exists()


def _disk_full_at(monkeypatch, name: str) -> None:
    """Let every output be written but ``name`` (a curve figure): that one finds a full disk."""
    real = files_module.save_figure

    def save_figure(fig, path, **kwargs):
        if Path(path).name == name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fig, path, **kwargs)

    monkeypatch.setattr(files_module, "save_figure", save_figure)


@pytest.mark.parametrize(
    ("extra", "fails"), [([], "m_curves.svg"), (["--folds", "2"], "m_fold-2_curves.svg")]
)
def test_a_full_disk_leaves_no_output(extra, fails, tmp_path, capsys, monkeypatch):
    _, scans = make_toy_dataset(tmp_path, n_ad=4, n_hc=4)
    _disk_full_at(monkeypatch, fails)
    out = tmp_path / "new" / "models" / "m.safetensors"
    code, lines = _run(capsys, scans, out, *extra)
    assert code == 73 and len(lines) == 1, lines
    assert lines[0] == (
        f"bids_lrp-train: error: cannot write the outputs into {out.parent}: "
        "No space left on device; nothing was written"
    )
    assert not (tmp_path / "new").exists()  # neither files nor the folders made for them


def test_a_full_disk_keeps_the_earlier_outputs(tmp_path, capsys, monkeypatch):
    _, scans = make_toy_dataset(tmp_path, n_ad=3, n_hc=3)
    out = tmp_path / "models" / "m.safetensors"
    assert _run(capsys, scans, out)[0] == 0
    before = {p.name: p.read_bytes() for p in out.parent.iterdir()}
    assert len(before) == 5  # weights, card, history, two curve figures
    _disk_full_at(monkeypatch, "m_curves.svg")
    code, lines = _run(capsys, scans, out, "--overwrite", "--seed", "1")
    assert code == 73 and "No space left on device" in lines[0]
    assert {p.name: p.read_bytes() for p in out.parent.iterdir()} == before
