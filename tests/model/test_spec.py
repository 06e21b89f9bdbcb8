"""Networks described in their model card (``architecture: "sequential"``)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch
from torch import nn

from bids_lrp.explain import explain_image
from bids_lrp.model import ModelCard, build_model, load_checkpoint, save_checkpoint
from bids_lrp.model.layers import Residual
from bids_lrp.model.spec import build_sequential, describe
from tests.e2e.helpers import ORIGIN


def _resnet() -> nn.Sequential:
    torch.manual_seed(0)
    body = nn.Sequential(
        nn.Conv3d(4, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm3d(8), nn.ReLU(),
        nn.Conv3d(8, 8, 3, padding=1, bias=False), nn.BatchNorm3d(8),
    )  # fmt: skip
    shortcut = nn.Sequential(nn.Conv3d(4, 8, 1, stride=2, bias=False), nn.BatchNorm3d(8))
    net = nn.Sequential(
        nn.Conv3d(1, 4, 3, padding=1), nn.BatchNorm3d(4), nn.ReLU(), nn.MaxPool3d(2),
        Residual(body, shortcut, nn.ReLU()),
        nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(8, 2),
    )  # fmt: skip
    for module in net.modules():
        if isinstance(module, nn.BatchNorm3d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return net.eval()


def test_the_papers_network_round_trips():
    net = build_model("boehle2019", input_shape=(49, 58, 49), channels=[4, 4, 8, 8],
                      pools=[2, 2, 2, 2], hidden=8)  # fmt: skip
    layers = json.loads(json.dumps(describe(net)))  # plain JSON data
    rebuilt = build_sequential(layers)
    assert list(rebuilt.state_dict()) == list(net.state_dict())
    rebuilt.load_state_dict(net.state_dict())
    x = torch.rand(1, 1, 49, 58, 49)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), net.eval()(x))


def test_a_resnet_in_a_card_reaches_the_model_node(explain_inputs, tmp_path):
    net = _resnet()
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    affine[:3, 3] = ORIGIN
    card = ModelCard(
        name="small-resnet", architecture="sequential",
        architecture_params={"layers": describe(net)}, input_shape=(49, 58, 49),
        voxel_size=(4.0, 4.0, 4.0), affine=tuple(map(tuple, affine.tolist())),
        template="MNI152NLin2009cAsym", registration="affine",
        intensity_scaling="minmax-in-brain-mask", class_names=("HC", "AD"),
        training_data="none (random weights, tests only)", intended_use="tests",
    )  # fmt: skip
    path = tmp_path / "resnet.safetensors"
    save_checkpoint(net, card, path)
    model, loaded = load_checkpoint(path)
    x = torch.rand(2, 1, 49, 58, 49)
    with torch.no_grad():
        torch.testing.assert_close(model(x), net(x))
    assert loaded.architecture == "sequential"
    _, files = explain_inputs
    out = explain_image(files[0], str(path), "", ["boehle2019", "gradient", "grad-cam"], "AD",
                        out_dir=str(tmp_path / "explained"))  # fmt: skip
    assert len(out["relevance"]) == 3
    maps = [np.asarray(nib.load(path).dataobj) for path in out["relevance"]]
    assert all(np.isfinite(m).all() for m in maps)
    assert np.abs(maps[0]).max() > 0 and np.abs(maps[1]).max() > 0  # LRP and the gradient
    assert [m["MethodLabel"] for m in out["metadata"]] == ["LRPb0", "Gradient", "GradCAM"]


def test_layers_without_a_description_are_named():
    with pytest.raises(ValueError, match=r"'1' \(LeakyReLU\)"):
        describe(nn.Sequential(nn.Conv3d(1, 1, 3), nn.LeakyReLU()))
    with pytest.raises(ValueError, match="unknown layer type 'GELU'"):
        build_sequential([{"name": "0", "type": "GELU"}])
    with pytest.raises(ValueError, match="padding='same'"):
        describe(nn.Sequential(nn.Conv3d(1, 1, 3, padding="same")))
