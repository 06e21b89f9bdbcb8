"""Each rule against its plain float64 matrix form (tests/lrp/reference.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bids_lrp.lrp.ops import LinearOp, max_pool
from bids_lrp.lrp.rules import AlphaBeta, Boehle2019Beta, Epsilon, ZBox, apply_rule
from tests.lrp import reference

LAYERS = {
    "linear": (lambda: nn.Linear(12, 5), (12,)),
    "conv3d": (lambda: nn.Conv3d(2, 3, 3), (2, 5, 4, 5)),
    "conv3d-strided-padded": (lambda: nn.Conv3d(2, 3, 3, stride=2, padding=1), (2, 5, 5, 4)),
    "conv3d-single-channel": (lambda: nn.Conv3d(1, 4, 3), (1, 5, 5, 5)),
    "conv3d-single-channel-padded": (lambda: nn.Conv3d(1, 2, 3, padding=1), (1, 4, 5, 3)),
    "conv2d": (lambda: nn.Conv2d(3, 2, 2), (3, 5, 4)),
}


def make(layer_name: str, signed: bool, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    factory, in_shape = LAYERS[layer_name]
    torch.manual_seed(seed)
    layer = factory().double()
    with torch.no_grad():
        layer.weight.copy_(
            torch.randn(layer.weight.shape, generator=generator, dtype=torch.float64)
        )
        layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator, dtype=torch.float64))
    x = torch.rand((1, *in_shape), generator=generator, dtype=torch.float64)
    if signed:
        x = x * 2 - 1
    return layer, x, generator


def run_rule(rule, layer, x, relevance_like_seed: torch.Generator):
    """Propagate a random output relevance through ``rule``; return (ours, relevance_out)."""
    inputs = x.clone().requires_grad_(True)
    out = apply_rule(
        rule, LinearOp.from_module(layer), inputs, layer.weight.detach(), layer.bias.detach()
    )
    relevance = torch.randn(out.shape, generator=relevance_like_seed, dtype=torch.float64)
    (result,) = torch.autograd.grad(out, inputs, relevance)
    return result.reshape(-1), relevance.reshape(-1), out


@pytest.mark.parametrize("layer_name", LAYERS)
@pytest.mark.parametrize("signed", [False, True], ids=["nonneg", "signed"])
class TestAgainstMatrixForm:
    def test_epsilon(self, layer_name, signed):
        layer, x, generator = make(layer_name, signed)
        ours, relevance, out = run_rule(Epsilon(0.01), layer, x, generator)
        matrix, bias, _ = reference.layer_matrix(layer, x.shape[1:])
        expected = reference.epsilon(matrix, bias, x, relevance, 0.01)
        torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)
        # the forward pass is the layer itself
        torch.testing.assert_close(out, layer(x))

    @pytest.mark.parametrize(
        ("alpha", "beta", "use_bias"),
        [(1, 0, True), (2, 1, True), (1, 0, False), (1.5, 0.5, False)],
    )
    def test_alpha_beta(self, layer_name, signed, alpha, beta, use_bias):
        layer, x, generator = make(layer_name, signed)
        rule = AlphaBeta(alpha, beta, bias=use_bias, stabilizer=1e-6)
        ours, relevance, _ = run_rule(rule, layer, x, generator)
        matrix, bias, _ = reference.layer_matrix(layer, x.shape[1:])
        expected = reference.alpha_beta(matrix, bias, x, relevance, alpha, beta, use_bias, 1e-6)
        torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)

    @pytest.mark.parametrize("beta", [0.0, 0.25, 0.5, 0.75, 1.0])
    def test_boehle2019(self, layer_name, signed, beta):
        layer, x, generator = make(layer_name, signed)
        ours, relevance, _ = run_rule(Boehle2019Beta(beta), layer, x, generator)
        matrix, _, _ = reference.layer_matrix(layer, x.shape[1:])
        expected = reference.boehle2019(matrix, x, relevance, beta)
        torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)

    def test_zbox(self, layer_name, signed):
        layer, x, generator = make(layer_name, signed)
        low, high = (-1.0, 1.0) if signed else (0.0, 1.0)
        ours, relevance, _ = run_rule(ZBox(low, high), layer, x, generator)
        matrix, _, _ = reference.layer_matrix(layer, x.shape[1:])
        expected = reference.zbox(matrix, x, relevance, low, high)
        torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)


def test_boehle2019_rare_neurons_are_exercised():
    """Sparse inputs and weights make neurons whose z+ or z- is exactly zero."""
    layer, x, generator = make("conv3d", signed=False, seed=3)
    with torch.no_grad():
        layer.weight[0].clamp_(min=0)  # channel 0 has no negative weights: z- = 0 everywhere
        layer.weight[1].clamp_(max=0)  # channel 1 has no positive weights: z+ = 0 everywhere
    x[:, :, :2] = 0  # a block with all-zero inputs: z+ = z- = 0
    for beta in (0.0, 0.5, 1.0):
        ours, relevance, _ = run_rule(Boehle2019Beta(beta), layer, x, generator)
        matrix, _, _ = reference.layer_matrix(layer, x.shape[1:])
        expected = reference.boehle2019(matrix, x, relevance, beta)
        torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)


def test_max_pool_is_winner_take_all():
    generator = torch.Generator().manual_seed(1)
    x = torch.rand((2, 3, 6, 6, 6), generator=generator, dtype=torch.float64)
    x[0, 0, :3, :3, :3] = 0.5  # a tie: relevance must go to one input only
    inputs = x.clone().requires_grad_(True)
    out = max_pool(inputs, nn.MaxPool3d(3))
    torch.testing.assert_close(out, nn.MaxPool3d(3)(x))
    relevance = torch.randn(out.shape, generator=generator, dtype=torch.float64)
    (ours,) = torch.autograd.grad(out, inputs, relevance)
    torch.testing.assert_close(ours, reference.winner_take_all(x, relevance, 3))
    assert int((ours[0, 0, :3, :3, :3] != 0).sum()) == 1


@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("padding", [(0, 0, 0), (1, 1, 1), (2, 0, 1)])
def test_convolution_in_slabs_equals_one_convolution(monkeypatch, padding, in_channels):
    """Large volumes are convolved in slabs (bounded memory); the result must not change."""
    from bids_lrp.lrp import ops

    monkeypatch.setattr(ops, "SLAB_ELEMENTS", 200)  # force many slabs on a small volume
    generator = torch.Generator().manual_seed(4)
    x = torch.rand((2, in_channels, 11, 9, 8), generator=generator, dtype=torch.float64)
    weight = torch.randn((4, in_channels, 3, 3, 3), generator=generator, dtype=torch.float64)
    bias = torch.randn(4, generator=generator, dtype=torch.float64)
    expected = torch.nn.functional.conv3d(x, weight, bias, 1, padding)
    torch.testing.assert_close(ops.conv3d_in_slabs(x, weight, bias, padding), expected)
    # and a rule whose forward and transpose both use slabs still matches its matrix form
    layer = nn.Conv3d(in_channels, 4, 3, padding=padding).double()
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    ours, relevance, _ = run_rule(Epsilon(0.01), layer, x[:1], generator)
    matrix, b, _ = reference.layer_matrix(layer, x.shape[1:])
    expected = reference.epsilon(matrix, b, x[:1], relevance, 0.01)
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)
