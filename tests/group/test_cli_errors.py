"""``bids_lrp bids out group`` on mistakes: an unwritable ``group/``, unreadable maps, a bad
``participants.tsv``. Each gets one line and its exit code, or a warning and no misleading file.
"""

from __future__ import annotations

import errno
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from bids_lrp.cli.run import main
from tests.group.conftest import IMAGES, SPACE, write_bids

pytestmark = pytest.mark.usefixtures("no_report")


def _run(bids: Path, out: Path, *extra: str) -> int:
    return main([str(bids), str(out), "group", "-w", str(out.parent / "work"), *extra])


def _one_line_error(capsys) -> tuple[str, str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1, err
    return lines[0], err


@pytest.fixture
def out(tmp_path, fake_outputs) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(fake_outputs, copy)
    return copy


def _refuse_writes_in(monkeypatch, folder: Path) -> None:
    """Make every temporary file in ``folder`` fail as on a root-owned or immutable folder."""
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == folder.resolve():
            raise PermissionError(errno.EPERM, "Operation not permitted", str(folder / ".x.tmp"))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


def test_unwritable_group_folder_exit_73_before_any_work(fake_bids, out, monkeypatch, capsys):
    (out / "group").mkdir()
    _refuse_writes_in(monkeypatch, out / "group")
    assert _run(fake_bids, out) == 73
    line, err = _one_line_error(capsys)
    assert f"cannot write in {out / 'group'}" in line and "Operation not permitted" in line
    assert "group level:" not in err  # checked before the analysis started
    assert not list((out / "group").iterdir())


def test_write_refused_later_exit_73(fake_bids, out, monkeypatch, capsys):
    from bids_lrp.group import write

    def refused(path, text):
        raise PermissionError(errno.EACCES, "Permission denied", str(Path(path).parent / ".t.tmp"))

    monkeypatch.setattr(write, "atomic_write_text", refused)
    assert _run(fake_bids, out) == 73
    line, _ = _one_line_error(capsys)
    assert f"cannot write in {out / 'group'}: Permission denied" in line
    assert not (out / "group" / "group_summary.json").exists()
    assert not list((out / "group").glob(".*.tmp"))


def _truncate(out: Path, method: str, images) -> None:
    for image in images:
        anat = out / f"sub-{image.sub}" / (f"ses-{image.ses}" if image.ses else "") / "anat"
        path = anat / f"{image.prefix}_space-{SPACE}_desc-{method}_relevance.nii.gz"
        path.write_bytes(path.read_bytes()[:-200])


def test_no_mean_map_of_a_group_without_readable_maps(fake_bids, out, capsys):
    ad = [i for i in IMAGES if i.diagnosis == "AD"]
    _truncate(out, "LRPb0", ad)
    assert _run(fake_bids, out) == 0
    group = out / "group"
    lrp = sorted(p.name.split("_")[2] for p in group.glob("*desc-LRPb0_cohort-*_mean.nii.gz"))
    assert lrp == ["cohort-FP", "cohort-HC", "cohort-TN", "cohort-all"]  # no mean of nothing
    err = capsys.readouterr().err
    assert "LRPb0: no readable relevance map in group(s) AD, TP, FN" in err
    assert (group / f"space-{SPACE}_desc-GuidedBackprop_cohort-AD_mean.nii.gz").is_file()
    sidecar = json.loads((group / f"space-{SPACE}_desc-LRPb0_cohort-all_mean.json").read_text())
    assert sidecar["SourceFiles"] == len(IMAGES) - len(ad)
    summary = json.loads((group / "group_summary.json").read_text())
    assert any("no readable relevance map in group(s) AD, TP, FN" in s for s in summary["Skipped"])
    assert sorted(summary["MapsSkipped"]) == sorted(i.prefix for i in ad)


def test_no_mean_map_at_all_without_readable_maps(fake_bids, out, capsys):
    _truncate(out, "LRPb0", IMAGES)
    assert _run(fake_bids, out) == 0
    group = out / "group"
    assert not list(group.glob("*desc-LRPb0_cohort-*"))
    assert (group / f"space-{SPACE}_desc-GuidedBackprop_cohort-all_mean.nii.gz").is_file()
    assert "LRPb0: no readable relevance map in group(s) all," in capsys.readouterr().err


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (["sub-01\tAD\t70\textra\tmore"], "line 2 has 5 tab-separated fields, the header 3"),
        (["sub-01\tAD\t70", "sub-01\tCN\t70"], "lists sub-01 twice with different"),
        (["sub-01\tAD\t70", "\tCN\t70"], "line 3 has no participant_id"),
    ],
)
def test_malformed_participants_tsv_exit_64(tmp_path, out, rows, expected, capsys):
    bids = write_bids(tmp_path / "bids", IMAGES[2:])
    path = bids / "participants.tsv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *rows, *lines[1:]]) + "\n")
    assert _run(bids, out) == 64
    line, _ = _one_line_error(capsys)
    assert str(path) in line and expected in line
    assert not (out / "group").exists()


def test_exact_duplicate_participant_counts_once(tmp_path, out, capsys):
    bids = write_bids(tmp_path / "bids")
    with open(bids / "participants.tsv", "a") as handle:
        handle.write("sub-04\tCN\t70\n")
    assert _run(bids, out) == 0
    assert "lists 1 participant(s) twice with the same 'diagnosis' value (sub-04)" in (
        capsys.readouterr().err
    )
