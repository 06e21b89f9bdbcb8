"""Command line: clear one-line errors (exit 64) that write nothing; progress; --overwrite."""

from __future__ import annotations

import pytest

from bids_lrp.simulate.cli import EX_USAGE, main

BAD = [
    (["--n-subjects", "0"], "--n-subjects"),
    (["--ad-fraction", "1.5"], "--ad-fraction"),
    (["--ad-fraction", "-0.1"], "--ad-fraction"),
    (["--atrophy-regions", "hippocampus,nowhere"], "Unknown region 'nowhere'"),
    (["--severity", "-0.1"], "--severity"),
    (["--sessions", "0"], "--sessions"),
    (["--n-subjects", "two"], "invalid int value"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_invalid_arguments(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) if "invalid" in message else _nothing():
        code = main([str(out), *args])
        assert code == EX_USAGE
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert not out.exists()


def test_unknown_region_lists_valid_names(tmp_path, capsys):
    assert main([str(tmp_path / "o"), "--atrophy-regions", "hipocampus"]) == EX_USAGE
    err = capsys.readouterr().err
    assert "hippocampus" in err and "amygdala" in err and "ent_entorhinal_area" in err


def test_non_empty_output_is_refused_then_overwritten(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main([str(out), "--n-subjects", "1", "--no-head"]) == EX_USAGE
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    assert main([str(out), "--n-subjects", "1", "--no-head", "--overwrite"]) == 0
    assert "[1/1] sub-001" in capsys.readouterr().err
    assert not (out / "keep.txt").exists()
    assert (out / "sub-001" / "anat" / "sub-001_T1w.nii.gz").is_file()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
