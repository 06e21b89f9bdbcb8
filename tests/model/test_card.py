"""Model card provenance fields and byte-identical checkpoints."""

from __future__ import annotations

import json

import pytest
import torch

from bids_lrp.model import ModelCard, build_model, load_checkpoint, save_checkpoint
from bids_lrp.model.checkpoint import card_path, sha256_file
from tests.training.helpers import grid

SHAPE = grid(8.0)[0]
NET = {"channels": [4, 8, 8], "pools": [2, 2, 2], "hidden": 8}


def _card(**changes) -> ModelCard:
    shape, affine = grid(8.0)
    fields = {
        "name": "card-test",
        "architecture": "boehle2019",
        "architecture_params": NET,
        "input_shape": shape,
        "voxel_size": (8.0, 8.0, 8.0),
        "affine": tuple(tuple(float(v) for v in row) for row in affine),
        "template": "MNI152NLin2009cAsym",
        "registration": "affine",
        "intensity_scaling": "minmax-in-brain-mask",
        "class_names": ("HC", "AD"),
        "training_fingerprint": {"sha256": "0" * 64, "participants": ["sub-01"]},
        "split": {"sets": {"train": ["sub-01"], "validation": [], "test": []}},
        "metrics": {"test": {"balanced_accuracy": 0.5, "roc_auc": None}},
        "training": {"optimizer": "Adam", "shift": [-1, 1]},
        "software": {"torch": torch.__version__},
        "command": "bids_lrp-train scans --out m.safetensors",
    }
    fields.update(changes)
    return ModelCard(**fields)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("boehle2019", input_shape=SHAPE, **NET)


def test_provenance_fields_round_trip(tmp_path):
    card = _card()
    save_checkpoint(_model(), card, tmp_path / "m.safetensors")
    _, loaded = load_checkpoint(tmp_path / "m.safetensors")
    assert loaded == card


def test_cards_without_provenance_still_load():
    data = _card().to_json()
    for key in ("training_fingerprint", "split", "metrics", "training", "software", "command"):
        del data[key]
    card = ModelCard.from_json(data)
    assert card.metrics == {} and card.command == ""


def test_cards_without_input_resampling_mean_linear():
    data = _card(input_resampling="antialiased").to_json()
    assert ModelCard.from_json(data).input_resampling == "antialiased"
    del data["input_resampling"]  # cards written before the field existed
    assert ModelCard.from_json(data).input_resampling == "linear"


@pytest.mark.parametrize(
    ("key", "value"),
    [("metrics", "good"), ("command", ["a"]), ("input_resampling", "cubic")],
)
def test_provenance_fields_are_typed(key, value):
    with pytest.raises(ValueError, match=f"model card key '{key}' must be"):
        ModelCard.from_json({**_card().to_json(), key: value})


def test_same_weights_same_bytes(tmp_path):
    """safetensors keeps metadata in a hash map; the checkpoint writer fixes its order."""
    model = _model()
    digests = set()
    for i in range(4):
        path = tmp_path / f"{i}" / "m.safetensors"
        save_checkpoint(model, _card(), path)
        digests.add(sha256_file(path))
        assert json.loads(card_path(path).read_text())["sha256"] == sha256_file(path)
    assert len(digests) == 1
    loaded, _ = load_checkpoint(path)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
