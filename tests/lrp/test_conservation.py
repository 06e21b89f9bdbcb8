"""Relevance conservation: the input relevance sums to the start relevance where rules conserve.

Stated tolerances (float64, paper network at a small input size, random weights):
- zero biases and BatchNorm without shift: ``boehle2019`` (any beta), ``zplus``, ``alpha-beta``
  (beta = 0) and ``epsilon`` conserve up to their stabilizers: relative error < 1e-4.
- with biases, ``epsilon`` and ``alpha-beta`` give relevance to the biases; ``absorbed``
  reports how much, and it is what is missing from the input.
"""

from __future__ import annotations

import pytest
import torch

from bids_lrp.lrp import attribute
from bids_lrp.model import build_model
from tests.lrp.conftest import SMALL_SHAPE, randomize

TOLERANCE = 1e-4


def network(zero_bias: bool, seed: int = 5):
    model = build_model("boehle2019", input_shape=SMALL_SHAPE)
    return randomize(model, seed=seed, zero_bias=zero_bias).double().eval()


@pytest.fixture(scope="module")
def x():
    generator = torch.Generator().manual_seed(9)
    return torch.rand((2, 1, *SMALL_SHAPE), generator=generator, dtype=torch.float64)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("boehle2019", {"beta": 0.0}),
        ("boehle2019", {"beta": 0.5}),
        ("boehle2019", {"beta": 1.0}),
        ("zplus", {}),
        ("alpha-beta", {"alpha": 1.0, "beta": 0.0}),
        ("epsilon", {"epsilon": 1e-9}),
    ],
)
def test_conserving_rules_conserve_without_biases(x, method, params):
    result = attribute(network(zero_bias=True), x, 1, method, **params)
    assert result.conservation_error.max() < TOLERANCE, result.conservation_error
    torch.testing.assert_close(result.absorbed, result.start - result.relevance.sum((1, 2, 3, 4)))


def test_boehle2019_conserves_with_biases_because_it_ignores_them(x):
    """Biases never enter the authors' denominators; relevance still reaches the input."""
    result = attribute(network(zero_bias=False), x, 1, "boehle2019", beta=1.0)
    assert result.conservation_error.max() < 0.05


def test_rare_neuron_handling_is_what_conserves_beta_rules(x):
    """A unit whose contributions are all positive has z- = 0. The authors send all of its
    relevance through z+; the textbook alpha-beta rule multiplies it by alpha = 2 there."""
    model = network(zero_bias=True)
    with torch.no_grad():
        model.features[0].weight[:4].abs_()  # half of the first layer's channels: z- = 0
    paper = attribute(model, x, 1, "boehle2019", beta=1.0)
    literature = attribute(model, x, 1, "alpha-beta", alpha=2.0, beta=1.0, bias=False)
    assert paper.conservation_error.max() < TOLERANCE
    assert literature.conservation_error.min() > 10 * TOLERANCE


def test_biases_absorb_relevance_and_it_is_reported(x):
    result = attribute(network(zero_bias=False), x, 1, "epsilon", epsilon=1e-9)
    assert result.conservation_error.min() > 1e-3  # the biases took a visible share
    torch.testing.assert_close(result.relevance_sum + result.absorbed, result.start)
