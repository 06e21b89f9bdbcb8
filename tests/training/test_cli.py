"""``bids_lrp-train`` end to end on toy scans: outputs, card, learning, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from bids_lrp.cli.train import main
from bids_lrp.model.checkpoint import (
    CheckpointError,
    check_card_compatible,
    load_checkpoint,
    read_card,
    sha256_file,
)
from tests.training.helpers import NET_8MM, TEMPLATE, make_toy_dataset

FAST = ["--grid-mm", "8", *NET_8MM, "--threads", "1", "--lr", "3e-3"]
#: Every card field the issue asks for (input grid, provenance, split, metrics, ...).
CARD_FIELDS = {
    "name", "architecture", "architecture_params", "input_shape", "voxel_size", "affine",
    "template", "registration", "intensity_scaling", "class_names", "training_data",
    "intended_use", "training_fingerprint", "split", "metrics", "training", "software",
    "command", "sha256", "input_resampling",
}  # fmt: skip


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> tuple[Path, Path]:
    """10 participants (5 AD with a bright blob, 5 CN), two sessions each, on an 8 mm grid."""
    return make_toy_dataset(tmp_path_factory.mktemp("toy"), n_ad=5, n_hc=5, sessions=2)


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory) -> tuple[Path, int]:
    out = tmp_path_factory.mktemp("model") / "toy.safetensors"
    args = [str(toy[1]), "--out", str(out), *FAST, "--epochs", "40", "--min-epochs", "25"]
    return out, main(args)


def test_outputs_and_card(trained, toy):
    out, code = trained
    assert code == 0
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == [
        "toy.json", "toy.safetensors", "toy_curves.png", "toy_curves.svg", "toy_history.tsv"
    ]  # fmt: skip
    data = json.loads(out.with_suffix(".json").read_text())
    assert CARD_FIELDS <= set(data)
    assert data["input_shape"] == [25, 29, 25] and data["voxel_size"] == [8.0, 8.0, 8.0]
    assert data["affine"][0] == [8.0, 0.0, 0.0, -96.0]
    assert data["registration"] == "affine" and data["template"] == TEMPLATE
    assert data["class_names"] == ["HC", "AD"] and data["input_resampling"] == "antialiased"
    fp = data["training_fingerprint"]
    assert fp["n_participants"] == 10 and fp["n_scans"] == 20 and len(fp["sha256"]) == 64
    assert len(fp["sessions"]) == 20 and fp["participants"][0] == "sub-01"
    sets = data["split"]["sets"]
    assert sum(len(v) for v in sets.values()) == 10  # every participant once
    assert data["split"]["n_scans"] == {k: 2 * len(v) for k, v in sets.items()}  # sessions follow
    for name in ("train", "validation", "test"):
        assert {"loss", "balanced_accuracy", "sensitivity", "specificity", "roc_auc"} <= set(
            data["metrics"][name]
        )
    training = data["training"]
    assert training["optimizer"] == "Adam" and training["batch_size"] == 4
    assert training["weight_decay"] == 1e-4 and training["shift"] == [-1, 1]
    assert training["warmup"] == training["decay_warmup"] == 0 and training["init_from"] is None
    assert training["label_smoothing"] == 0.0
    assert set(data["software"]) >= {"python", "torch", "numpy", "bids_lrp"}
    assert data["command"].startswith("bids_lrp-train ") and "--grid-mm 8" in data["command"]
    history = pd.read_csv(Path(f"{out.with_suffix('')}_history.tsv"), sep="\t")
    assert len(history) == training["epochs_run"]
    assert Path(f"{out.with_suffix('')}_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_the_participant_level_accepts_the_model(trained):
    from bids_lrp.workflows.execution import verify_model

    out, _ = trained
    model, card = load_checkpoint(out)
    assert check_card_compatible(card, template=TEMPLATE, registration="affine") == []
    assert check_card_compatible(card, template=TEMPLATE, registration="syn")  # a warning
    with pytest.raises(CheckpointError, match="expects inputs in template"):
        check_card_compatible(card, template="MNI152NLin6Asym", registration=None)
    settings = SimpleNamespace(
        model=out,
        template=TEMPLATE,
        registration=None,
        target_class="AD",
        guided_backprop_target="predicted",
        device="cpu",
        plugin="Linear",
    )
    info, checked = verify_model(settings)
    assert checked == card and info.registration == "affine"
    assert read_card(out)[1] == sha256_file(out)
    assert isinstance(model(torch.zeros(1, 1, *card.input_shape)), torch.Tensor)


def test_it_learns_a_separable_toy(trained):
    out, _ = trained
    metrics = json.loads(out.with_suffix(".json").read_text())["metrics"]
    assert metrics["test"]["balanced_accuracy"] == 1.0
    assert metrics["test"]["roc_auc"] == 1.0


def test_reproducible_on_cpu(toy, tmp_path):
    args = [str(toy[1]), *FAST, "--epochs", "3", "--min-epochs", "0", "--name", "same"]
    digests = []
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        assert main([*args, "--out", str(tmp_path / f"{name}.safetensors"), "--seed", seed]) == 0
        digests.append(sha256_file(tmp_path / f"{name}.safetensors"))
    assert digests[0] == digests[1] != digests[2]


def test_cross_validation(toy, tmp_path):
    out = tmp_path / "cv.safetensors"
    code = main([str(toy[1]), "--out", str(out), *FAST, "--epochs", "2", "--folds", "3"])
    assert code == 0 and not out.exists()
    tests = []
    for k in (1, 2, 3):
        card, _ = read_card(tmp_path / f"cv_fold-{k}.safetensors")
        assert card.split["fold"] == k and card.name == f"cv-fold{k}"
        tests += card.split["sets"]["test"]
    assert sorted(tests) == [f"sub-{i:02d}" for i in range(1, 11)]
    summary = pd.read_csv(tmp_path / "cv_cv.tsv", sep="\t")
    assert list(summary["fold"].astype(str)) == ["1", "2", "3", "mean", "sd"]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    """Conv and dense weights and biases (BatchNorm running statistics move without a step)."""
    from safetensors.torch import load_file

    return {
        k: v for k, v in load_file(path).items() if "running" not in k and "num_batches" not in k
    }


def test_init_from_starts_from_the_given_weights(trained, toy, tmp_path, capsys):
    base, _ = trained
    # one epoch at a learning rate of 1e-9: the weights stay where they started
    args = [str(toy[1]), *FAST, "--epochs", "1", "--min-epochs", "0", "--lr", "1e-9"]
    assert (
        main([*args, "--out", str(tmp_path / "tuned.safetensors"), "--init-from", str(base)]) == 0
    )
    assert main([*args, "--out", str(tmp_path / "fresh.safetensors")]) == 0
    start, tuned = _weights(base), _weights(tmp_path / "tuned.safetensors")
    fresh = _weights(tmp_path / "fresh.safetensors")
    assert start.keys() == tuned.keys() == fresh.keys()
    for key in start:
        assert torch.allclose(tuned[key], start[key], atol=1e-6), key
    assert max(float((fresh[k] - start[k]).abs().max()) for k in start) > 1e-2
    card = json.loads((tmp_path / "tuned.json").read_text())
    assert card["training"]["init_from"] == {
        "file": "toy.safetensors", "name": "toy", "sha256": sha256_file(base)
    }  # fmt: skip
    assert "--init-from" in card["command"]
    assert "init-from model's training" not in capsys.readouterr().err  # same split: no overlap


def test_init_from_warns_when_its_training_set_overlaps_the_test_set(
    trained, toy, tmp_path, capsys
):
    base, _ = trained
    out = tmp_path / "other-split.safetensors"
    args = [str(toy[1]), *FAST, "--epochs", "1", "--seed", "3", "--init-from", str(base)]
    assert main([*args, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "were in the --init-from model's training or validation set" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--hidden", "16"], r"its card does not match: hidden 8 \(here 16\)"),
        (["--grid-mm", "6"], r"input_shape \(25, 29, 25\) \(here \(33, 39, 33\)\)"),
        (["--channels", "4", "8", "4"], r"channels \[4, 8, 8\] \(here \[4, 8, 4\]\)"),
        (["--input-resampling", "linear"], r"input_resampling antialiased \(here linear\)"),
    ],
)
def test_init_from_a_model_that_does_not_fit(
    trained, toy, tmp_path, capsys, monkeypatch, extra, message
):
    import re

    import bids_lrp.training.run as run_module

    def refuse(*args, **kwargs):
        raise AssertionError("images were loaded")

    monkeypatch.setattr(run_module, "load_scans", refuse)
    base, _ = trained
    out = tmp_path / "m" / "x.safetensors"
    code = main([str(toy[1]), "--out", str(out), *FAST, *extra, "--init-from", str(base)])
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert code == 64 and len(lines) == 1 and re.search(message, lines[0]), lines
    assert not out.parent.exists()
    code = main(
        [str(toy[1]), "--out", str(out), *FAST, "--init-from", str(tmp_path / "no.safetensors")]
    )
    assert code == 64 and "checkpoint weights not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--warmup", "3", "--label-smoothing", "0.2"], {"warmup": 3, "label_smoothing": 0.2}),
        (["--decay-warmup", "5", "--lr", "1e-3"], {"decay_warmup": 5, "warmup": 0, "lr": 1e-3}),
        (
            ["--pose-jitter", "0.5", "--intensity-jitter", "0.2"],
            {"pose_jitter": 0.5, "intensity_jitter": 0.2},
        ),
        ([], {"pose_jitter": 0.0, "intensity_jitter": 0.0, "monitor_from": 1}),
        (["--monitor-from", "3"], {"monitor_from": 3}),
    ],
)
def test_training_options_reach_the_recipe(toy, tmp_path, options, expected):
    from bids_lrp.cli.train import build_parser
    from bids_lrp.training import TrainingSettings, plan_training

    out = tmp_path / "m.safetensors"
    args = build_parser().parse_args([str(toy[1]), "--out", str(out), *FAST, *options])
    recipe = plan_training(TrainingSettings.from_options(args)).recipe
    assert {name: getattr(recipe, name) for name in expected} == expected
    assert not out.exists()


@pytest.mark.parametrize(("stop", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_stopped_training_exits_as_the_other_commands(tmp_path, monkeypatch, capsys, stop, code):
    """Ctrl-C gives 130 and SIGTERM 143, as for bids_lrp and bids_lrp-simulate (not 1)."""
    import signal

    from bids_lrp.cli import train
    from bids_lrp.cli.train import main as train_main
    from bids_lrp.process.signals import Terminated

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt if stop == "SIGINT" else Terminated(signal.SIGTERM)

    monkeypatch.setattr(train, "plan_training", lambda settings: object())
    monkeypatch.setattr(train, "run_training", stopped)
    assert train_main([str(tmp_path), "--out", str(tmp_path / "m.safetensors")]) == code
    assert "interrupted; nothing was written" in capsys.readouterr().err
