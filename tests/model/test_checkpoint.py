"""Checkpoints: safetensors weights + model card, verified, never unpickled."""

from __future__ import annotations

import errno
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import pytest
import torch

from bids_lrp.model import (
    CheckpointError,
    ModelCard,
    build_model,
    check_card_compatible,
    load_checkpoint,
    save_checkpoint,
)
from bids_lrp.model.checkpoint import card_path, sha256_file
from bids_lrp.model.network import minimum_input_size

SIZE = minimum_input_size()
SHAPE = (SIZE, SIZE + 1, SIZE)


def make_card(**changes) -> ModelCard:
    fields = dict(
        name="boehle2019-test",
        architecture="boehle2019",
        architecture_params={"hidden": 16},
        input_shape=SHAPE,
        voxel_size=(4.0, 4.0, 4.0),
        affine=((4.0, 0, 0, -96.0), (0, 4.0, 0, -132.0), (0, 0, 4.0, -78.0), (0, 0, 0, 1.0)),
        template="MNI152NLin2009cAsym",
        registration="affine",
        intensity_scaling="minmax-in-brain-mask",
        class_names=("HC", "AD"),
        training_data="unit test",
        intended_use="Research only; NOT for clinical use.",
        extra={"balanced_accuracy": 0.5, "split": {"train": ["sub-01"]}},
    )
    fields.update(changes)
    return ModelCard(**fields)


def trained_model(seed: int = 0, **params) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model("boehle2019", input_shape=SHAPE, **{"hidden": 16, **params})
    # Non-default BatchNorm statistics, so that buffers are part of the round trip.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm3d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
    return model.train()


@pytest.fixture
def saved(tmp_path) -> tuple[Path, torch.nn.Module, ModelCard, str]:
    model, card = trained_model(), make_card()
    path = tmp_path / "model.safetensors"
    digest = save_checkpoint(model, card, path)
    return path, model, card, digest


def test_round_trip(saved):
    path, model, card, digest = saved
    assert digest == sha256_file(path) and len(digest) == 64
    assert card_path(path) == path.with_suffix(".json")
    assert json.loads(card_path(path).read_text())["sha256"] == digest
    loaded, loaded_card = load_checkpoint(path, expected_sha256=digest.upper())
    assert loaded_card == card
    assert not loaded.training
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    for key, value in original.items():
        assert torch.equal(value, restored[key]), key
    x = torch.rand(2, 1, *SHAPE)
    assert torch.equal(model.eval()(x), loaded(x))
    assert not list(path.parent.glob("*.tmp"))  # atomic writes leave no temporaries


def test_card_json_round_trip():
    card = make_card()
    text = json.dumps(card.to_json())
    assert ModelCard.from_json(json.loads(text)) == card


def test_expected_sha256_mismatch(saved):
    path, *_ = saved
    with pytest.raises(CheckpointError, match=r"checksum mismatch.*expected 0{64}, file has"):
        load_checkpoint(path, expected_sha256="0" * 64)


def test_tampered_weights_are_refused(saved):
    path, _, _, digest = saved
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f"expected {digest}, file has"):
        load_checkpoint(path)


def test_missing_files(saved, tmp_path):
    path, *_ = saved
    with pytest.raises(CheckpointError, match="checkpoint weights not found"):
        load_checkpoint(tmp_path / "nope.safetensors")
    os.unlink(card_path(path))
    with pytest.raises(CheckpointError, match="model card not found"):
        load_checkpoint(path)


def test_card_missing_key(saved):
    path, *_ = saved
    data = json.loads(card_path(path).read_text())
    del data["template"]
    card_path(path).write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"missing key\(s\): template"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("input_shape", [1, 2], "3 positive integers"),
        ("registration", "rigid", "one of affine, syn"),
        ("affine", [[1, 0, 0]], "4x4"),
        ("class_names", "AD", "at least 2"),
    ],
)
def test_card_wrong_types(key, value, message):
    data = make_card().to_json()
    data[key] = value
    with pytest.raises(ValueError, match=message):
        ModelCard.from_json(data)


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    # Weights of a wider network saved under a card that describes the narrower one.
    save_checkpoint(trained_model(hidden=32), make_card(architecture_params={"hidden": 32}), path)
    data = json.loads(card_path(path).read_text())
    data["architecture_params"] = {"hidden": 16}
    card_path(path).write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"do not match architecture 'boehle2019'.*shape"):
        load_checkpoint(path)


def test_unknown_architecture(tmp_path):
    path = tmp_path / "model.safetensors"
    save_checkpoint(trained_model(), make_card(architecture="resnet999"), path)
    with pytest.raises(CheckpointError, match="unknown architecture 'resnet999'"):
        load_checkpoint(path)


class _Bomb:
    """Pickles to a call that would create a file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"features.0.weight": _Bomb(marker)}, path)
    # A card with the right checksum, so that only the refusal to unpickle protects us.
    payload = {**make_card().to_json(), "sha256": sha256_file(path)}
    card_path(path).write_text(json.dumps(payload))
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_checkpoint(path)
    assert not marker.exists()


def test_plain_pt_state_dict_loads(tmp_path):
    model = trained_model()
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    payload = {**make_card().to_json(), "sha256": sha256_file(path)}
    card_path(path).write_text(json.dumps(payload))
    loaded, _ = load_checkpoint(path)
    assert torch.equal(
        loaded.state_dict()["classifier.5.bias"], model.state_dict()["classifier.5.bias"]
    )


def test_card_compatibility():
    card = make_card()
    assert check_card_compatible(card, template="MNI152NLin2009cAsym", registration="affine") == []
    assert check_card_compatible(card, template="MNI152NLin2009cAsym", registration=None) == []
    with pytest.raises(CheckpointError, match=r"'MNI152NLin2009cAsym'.*'MNI152NLin6Asym'"):
        check_card_compatible(card, template="MNI152NLin6Asym", registration="affine")
    (warning,) = check_card_compatible(card, template="MNI152NLin2009cAsym", registration="syn")
    assert "'affine'-registered" in warning and "'syn' registration" in warning


def test_saved_files_are_readable_by_others(tmp_path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(build_model("boehle2019", input_shape=(80, 80, 80)), make_card(), path)
    for file in (path, path.with_suffix(".json")):
        assert file.stat().st_mode & 0o777 == 0o644, file


def _edit_card(path: Path, **changes) -> None:
    data = json.loads(card_path(path).read_text())
    data.update(changes)
    card_path(path).write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("key", "value"),
    [("sha256", 123), ("sha256", "abc"), ("sha256", ["0" * 64]), ("weights", 5), ("format", {})],
)
def test_checkpoint_keys_of_a_wrong_type_are_refused(saved, key, value):
    path, *_ = saved
    _edit_card(path, **{key: value})
    with pytest.raises(CheckpointError, match=rf"invalid model card .*key '{key}' must be"):
        load_checkpoint(path)


def test_long_values_are_cut_in_messages():
    data = {**make_card().to_json(), "training_fingerprint": list(range(1000))}
    with pytest.raises(ValueError, match=r"'training_fingerprint' must be an object") as info:
        ModelCard.from_json(data)
    assert len(str(info.value)) < 150


def test_class_names_must_name_the_outputs(saved):
    path, model, *_ = saved
    _edit_card(path, class_names=["HC", "MCI", "AD"])
    with pytest.raises(CheckpointError, match=r"names 3 classes \(HC, MCI, AD\), .* 2 outputs"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="names 3 classes"):
        save_checkpoint(model, make_card(class_names=("HC", "MCI", "AD")), path)
    with pytest.raises(ValueError, match="distinct"):
        ModelCard.from_json({**make_card().to_json(), "class_names": ["AD", "AD"]})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pools": [0, 3, 2, 3]}, "pools must be a list of positive integers"),
        ({"hidden": -3}, "hidden must be a positive integer"),
        ({"channels": [8, 16, -1, 64]}, "channels must be a list of positive integers"),
        ({"dropout": "0.4"}, r"dropout must be a number in \[0, 1\)"),
        ({"n_classes": 0}, "n_classes must be a positive integer"),
    ],
)
def test_architecture_params_of_a_wrong_type_are_refused(saved, params, message):
    path, *_ = saved
    _edit_card(path, architecture_params={"hidden": 16, **params})
    with pytest.raises(CheckpointError, match=f"cannot build the model of .*: {message}"):
        load_checkpoint(path)


def test_unknown_card_keys_are_logged_not_warned(saved, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("bids_lrp"), "propagate", True)  # after a CLI test
    path, *_ = saved
    _edit_card(path, foo_bar=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a raw Python warning would reach the user's terminal
        with caplog.at_level(logging.WARNING, logger="bids_lrp"):
            load_checkpoint(path)
    # (a set: after other tests' CLI runs, pytest can capture one record twice)
    assert {r.getMessage() for r in caplog.records if "unknown key" in r.getMessage()} == {
        f"warning: model card {card_path(path)} has unknown key(s), ignored: foo_bar"
    }


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_leaves_neither_file(tmp_path, monkeypatch):
    real = tempfile.mkstemp

    def mkstemp(*args, **kwargs):  # room for the weights, none left for the card
        return _no_space() if ".json" in kwargs.get("prefix", "") else real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    path = tmp_path / "model.safetensors"
    with pytest.raises(OSError, match="No space left on device"):
        save_checkpoint(trained_model(), make_card(), path)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_leaves_no_weights_without_their_card(saved, monkeypatch):
    path, _, card, _ = saved
    before = {p.name: p.read_bytes() for p in path.parent.iterdir()}
    real = os.replace

    def replace(src, dst):  # the weights are moved into place, then the card fails
        return _no_space() if Path(dst) == card_path(path) else real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="No space left on device"):
        save_checkpoint(trained_model(seed=1), card, path)
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in path.parent.iterdir()}
    # No weights without their card, no temporary files; the card names the weights left.
    assert set(after) <= set(before) and card_path(path).name in after
    assert not path.exists() or load_checkpoint(path)[1] == card
