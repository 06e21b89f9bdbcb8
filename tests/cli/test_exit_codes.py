"""Exit codes of the BIDS-Apps execution spec and one-line errors for user mistakes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bids_lrp.cli.run import main
from tests.e2e.helpers import make_model, run_app


def _args(bids: Path, out: Path, model: Path, *extra: str) -> list[str]:
    return [
        str(bids),
        str(out),
        "participant",
        "--model",
        str(model),
        "-w",
        str(out.parent / "work"),
        "--skip-bids-validation",
        *extra,
    ]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert "bids_lrp" in capsys.readouterr().out
    assert main(["--help"]) == 0
    assert "--participant-label" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra",
    [
        ["--methods", "no-such-method"],
        ["--atlas", "NoAtlas"],
        ["--nprocs", "0"],
        ["--device", "tpu"],
        ["--unknown-option"],
    ],
)
def test_usage_errors_64(tmp_path, tiny_bids, tiny_model, extra, capsys):
    assert main(_args(tiny_bids, tmp_path / "out", tiny_model, *extra)) == 64
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("label", ["../01", "sub-01/..", "0 1", "sub-", "a_b", "*"])
def test_label_path_tricks_refused(tmp_path, tiny_bids, tiny_model, label, capsys):
    argv = _args(tiny_bids, tmp_path / "out", tiny_model, "--participant-label", label)
    assert main(argv) == 64
    assert "not a BIDS label" in _one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_session_label_checked(tmp_path, tiny_bids, tiny_model, capsys):
    argv = _args(tiny_bids, tmp_path / "out", tiny_model, "--session-label", "../x")
    assert main(argv) == 64


def test_output_inside_bids_refused(tmp_path, tiny_model, capsys):
    bids = tmp_path / "bids"
    shutil.copytree(Path(__file__).parent, tmp_path / "unused")  # any content
    from tests.cli.conftest import _write_dataset

    _write_dataset(bids)
    for out in (bids, bids / "derivatives" / "bids_lrp"):
        assert main(_args(bids, out, tiny_model)) == 64
        assert "must not be the BIDS dataset or inside it" in _one_line_error(capsys)
    argv = [
        str(bids),
        str(tmp_path / "out"),
        "participant",
        "--model",
        str(tiny_model),
        "-w",
        str(bids / "work"),
        "--skip-bids-validation",
    ]
    assert main(argv) == 64
    assert "work folder" in _one_line_error(capsys)
    assert not (bids / "derivatives").exists() and not (bids / "work").exists()


def test_missing_dataset_16(tmp_path, tiny_model, capsys):
    assert main(_args(tmp_path / "nothing", tmp_path / "out", tiny_model)) == 16
    assert "does not exist" in _one_line_error(capsys)


def test_invalid_bids_16(tmp_path, tiny_bids, tiny_model, capsys):
    bids = tmp_path / "bids"
    shutil.copytree(tiny_bids, bids)
    (bids / "sub-01" / "anat" / "notbids.nii.gz").write_bytes(b"x")
    argv = [
        str(bids),
        str(tmp_path / "out"),
        "participant",
        "--model",
        str(tiny_model),
        "-w",
        str(tmp_path / "work"),
    ]
    assert main(argv) == 16
    assert "not valid BIDS" in _one_line_error(capsys)


def test_unknown_participant_66(tmp_path, tiny_bids, tiny_model, capsys):
    argv = _args(tiny_bids, tmp_path / "out", tiny_model, "--participant-label", "sub-99")
    assert main(argv) == 66
    assert "99" in _one_line_error(capsys)


def test_participant_without_t1w_66(tmp_path, tiny_bids, tiny_model, capsys):
    argv = _args(tiny_bids, tmp_path / "out", tiny_model, "--participant_label", "02")
    assert main(argv) == 66
    assert "No T1w images found for participant 02" in _one_line_error(capsys)


def test_filters_select_nothing_18(tmp_path, tiny_bids, tiny_model, capsys):
    filters = tmp_path / "filters.json"
    filters.write_text(json.dumps({"t1w": {"acquisition": "nosuchacq"}}))
    argv = _args(
        tiny_bids,
        tmp_path / "out",
        tiny_model,
        "--participant-label",
        "01",
        "--bids-filter-file",
        str(filters),
    )
    assert main(argv) == 18
    argv = _args(tiny_bids, tmp_path / "out", tiny_model, "--session-label", "9")
    assert main(argv) == 18


def test_bad_filter_file_64(tmp_path, tiny_bids, tiny_model, capsys):
    filters = tmp_path / "filters.json"
    filters.write_text("{not json")
    argv = _args(tiny_bids, tmp_path / "out", tiny_model, "--bids-filter-file", str(filters))
    assert main(argv) == 64
    filters.write_text(json.dumps({"subject": "01"}))
    assert main(argv) == 64
    assert "unsupported key" in capsys.readouterr().err


def test_unwritable_output_73(tmp_path, tiny_bids, tiny_model, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    assert main(_args(tiny_bids, blocker / "out", tiny_model)) == 73
    assert "cannot create or write the output folder" in _one_line_error(capsys)


def test_model_problems_64(tmp_path, tiny_bids, tiny_model, capsys):
    assert main(_args(tiny_bids, tmp_path / "out", tmp_path / "missing.safetensors")) == 64
    assert "model weights not found" in _one_line_error(capsys)
    other = make_model(tmp_path / "m" / "tpl.safetensors", template="MNI152NLin6Asym")
    assert main(_args(tiny_bids, tmp_path / "out", other)) == 64
    assert "expects inputs in template 'MNI152NLin6Asym'" in _one_line_error(capsys)
    argv = _args(tiny_bids, tmp_path / "out", tiny_model, "--target-class", "MCI")
    assert main(argv) == 64
    assert "--target-class 'MCI' is not a class" in _one_line_error(capsys)
    argv = _args(tiny_bids, tmp_path / "out", tiny_model, "--guided-backprop-target", "Predicted")
    assert main(argv) == 64
    assert "--guided-backprop-target 'Predicted' is not a class" in _one_line_error(capsys)
    tampered = tmp_path / "t" / "tiny.safetensors"
    shutil.copytree(tiny_model.parent, tampered.parent)
    with open(tampered, "r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\0\0\0\1")
    assert main(_args(tiny_bids, tmp_path / "out", tampered)) == 64
    assert "checksum mismatch" in _one_line_error(capsys)


def test_console_script_exit_codes(tmp_path, tiny_bids, tiny_model):
    proc = run_app(*_args(tiny_bids, tmp_path / "out", tiny_model, "--participant-label", "../x"))
    assert proc.returncode == 64
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_app(*_args(tiny_bids, tmp_path / "out", tiny_model, "--participant-label", "02"))
    assert proc.returncode == 66, proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_app(tiny_bids, tmp_path / "out", "participant", "--bogus")
    assert proc.returncode == 64
    assert "Traceback" not in proc.stderr


def test_multiproc_workers_come_from_a_fork_server(tmp_path, tiny_bids, tiny_model):
    from bids_lrp.cli.parser import build_parser
    from bids_lrp.cli.run import settings_from_args

    args = _args(tiny_bids, tmp_path / "out", tiny_model, "--nprocs", "2")
    settings = settings_from_args(build_parser().parse_args(args))
    assert settings.plugin == "MultiProc"
    assert settings.plugin_args["mp_context"] == "forkserver"
    plugin = tmp_path / "plugin.yml"
    plugin.write_text("plugin: MultiProc\nplugin_args: {n_procs: 2}\n")
    args = _args(tiny_bids, tmp_path / "out", tiny_model, "--use-plugin", str(plugin))
    settings = settings_from_args(build_parser().parse_args(args))
    assert settings.plugin_args["mp_context"] == "forkserver"


def test_cascading_randomization_implies_the_check(tmp_path, tiny_bids, tiny_model):
    from bids_lrp.cli.parser import build_parser
    from bids_lrp.cli.run import settings_from_args

    def settings(*extra):
        args = _args(tiny_bids, tmp_path / "out", tiny_model, *extra)
        return settings_from_args(build_parser().parse_args(args))

    off = settings()
    assert (off.randomization_check, off.randomization_layers) == (False, "dense")
    cascade = settings("--randomization-layers", "cascade")
    assert (cascade.randomization_check, cascade.randomization_layers) == (True, "cascade")
    assert settings("--randomization-check").randomization_layers == "dense"


@pytest.fixture(scope="module")
def clinicadl_model(tmp_path_factory):
    import torch

    from bids_lrp.model import save_checkpoint
    from bids_lrp.model.clinicadl import Conv5FC3, caps_card

    path = tmp_path_factory.mktemp("clinicadl") / "conv5fc3.safetensors"
    torch.manual_seed(0)
    save_checkpoint(Conv5FC3().eval(), caps_card("conv5fc3"), path)
    return path


def test_a_clinicadl_card_needs_its_template_in_one_line(tmp_path, tiny_bids, clinicadl_model,
                                                          capsys):  # fmt: skip
    assert main(_args(tiny_bids, tmp_path / "out", clinicadl_model)) == 64
    line = _one_line_error(capsys)
    assert "MNI152NLin2009cSym" in line and "--template MNI152NLin2009cSym" in line
    assert not (tmp_path / "out").exists()


def test_a_template_without_its_files_is_one_line(tmp_path, tiny_bids, clinicadl_model, capsys,
                                                  monkeypatch):  # fmt: skip
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(tmp_path / "templateflow"))
    args = _args(tiny_bids, tmp_path / "out", clinicadl_model, "--template", "MNI152NLin2009cSym")
    assert main(args) == 66
    line = _one_line_error(capsys)
    assert "tpl-MNI152NLin2009cSym_res-1_T1w.nii.gz" in line and "TEMPLATEFLOW_HOME" in line
    assert not (tmp_path / "out").exists()
