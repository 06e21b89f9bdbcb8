"""Command line: clear one-line errors (exit 64) that write nothing; progress; --overwrite;
Ctrl-C and SIGTERM (exit 130, 143) leave nothing behind."""

from __future__ import annotations

import json
import os
import signal

import pytest

from bids_lrp.exitcodes import EX_CANTCREAT, EX_USAGE
from bids_lrp.simulate import cohort
from bids_lrp.simulate.cli import main

BAD = [
    (["--n-subjects", "0"], "--n-subjects"),
    (["--ad-fraction", "1.5"], "--ad-fraction"),
    (["--ad-fraction", "-0.1"], "--ad-fraction"),
    (["--atrophy-regions", "hippocampus,nowhere"], "Unknown region 'nowhere'"),
    (["--severity", "-0.1"], "--severity"),
    (["--severity", "nan"], "--severity is a volume-loss fraction: a number within [0, 0.5]"),
    (["--severity", "inf"], "within [0, 0.5] (got inf)"),
    (["--ad-fraction", "nan"], "--ad-fraction must be a number within [0, 1] (got nan)"),
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


def _fake_simulated(folder, generator="bids_lrp-simulate", dataset_type="raw"):
    """A folder marked as an earlier simulator output, with a file of the user's inside."""
    folder.mkdir(parents=True)
    description = {"Name": "x", "DatasetType": dataset_type, "GeneratedBy": [{"Name": generator}]}
    (folder / "dataset_description.json").write_text(json.dumps(description))
    (folder / "keep.txt").write_text("mine")


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_non_empty_output_is_refused_then_overwritten(tmp_path, capsys):
    out = tmp_path / "out"
    _fake_simulated(out)
    assert main([str(out), "--n-subjects", "1", "--no-head"]) == EX_USAGE
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    assert main([str(out), "--n-subjects", "1", "--no-head", "--overwrite"]) == 0
    assert "[1/1] sub-001" in capsys.readouterr().err
    assert not (out / "keep.txt").exists()
    assert (out / "sub-001" / "anat" / "sub-001_T1w.nii.gz").is_file()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda out: (out / "sub").mkdir(parents=True), id="folder"),
        pytest.param(lambda out: _fake_simulated(out, generator="fMRIPrep"), id="other-tool"),
        pytest.param(lambda out: _fake_simulated(out, dataset_type="derivative"), id="derivative"),
    ],
)
def test_overwrite_refuses_a_folder_the_simulator_did_not_write(tmp_path, capsys, make):
    out = tmp_path / "precious"
    make(out)
    (out / "thesis.txt").write_text("thesis")
    before, names = _snapshot(out), sorted(p.name for p in out.iterdir())
    assert main([str(out), "--n-subjects", "1", "--no-head", "--overwrite"]) == EX_USAGE
    err = capsys.readouterr().err
    assert "not a dataset made by bids_lrp-simulate" in err
    assert len(err.strip().splitlines()) == 1
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.iterdir()) == names


def test_unwritable_output_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main([str(tmp_path / "file" / "out"), "--n-subjects", "1"]) == EX_CANTCREAT
    err = capsys.readouterr().err
    assert err.startswith("bids_lrp-simulate: error: cannot write") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def _interrupt_at_scan(monkeypatch, at, action):
    """Run ``action`` (raise or signal) when scan ``at`` (1-based) is about to be rendered."""
    real, calls = cohort.render_scan, []

    def render(spec, model):
        calls.append(spec)
        if len(calls) == at:
            action()
        return real(spec, model)

    monkeypatch.setattr(cohort, "render_scan", render)


def _sigint():
    raise KeyboardInterrupt


def _main_catching(args):
    """``main(args)``, turning an escaped interrupt (or SIGTERM) into a test failure."""

    def escaped(signum, frame):
        raise KeyboardInterrupt(signum)

    previous = signal.signal(signal.SIGTERM, escaped)  # the default would kill pytest
    try:
        code = main(args)
        assert signal.getsignal(signal.SIGTERM) is escaped  # main() put it back
        return code
    except KeyboardInterrupt as err:
        pytest.fail(f"KeyboardInterrupt{err.args} escaped main()")
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize(
    ("at", "action", "code", "name"),
    [  # at scan 2, scan 1 is being written meanwhile
        (2, _sigint, 130, "SIGINT"),
        (1, lambda: os.kill(os.getpid(), signal.SIGINT), 130, "SIGINT"),
        (1, lambda: os.kill(os.getpid(), signal.SIGTERM), 143, "SIGTERM"),
    ],
    ids=["KeyboardInterrupt", "SIGINT", "SIGTERM"],
)
def test_interrupted_run_removes_what_it_wrote(
    tmp_path, capsys, monkeypatch, at, action, code, name
):
    _interrupt_at_scan(monkeypatch, at, action)
    out = tmp_path / "new" / "sim"
    handlers = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
    assert _main_catching([str(out), "--n-subjects", "2", "--no-head"]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"bids_lrp-simulate: interrupted ({name}); the unfinished dataset")
    assert not (tmp_path / "new").exists()  # made by the run, so removed with it
    assert [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)] == handlers


def test_interrupted_overwrite_keeps_the_earlier_dataset(tmp_path, capsys, monkeypatch):
    _interrupt_at_scan(monkeypatch, 2, _sigint)
    out = tmp_path / "sim"
    _fake_simulated(out)
    before = _snapshot(out)
    assert _main_catching([str(out), "--n-subjects", "2", "--no-head", "--overwrite"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.iterdir()) == sorted(before)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
