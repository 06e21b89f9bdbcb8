"""The authors' LRP semantics, each checked on a network small enough to compute by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bids_lrp.lrp import attribute, explain

EPS = 1e-6


def hand_network() -> nn.Sequential:
    """x (2) -> Linear -> BatchNorm -> ReLU -> Linear -> logits (2).

    Layer 1: W = [[1, -1], [2, 1]], b = [0.5, -3]; BatchNorm: gamma = [1, 2], beta = [1, 0],
    mean 0, var + eps = 1; layer 2: W = [[1, 1], [-1, 1]], b = [0, 0].
    For x = [1, 2]: z1 = [-0.5, 1] -> BN [0.5, 2] -> ReLU [0.5, 2] -> logits [2.5, 1.5].
    """
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.ReLU(), nn.Linear(2, 2)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -1.0], [2.0, 1.0]]))
        model[0].bias.copy_(torch.tensor([0.5, -3.0]))
        model[1].weight.copy_(torch.tensor([1.0, 2.0]))
        model[1].bias.copy_(torch.tensor([1.0, 0.0]))
        model[1].running_mean.zero_()
        model[1].running_var.fill_(1.0 - model[1].eps)
        model[3].weight.copy_(torch.tensor([[1.0, 1.0], [-1.0, 1.0]]))
        model[3].bias.zero_()
    return model.eval()


X = torch.tensor([[1.0, 2.0]], dtype=torch.float64)


def test_hand_computed_relevance():
    """Softmax start, bias ignored, BatchNorm and ReLU pass-through, 1e-6 stabilizer."""
    p_hc = 1 / (1 + math.exp(-1.0))  # softmax([2.5, 1.5])[0]
    # layer 2, unit 0: z+ contributions 0.5*1 and 2*1, z+ = 2.5
    r_hidden = [0.5 * p_hc / (2.5 + EPS), 2.0 * p_hc / (2.5 + EPS)]
    # BatchNorm (gamma 2 on unit 1!) and ReLU hand relevance on unchanged.
    # Layer 1, unit 0: w+ = [1, 0] -> contributions [1, 0], z+ = 1 (bias 0.5 ignored);
    # unit 1: w+ = [2, 1] -> contributions [2, 2], z+ = 4 (bias -3 ignored).
    expected = [
        r_hidden[0] * 1 / (1 + EPS) + r_hidden[1] * 2 / (4 + EPS),
        r_hidden[1] * 2 / (4 + EPS),
    ]
    result = attribute(hand_network(), X, 0, "boehle2019")
    assert float(result.start) == pytest.approx(p_hc, rel=1e-15)
    torch.testing.assert_close(
        result.relevance, torch.tensor([expected], dtype=torch.float64), rtol=1e-14, atol=0
    )


def test_bias_is_ignored_in_the_denominators():
    """Changing layer 1's biases changes nothing while the activations keep their sign."""
    model = hand_network()
    before = explain(model, X, 0, "boehle2019")
    with torch.no_grad():
        model[0].bias.copy_(
            torch.tensor([0.7, -3.5], dtype=torch.float64)
        )  # BN outputs stay positive: [0.7, 1]
        model[3].weight.copy_(torch.tensor([[1.0, 2.0], [-1.0, 1.0]]))  # keep 2.5 hidden->logit
    after = explain(model, X, 0, "boehle2019")
    # hidden = [0.7, 1.0]; logit contributions 0.7 and 2.0: different split, but the layer-1
    # denominators (1 and 4) are the same as without biases
    p = torch.softmax(model[3](torch.tensor([[0.7, 1.0]], dtype=torch.float64)), 1)[0, 0]
    r_hidden = torch.stack([0.7 * p / (2.7 + EPS), 2.0 * p / (2.7 + EPS)])
    expected = torch.stack(
        [r_hidden[0] / (1 + EPS) + r_hidden[1] * 2 / (4 + EPS), r_hidden[1] * 2 / (4 + EPS)]
    )
    torch.testing.assert_close(after[0], expected.detach(), rtol=1e-14, atol=0)
    assert not torch.equal(before, after)


def test_batchnorm_is_not_folded():
    """BatchNorm passes relevance through, whatever its scale; folding would flip signs.

    With gamma = [1, -2] and beta = [1, 4] the network computes the same hidden values
    [0.5, 2] and logits as ``hand_network``, so the paper's relevance is unchanged. Folded into
    layer 1, unit 1's weights become [-4, -2]: no positive contribution is left to carry its
    relevance.
    """
    paper_before = explain(hand_network(), X, 0, "boehle2019")
    model = hand_network()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([1.0, -2.0], dtype=torch.float64))
        model[1].bias.copy_(torch.tensor([1.0, 4.0], dtype=torch.float64))
    torch.testing.assert_close(
        explain(model, X, 0, "boehle2019"), paper_before, rtol=1e-14, atol=0
    )
    folded = explain(model, X, 0, "alpha-beta", bias=False, start="probability")
    assert float(folded[0, 1]) == 0.0 and float(paper_before[0, 1]) > 0.2


def test_stabilizer_is_one_millionth_times_sign():
    """A single contribution of 1e-6 keeps only half its relevance: 1e-6 / (1e-6 + 1e-6)."""
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 2, bias=False)).double()
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[1].weight.copy_(torch.tensor([[1.0], [0.0]]))
    x = torch.tensor([[1e-6]], dtype=torch.float64)
    result = attribute(model, x, 0, "boehle2019", start="logit")
    # the logit is 1e-6; every layer halves the relevance: 1e-6 / 2 / 2
    assert float(result.relevance) == pytest.approx(1e-6 / 4, rel=1e-12)


def test_max_pooling_sends_relevance_to_the_winner():
    model = nn.Sequential(nn.MaxPool1d(2), nn.Flatten(), nn.Linear(2, 2, bias=False)).double()
    with torch.no_grad():
        model[2].weight.copy_(torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
    x = torch.tensor([[[0.2, 0.6, 0.9, 0.1]]], dtype=torch.float64)
    result = attribute(model, x, 0, "boehle2019", start="logit")
    logit = 0.6 + 0.9
    expected = torch.tensor([[[0.0, 0.6, 0.9, 0.0]]], dtype=torch.float64) * logit / (logit + EPS)
    torch.testing.assert_close(result.relevance, expected, rtol=1e-14, atol=0)


def test_healthy_controls_are_explained_for_the_requested_class():
    """The AD class is explained for every scan: target is what the caller asks, not argmax."""
    model = hand_network()
    result = attribute(model, X, 1, "boehle2019")  # class 1 is the losing class here
    assert int(result.logits.argmax()) == 0
    assert float(result.start) == pytest.approx(float(result.probabilities[0, 1]), rel=1e-15)


@pytest.mark.parametrize("beta", [0.25, 0.5, 1.0])
def test_subnormal_sums_count_as_zero(beta):
    """A subnormal z+ (float32 convolutions leave them) is a zero sum, not a 1e-40 divisor.

    Vectorized kernels may flush a subnormal to zero in one operation (sign) and not in another
    (== 0): the b-rule then divided by 1e-40 and 0 * inf gave NaN maps for beta 0.25 and 0.5 on
    the shipped model.
    """
    from bids_lrp.lrp.rules import Boehle2019Beta

    rule = Boehle2019Beta(beta=beta)
    n = 4096  # long enough for the vectorized kernels
    relevance = torch.full((1, 1, n), 0.5)
    subnormal = torch.cat([torch.full((1, 1, n), 1e-40), torch.zeros(1, 1, n)], dim=1)
    zero = torch.zeros(1, 2, n)
    got = rule.scales_(relevance.clone(), subnormal, None, 1)
    expected = rule.scales_(relevance.clone(), zero, None, 1)
    assert bool(torch.isfinite(got).all())
    torch.testing.assert_close(got, expected)
