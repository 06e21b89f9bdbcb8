"""Folders that put data at risk, bad plugin files and devices: refused before any work."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from bids_lrp.cli import run
from bids_lrp.cli.run import main
from bids_lrp.dataset import dataset_description
from tests.cli.conftest import _write_dataset


def _args(bids: Path, out: Path, model: Path, *extra: str, level="participant") -> list[str]:
    work = ["-w", str(out.parent / "work")] if "-w" not in extra else []
    return [
        str(bids),
        str(out),
        level,
        "--model",
        str(model),
        "--skip-bids-validation",
        *work,
        *extra,
    ]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _derivative(out: Path, name: str) -> Path:
    out.mkdir(parents=True)
    desc = {"Name": name, "DatasetType": "derivative", "GeneratedBy": [{"Name": name}]}
    (out / "dataset_description.json").write_text(json.dumps(desc))
    return out


def test_another_dataset_as_output_refused(tmp_path, tiny_bids, tiny_model, capsys):
    raw = tmp_path / "other_raw"
    shutil.copytree(tiny_bids, raw)
    fmriprep = _derivative(tmp_path / "fmriprep", "fMRIPrep")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "dataset_description.json").write_text("{not json")
    for out, why in (
        (raw, "raw BIDS dataset"),
        (fmriprep, "another pipeline (fMRIPrep)"),
        (broken, "cannot be read as JSON"),
    ):
        before = _tree(out)
        assert main(_args(tiny_bids, out, tiny_model)) == 64
        line = _one_line_error(capsys)
        assert "is not a bids_lrp output folder" in line and why in line
        assert _tree(out) == before  # nothing written, nothing replaced
        assert not (tmp_path / "work").exists()


def test_new_empty_or_bids_lrp_output_accepted(tmp_path, tiny_bids):
    from bids_lrp.inputs import check_output_dirs

    empty = tmp_path / "empty"
    empty.mkdir()
    ours = tmp_path / "ours"
    ours.mkdir()
    desc = dataset_description(tiny_bids)
    desc["GeneratedBy"][0]["Version"] = "0.0.1"  # an earlier version's outputs: a rerun
    (ours / "dataset_description.json").write_text(json.dumps(desc))
    for out in (tmp_path / "new" / "out", empty, ours):
        check_output_dirs(tiny_bids, out, tmp_path / "work")  # raises if refused
        assert not (tmp_path / "new").exists()  # and creates nothing


@pytest.mark.parametrize("level", ["participant", "group"])
def test_output_containing_the_dataset_refused(tmp_path, tiny_model, level, capsys):
    bids = _write_dataset(tmp_path / "data" / "bids")
    for out in (tmp_path / "data", tmp_path):
        before = sorted(tmp_path.rglob("*"))
        assert main(_args(bids, out, tiny_model, level=level)) == 64
        assert "must not be the BIDS dataset or contain it" in _one_line_error(capsys)
        assert sorted(tmp_path.rglob("*")) == before


def test_group_level_refuses_other_datasets_only(tmp_path, tiny_bids, tiny_model, capsys):
    from bids_lrp.inputs import check_output_dirs

    fmriprep = _derivative(tmp_path / "fmriprep", "fMRIPrep")
    assert main(_args(tiny_bids, fmriprep, tiny_model, level="group")) == 64
    assert "another pipeline (fMRIPrep)" in _one_line_error(capsys)
    assert main(_args(tiny_bids, tiny_bids, tiny_model, level="group")) == 64
    assert not (tiny_bids / "group").exists()
    capsys.readouterr()
    # bids_lrp outputs, a derivative without GeneratedBy, a folder without a description
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "dataset_description.json").write_text(json.dumps(dataset_description(tiny_bids)))
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "dataset_description.json").write_text(json.dumps({"DatasetType": "derivative"}))
    for out in (ours, bare, tmp_path / "none"):
        check_output_dirs(tiny_bids, out, tmp_path / "work", "group")


def test_work_folder_in_output_refused(tmp_path, tiny_bids, tiny_model, capsys):
    out = tmp_path / "out"
    for work in (out, out / "work"):
        assert main(_args(tiny_bids, out, tiny_model, "-w", str(work))) == 64
        assert "must not be the output folder or inside it" in _one_line_error(capsys)
        assert not out.exists()


def test_bids_dir_that_is_a_file(tmp_path, tiny_bids, tiny_model, capsys):
    assert main(_args(tiny_bids / "participants.tsv", tmp_path / "out", tiny_model)) == 16
    assert "is not a folder" in _one_line_error(capsys)


def test_dataset_without_any_t1w_66(tmp_path, tiny_bids, tiny_model, capsys):
    bids = tmp_path / "bids"
    shutil.copytree(tiny_bids, bids)
    shutil.rmtree(bids / "sub-01")
    assert main(_args(bids, tmp_path / "out", tiny_model)) == 66
    assert "has no T1w images" in _one_line_error(capsys)
    empty = _write_dataset(tmp_path / "empty")
    for sub in ("sub-01", "sub-02"):
        shutil.rmtree(empty / sub)
    assert main(_args(empty, tmp_path / "out", tiny_model)) == 66
    assert "has no T1w images" in _one_line_error(capsys)


def test_early_errors_leave_no_folders(tmp_path, tiny_bids, tiny_model, capsys):
    from tests.e2e.helpers import make_model

    out, work = tmp_path / "a" / "out", tmp_path / "a" / "work"
    base = ["-w", str(work)]
    assert main(_args(tiny_bids, out, tiny_model, *base, "--participant-label", "99")) == 66
    other = make_model(tmp_path / "m" / "tpl.safetensors", template="MNI152NLin6Asym")
    assert main(_args(tiny_bids, out, other, *base)) == 64
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    assert main(_args(tiny_bids, out, tiny_model, "-w", str(blocker / "work"))) == 73
    assert "cannot create or write the work folder" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_output_folders_created_only_for_the_work(tmp_path):
    from bids_lrp.inputs import InputError, create_output_dirs

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError) as err:
        create_output_dirs(tmp_path / "new" / "out", blocker / "work")
    assert err.value.code == 73
    assert not (tmp_path / "new").exists()  # what it created is gone again
    created = create_output_dirs(tmp_path / "new" / "out", tmp_path / "work")
    assert created == [tmp_path / "new", tmp_path / "new" / "out", tmp_path / "work"]


def _fake_slurm(tmp_path: Path, squeue: str = "exit 0") -> Path:
    """A folder with stand-ins for sbatch and squeue (``squeue``: its shell script)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for name, body in (("sbatch", "exit 0"), ("squeue", squeue)):
        (folder / name).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name).chmod(0o755)
    return folder


def test_slurm_plugin_without_a_reachable_cluster_64(
    tmp_path, tiny_bids, tiny_model, monkeypatch, capsys
):
    down = "echo 'squeue: fatal: Could not establish a configuration source' >&2; exit 1"
    monkeypatch.setenv("PATH", str(_fake_slurm(tmp_path, down)))
    plugin = _plugin(tmp_path, "plugin: SLURM\n")
    assert main(_args(tiny_bids, tmp_path / "out", tiny_model, "--use-plugin", str(plugin))) == 64
    line = _one_line_error(capsys)
    assert "cannot reach SLURM here (squeue: fatal: Could not establish" in line
    assert not (tmp_path / "out").exists()


def _plugin(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plugin.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("plugin: NoSuchPlugin\n", "names plugin 'NoSuchPlugin'; bids_lrp runs with one of"),
        ("plugin: multiproc\n", "names plugin 'multiproc'"),
        ("plugin: MultiProc\nplugin_args: {n_procs: zero}\n", "'n_procs' in"),
        ("plugin: MultiProc\nplugin_args: {n_procs: 0}\n", "must be a positive integer"),
        ("plugin: MultiProc\nplugin_args: {n_procs: 1.5}\n", "must be a positive integer"),
        ("plugin: MultiProc\nplugin_args: {n_procs: true}\n", "must be a positive integer"),
        ("plugin: MultiProc\nplugin_args: {memory_gb: -1}\n", "must be a positive number"),
        ("plugin: MultiProc\nplugin_args: {memory_gb: .inf}\n", "must be a positive number"),
        ("plugin: SLURM\n", "submits jobs with sbatch, which is not on PATH"),
        ("plugin: SGE\n", "submits jobs with qsub, which is not on PATH"),
    ],
)
def test_bad_plugin_file_64(tmp_path, tiny_bids, tiny_model, text, message, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no batch system here
    plugin = _plugin(tmp_path, text)
    argv = _args(tiny_bids, tmp_path / "out", tiny_model, "--use-plugin", str(plugin))
    assert main(argv) == 64
    assert message in _one_line_error(capsys)
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()


def test_good_plugin_files_accepted(tmp_path, tiny_bids, tiny_model, monkeypatch):
    from bids_lrp.cli.parser import build_parser

    monkeypatch.setenv("PATH", str(_fake_slurm(tmp_path)))
    slurm = Path(run.__file__).parents[2] / "examples" / "slurm" / "slurm_plugin.yml"
    for text, name, args in (
        ("plugin: Linear\n", "Linear", {}),
        (
            "plugin: MultiProc\nplugin_args: {n_procs: 2, memory_gb: 1.5}\n",
            "MultiProc",
            {"n_procs": 2, "memory_gb": 1.5},
        ),
        (slurm.read_text(), "SLURM", None),
    ):
        plugin = _plugin(tmp_path, text)
        argv = _args(tiny_bids, tmp_path / "out", tiny_model, "--use-plugin", str(plugin))
        settings = run.settings_from_args(build_parser().parse_args(argv))
        assert settings.plugin == name
        if args is not None:
            assert {k: settings.plugin_args[k] for k in args} == args


def test_cuda_without_a_gpu_64(tmp_path, tiny_bids, tiny_model, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    extra = ("--device", "cuda", "--participant-label", "01")
    argv = _args(tiny_bids, tmp_path / "out", tiny_model, *extra)
    assert main(argv) == 64
    assert "--device cuda: no usable CUDA GPU" in _one_line_error(capsys)
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()


def test_cuda_checked_only_where_the_network_runs(tmp_path, tiny_bids, tiny_model, monkeypatch):
    import torch

    from bids_lrp.cli.parser import build_parser
    from bids_lrp.workflows.execution import verify_model

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("cpu", "auto"):
        argv = _args(tiny_bids, tmp_path / "out", tiny_model, "--device", device)
        info, _ = verify_model(run.settings_from_args(build_parser().parse_args(argv)))
        assert len(info.sha256) == 64
    # steps submitted to a batch system run on its (GPU) nodes, not here
    monkeypatch.setenv("PATH", str(_fake_slurm(tmp_path)))
    plugin = _plugin(tmp_path, "plugin: SLURM\n")
    extra = ("--device", "cuda", "--use-plugin", str(plugin))
    argv = _args(tiny_bids, tmp_path / "o", tiny_model, *extra)
    settings = run.settings_from_args(build_parser().parse_args(argv))
    assert settings.device == "cuda" and settings.plugin == "SLURM"
    assert verify_model(settings)[0].path == str(tiny_model)


def test_interrupt_exits_130(tmp_path, tiny_bids, tiny_model, monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "settings_from_args", interrupted)
    assert main(_args(tiny_bids, tmp_path / "out", tiny_model)) == 128 + signal.SIGINT == 130
    line = _one_line_error(capsys)
    assert line == "bids_lrp: interrupted; rerun with the same work folder to resume"


def test_interrupt_stops_the_processes_it_started():
    from bids_lrp.process.signals import terminate_on_sigterm

    child = None
    with pytest.raises(KeyboardInterrupt), terminate_on_sigterm():
        # a worker that ignores Ctrl-C, as the fork server's do
        child = subprocess.Popen(
            [sys.executable, "-c", "import signal, time; signal.signal(2, 1); time.sleep(60)"]
        )
        time.sleep(0.3)
        raise KeyboardInterrupt
    assert child.wait(timeout=10) == -signal.SIGTERM


def test_fork_server_workers_ignore_ctrl_c():
    code = (
        "import multiprocessing as mp, signal\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from bids_lrp.process.signals import start_fork_server\n"
        "start_fork_server()\n"
        "assert signal.getsignal(signal.SIGINT) is signal.default_int_handler\n"
        "with ProcessPoolExecutor(1, mp_context=mp.get_context('forkserver')) as pool:\n"
        "    print(int(pool.submit(signal.getsignal, signal.SIGINT).result()))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(int(signal.SIG_IGN))


def test_broken_pool_traceback_silenced_only_when_stopping():
    from bids_lrp.process.signals import _QuietBrokenPool

    def record() -> logging.LogRecord:
        try:
            raise BrokenProcessPool("terminated abruptly")
        except BrokenProcessPool:
            info = sys.exc_info()
        return logging.LogRecord("concurrent.futures", 40, __file__, 1, "callback", (), info)

    quiet = _QuietBrokenPool()
    quiet._wait = 0.05
    other = logging.LogRecord("concurrent.futures", 40, __file__, 1, "other", (), None)
    assert quiet.filter(other)
    assert quiet.filter(record())  # a pool broken for another reason is reported
    quiet.stopping.set()
    assert not quiet.filter(record())
