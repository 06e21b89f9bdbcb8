"""`TrainingSettings`: one typed request, whose defaults the command line reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bids_lrp.cli.train import build_parser
from bids_lrp.exitcodes import EX_USAGE
from bids_lrp.model.recipe import Recipe, default_shift
from bids_lrp.training import TrainingSettings, UsageError


def test_the_parser_defaults_are_the_settings_defaults():
    args = build_parser().parse_args(["scans", "--out", "m.safetensors"])
    settings = TrainingSettings.from_options(args)
    for field in dataclasses.fields(TrainingSettings):
        if field.name not in ("scans_dir", "out"):
            assert getattr(settings, field.name) == field.default, field.name
    assert settings.scans_dir == Path("scans")


def test_the_default_recipe_is_the_papers():
    settings = TrainingSettings(Path("s"), Path("m.safetensors"))
    recipe = settings.recipe()
    paper = Recipe(shift=default_shift(1.0))
    assert recipe == paper
    assert recipe.shift == (-2, 3) and recipe.lr == 1e-4 and recipe.batch_size == 4
    coarse = TrainingSettings(Path("s"), Path("m.safetensors"), grid_mm=4.0).recipe()
    assert coarse.shift == default_shift(4.0) == (-1, 1)


def test_lists_become_tuples_and_only_labels_lose_repeats():
    settings = TrainingSettings(
        Path("s"),
        Path("m.safetensors"),
        ad_labels=["AD", "AD", "Dementia"],
        channels=[8, 8, 16],
        pools=[2, 2, 2],
        shift=[-1, 2],
    )
    assert settings.ad_labels == ("AD", "Dementia")
    assert settings.channels == (8, 8, 16)  # two blocks may have the same width
    assert settings.shift == (-1, 2)
    assert settings.network_params == {
        "channels": [8, 8, 16],
        "pools": [2, 2, 2],
        "hidden": 128,
        "dropout": 0.4,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hc_labels": ("AD",)}, "given in both --ad-labels and --hc-labels"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "must sum to less than 1"),
        ({"val_fraction": 0.0}, "--val-fraction must be above 0"),
        ({"shift": (3, -3)}, "needs MIN <= MAX"),
        ({"warmup": 2, "decay_warmup": 2}, "two warm-ups"),
        ({"monitor_from": 5, "epochs": 4}, "after the last epoch"),
        ({"out": Path("m.pt")}, "must end in .safetensors"),
        ({"name": "--"}, "needs letters or digits"),
        ({"channels": (8, 16)}, "one value per block"),
        ({"precision": "fp16", "device": "cpu"}, "fp16 needs a GPU"),
        ({"loader_workers": 2}, "--loader-workers reads from a --cache"),
    ],
)
def test_requests_that_cannot_run_are_refused_at_construction(change, message):
    base = {"scans_dir": Path("s"), "out": Path("m.safetensors")}
    with pytest.raises(UsageError, match=message) as err:
        TrainingSettings(**{**base, **change})
    assert err.value.code == EX_USAGE
