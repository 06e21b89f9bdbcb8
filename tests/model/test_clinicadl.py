"""ClinicaDL's Conv5_FC3 with PadMaxPool3d: built, imported and explained by every method."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from bids_lrp.lrp import attribute
from bids_lrp.methods import CATALOG
from bids_lrp.model import build_model, load_checkpoint
from bids_lrp.model.clinicadl import CAPS_GRID, CAPS_TEMPLATE, Conv5FC3, import_clinicadl
from bids_lrp.model.layers import PadMaxPool3d


def clinicadl_pad_max_pool(x: torch.Tensor, stride: int = 2) -> torch.Tensor:
    """ClinicaDL's PadMaxPool3d.forward, as its source computes it (reference)."""
    coords = [stride - x.size(i + 2) % stride for i in range(3)]
    coords = [0 if c == stride else c for c in coords]
    pad = nn.ConstantPad3d((coords[2], 0, coords[1], 0, coords[0], 0), 0)
    return nn.MaxPool3d(stride, stride)(pad(x))


@pytest.mark.parametrize("shape", [(8, 8, 8), (7, 9, 10), (5, 4, 3)])
def test_pad_max_pool_is_clinicadls(shape):
    x = torch.randn(2, 3, *shape)
    torch.testing.assert_close(PadMaxPool3d(2, 2)(x), clinicadl_pad_max_pool(x), rtol=0, atol=0)


def test_layers_and_names_are_clinicadls():
    model = build_model("clinicadl-conv5-fc3", input_shape=CAPS_GRID.shape)
    assert isinstance(model, Conv5FC3) and model.input_shape == CAPS_GRID.shape == (169, 208, 179)
    keys = set(model.state_dict())
    assert {"convolutions.0.weight", "convolutions.1.running_mean", "convolutions.16.bias"} <= keys
    assert {"fc.2.weight", "fc.4.weight", "fc.6.weight"} <= keys
    # 169 x 208 x 179 -> 6 x 7 x 6 after five padded pools: ClinicaDL's 128 * 6 * 7 * 6 inputs
    assert model.fc[2].in_features == 32256 and model.fc[6].out_features == 2
    assert isinstance(model.convolutions[3], PadMaxPool3d)
    assert np.allclose(CAPS_GRID.affine[:3, 3], (-84, -119, -78))


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    model = build_model("clinicadl-conv5-fc3", input_shape=(23, 27, 21)).eval()
    for module in model.modules():  # non-trivial statistics: BatchNorm matters
        if isinstance(module, nn.BatchNorm3d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model


def test_every_method_explains_it_and_leaves_it_as_it_was(small):
    x = torch.rand(2, 1, 23, 27, 21)
    before = copy.deepcopy(small.state_dict())
    regions = torch.zeros(23, 27, 21, dtype=torch.long)
    regions[:12], regions[12:] = 1, 2
    context = {"regions": regions, "reference": torch.zeros(23, 27, 21)}
    for method in CATALOG:
        result = attribute(small, x, 1, method, context=context)
        assert result.relevance.shape == x.shape, method
        assert torch.isfinite(result.relevance).all(), method
        with torch.no_grad():
            torch.testing.assert_close(result.logits, small(x))  # the engine runs the model
    assert all(torch.equal(before[k], v) for k, v in small.state_dict().items())
    assert not small._forward_hooks and not small._backward_hooks
    assert all(not m._forward_hooks and not m._backward_hooks for m in small.modules())


def test_gradient_through_padded_pools_is_autograds(small):
    x = torch.rand(1, 1, 23, 27, 21, requires_grad=True)
    (expected,) = torch.autograd.grad(small(x)[0, 1], x)
    got = attribute(small, x.detach(), 1, "gradient", start="logit").relevance
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)


def test_lrp_conserves_relevance_through_padded_pools(small):
    x = torch.rand(2, 1, 23, 27, 21)
    result = attribute(small, x, 1, "boehle2019")
    assert (result.conservation_error < 0.05).all()  # biases ignored: a little is absorbed


def test_a_clinicadl_checkpoint_is_imported_and_explained_on_the_caps_grid(tmp_path):
    torch.manual_seed(1)
    original = Conv5FC3().eval()
    source = tmp_path / "model.pth.tar"
    torch.save({"model": original.state_dict(), "epoch": 12, "name": "Conv5_FC3"}, source)
    out = import_clinicadl(source, tmp_path / "conv5fc3.safetensors", class_names=("CN", "AD"))
    model, card = load_checkpoint(out)
    assert card.template == CAPS_TEMPLATE and card.input_shape == CAPS_GRID.shape
    assert card.architecture == "clinicadl-conv5-fc3" and card.class_names == ("CN", "AD")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in original.state_dict().items())
    x = torch.rand(1, 1, *CAPS_GRID.shape)
    result = attribute(model, x, 1, "boehle2019")
    with torch.no_grad():
        torch.testing.assert_close(result.logits, original(x))
    assert result.relevance.shape == x.shape and (result.conservation_error < 0.05).all()
    broken = {k: v for k, v in original.state_dict().items() if not k.startswith("fc.6")}
    torch.save(broken, tmp_path / "broken.pth.tar")
    with pytest.raises(RuntimeError, match="fc.6"):
        import_clinicadl(tmp_path / "broken.pth.tar", tmp_path / "no.safetensors")
