"""Cross-check with an independent implementation: captum's LRP on the paper network.

captum has no rules for 3D layers, so they are set by hand. Where the libraries agree:
- epsilon: captum applies the epsilon rule to BatchNorm as a layer of its own, we fold it into
  the convolution; both give ``x_i w_ij g_j R_j / (y_j + eps)`` up to terms of order eps.
- alpha1-beta0: captum clamps the weights to W+ and keeps x as it is, which is the z+ rule only
  for non-negative inputs; it keeps biases in the denominator (we offer both) and applies
  the epsilon rule to BatchNorm. So we compare with non-negative inputs, zero biases and a
  BatchNorm without shift (positive scale), where all definitions coincide.
"""

from __future__ import annotations

import copy

import torch
from captum.attr import LRP
from captum.attr._utils.lrp_rules import Alpha1_Beta0_Rule, EpsilonRule
from torch import nn

from bids_lrp.lrp import explain
from bids_lrp.model import build_model
from tests.lrp.conftest import randomize

#: The paper's layers on a smaller input (float64 at full size took 2 minutes; the engine's
#: full-size run is tests/lrp/test_engine.py::test_paper_network_at_full_size).
SHAPE = (129, 153, 129)


class CaptumView(nn.Module):
    """The same modules with a functional flatten (captum has no rule for nn.Flatten)."""

    def __init__(self, model: nn.Sequential):
        super().__init__()
        self.features = model.features
        self.classifier = nn.Sequential(*list(model.classifier)[1:])

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def captum_lrp(model: nn.Sequential, x: torch.Tensor, target: int, weight_rule) -> torch.Tensor:
    view = CaptumView(copy.deepcopy(model)).eval()
    for module in view.modules():
        if isinstance(module, (nn.Conv3d, nn.Linear)):
            module.rule = weight_rule()
        elif isinstance(module, (nn.BatchNorm3d, nn.MaxPool3d)):
            module.rule = EpsilonRule(epsilon=1e-9)
    return LRP(view).attribute(x.clone().requires_grad_(True), target=target).detach()


def volume(shape, dtype):
    generator = torch.Generator().manual_seed(7)
    return torch.rand((1, 1, *shape), generator=generator, dtype=dtype)


def relative_error(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours - theirs).norm() / theirs.norm())


def test_epsilon_matches_captum():
    """In float64: a tiny epsilon amplifies float32 rounding wherever a denominator is near
    zero, in either library (they are about 1e-3 apart in float32)."""
    model = randomize(build_model("boehle2019", input_shape=SHAPE), seed=11).double().eval()
    x = volume(SHAPE, torch.float64)
    theirs = captum_lrp(model, x, 1, lambda: EpsilonRule(epsilon=1e-9))
    ours = explain(model, x, 1, "epsilon", epsilon=1e-9)
    assert relative_error(ours, theirs) < 1e-5
    # element-wise, folding BatchNorm differs from captum's separate BatchNorm step only where
    # a convolution output is within a few eps of zero: allow 1 voxel in 10,000 there
    close = torch.isclose(ours, theirs, rtol=1e-5, atol=1e-5 * float(theirs.abs().max()))
    assert float(close.double().mean()) > 0.9999


def test_alpha1_beta0_matches_captum():
    """In float64 (captum's own float32 result is about 1e-4 off its float64 one)."""
    model = randomize(build_model("boehle2019", input_shape=SHAPE), seed=12, zero_bias=True)
    model = model.double().eval()
    x = volume(SHAPE, torch.float64)
    theirs = captum_lrp(model, x, 1, Alpha1_Beta0_Rule)
    for method, params, tolerance in [
        ("zplus", {"stabilizer": 1e-9}, 1e-7),
        ("alpha-beta", {"stabilizer": 1e-9}, 1e-7),
        # the paper's rule, with its own 1e-6 stabilizer instead of captum's 1e-9
        ("boehle2019", {"start": "logit"}, 1e-5),
    ]:
        ours = explain(model, x, 1, method, **params)
        assert relative_error(ours, theirs) < tolerance, method
    # float32 keeps about 4-5 digits through 6 layers with a 1e-9 stabilizer (captum's own
    # float32 result is about 1e-4 off too)
    x32 = x.float()
    truth = explain(model, x32.double(), 1, "zplus", stabilizer=1e-9)
    ours32 = explain(model.float(), x32, 1, "zplus", stabilizer=1e-9)
    assert relative_error(ours32.double(), truth) < 1e-4
