"""Safe writing: atomic files, staged sets, and one line for a folder that cannot be written."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from bids_lrp.exitcodes import EX_CANTCREAT
from bids_lrp.safewrite import (
    StagedOutputs,
    WriteError,
    atomic_write_bytes,
    remove_stale_temporaries,
    replaced_contents,
    writable_folder,
    writing_into,
)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "a" / "f.txt"
    atomic_write_bytes(target, b"old")

    with pytest.raises(TypeError):
        atomic_write_bytes(target, object())  # the write fails midway
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path):
    folder = tmp_path / "sub-01" / "anat"
    folder.mkdir(parents=True)
    # A process killed in the middle of an atomic write leaves its temporary file behind.
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; from bids_lrp.safewrite import _atomic; "
            "_atomic(sys.argv[1], lambda handle: (handle.write(b'half'), os._exit(9)))",
            str(folder / "sub-01_desc-x_relevance.nii.gz"),
        ],
        check=False,
    )
    assert killed.returncode == 9
    (stale,) = folder.iterdir()
    kept = [folder / "sub-01_T1w.nii.gz", folder / ".bidsignore", folder / "notes.tmp"]
    for path in kept:
        path.write_bytes(b"done")
    assert remove_stale_temporaries(tmp_path / "sub-01") == [stale]
    assert not stale.exists() and all(p.exists() for p in kept)
    assert remove_stale_temporaries(tmp_path / "missing") == []


def test_staged_outputs_appear_together_or_not_at_all(tmp_path):
    folder = tmp_path / "models"
    with StagedOutputs(folder) as staged:
        atomic_write_bytes(staged.path(folder / "a.bin"), b"a")
        atomic_write_bytes(staged.path(folder / "b.json"), b"b")
        assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == []
        staged.publish()
    assert sorted(p.name for p in folder.iterdir()) == ["a.bin", "b.json"]
    with pytest.raises(KeyboardInterrupt), StagedOutputs(folder) as staged:
        atomic_write_bytes(staged.path(folder / "a.bin"), b"new")
        raise KeyboardInterrupt
    assert (folder / "a.bin").read_bytes() == b"a"  # the earlier file is untouched
    assert sorted(p.name for p in folder.iterdir()) == ["a.bin", "b.json"]
    with pytest.raises(ValueError, match="not in"):
        StagedOutputs(folder).path(tmp_path / "elsewhere.bin")
    fresh = tmp_path / "new" / "deep"
    with pytest.raises(RuntimeError), StagedOutputs(fresh):
        raise RuntimeError
    assert not (tmp_path / "new").exists()  # the folders it made are gone again


def test_replaced_contents_swaps_a_whole_folder(tmp_path):
    folder = tmp_path / "data"
    with replaced_contents(folder, prefix=".w-", last="done.json") as staging:
        (staging / "sub").mkdir()
        (staging / "sub" / "x.txt").write_text("1")
        (staging / "done.json").write_text("{}")
    assert sorted(p.name for p in folder.iterdir()) == ["done.json", "sub"]
    with pytest.raises(OSError), replaced_contents(folder, prefix=".w-", last="done.json") as s:
        (s / "half.txt").write_text("x")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert sorted(p.name for p in folder.iterdir()) == ["done.json", "sub"]
    with replaced_contents(folder, prefix=".w-", last="done.json") as staging:
        (staging / "done.json").write_text("{}")
    assert [p.name for p in folder.iterdir()] == ["done.json"]


def test_a_refused_write_is_one_line_with_exit_73(tmp_path):
    with pytest.raises(WriteError, match="cannot write in .*Permission denied") as err:
        with writing_into(tmp_path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path / "f"))
    assert err.value.code == EX_CANTCREAT
    with pytest.raises(OSError) as full, writing_into(tmp_path):  # a failing disk stays one
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert not isinstance(full.value, WriteError) and full.value.errno == errno.ENOSPC
    with (
        pytest.raises(WriteError, match="nothing was written"),
        writing_into(tmp_path, every_error=True),
    ):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_writable_folder_is_created_and_proven(tmp_path):
    assert writable_folder(tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match="cannot create") as err:
        writable_folder(tmp_path / "file" / "sub")
    assert err.value.code == EX_CANTCREAT
