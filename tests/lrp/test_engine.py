"""The explain()/attribute() contract: shapes, batches, the model left alone, bad input."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from bids_lrp.lrp import METHODS, attribute, explain, list_methods
from bids_lrp.model import build_model
from tests.lrp.conftest import DEVICES, SMALL_SHAPE, randomize

#: The single-pass methods; those of several passes (Grad-CAM, integrated gradients,
#: SmoothGrad, occlusion) have the same checks on a smaller network in test_multipass.py.
ALL_METHODS = [name for name in list_methods() if METHODS[name].compute is None]


def test_registry_lists_every_required_method():
    required = {
        "boehle2019",
        "alpha-beta",
        "epsilon",
        "zplus",
        "composite",
        "gradient",
        "gradient-x-input",
        "guided-backprop",
    }
    assert required <= set(ALL_METHODS)
    assert list_methods()["boehle2019"] == {"beta": 0.0, "start": "probability"}
    assert all("start" in params for params in list_methods().values())


@pytest.mark.parametrize("method", ALL_METHODS)
@pytest.mark.parametrize("device", DEVICES)
def test_result_is_like_x_and_batch_equals_one_by_one(small_model, small_batch, method, device):
    model, x = small_model.to(device), small_batch.to(device)
    target = torch.tensor([1, 0, 1], device=device)
    batch = explain(model, x, target, method)
    assert batch.shape == x.shape and batch.dtype == x.dtype and batch.device == x.device
    assert bool(torch.isfinite(batch).all())
    assert float(batch.abs().sum()) > 0
    # float32 kernels sum in another order for a batch, which the epsilon rule's tiny
    # stabilizer amplifies where a denominator is near 0 (a 5% difference, seen on some CPUs):
    # batch against one by one in float64, where the order no longer matters
    # (two images: a batch all the same, and float64 3D convolutions are slow on CPU)
    model64, x64, target = copy.deepcopy(model).double(), x[:2].double(), target[:2]
    batch = explain(model64, x64, target, method)
    for i in range(x64.shape[0]):
        single = explain(model64, x64[i : i + 1], int(target[i]), method)
        scale = float(single.abs().max())
        torch.testing.assert_close(batch[i : i + 1], single, rtol=1e-7, atol=1e-9 * scale)


@pytest.mark.parametrize("method", ALL_METHODS)
@pytest.mark.parametrize("training", [False, True])
def test_model_comes_back_unchanged(small_model, small_batch, method, training):
    model = small_model.train(training)
    model.features[0].weight.grad = torch.full_like(model.features[0].weight, 7.0)
    before = copy.deepcopy(model.state_dict())
    no_grad_params = [n for n, p in model.named_parameters() if p.grad is None]
    explain(model, small_batch, 1, method)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training is training
    assert all(m.training is training for m in model.modules())
    assert torch.equal(
        model.features[0].weight.grad, torch.full_like(model.features[0].weight, 7.0)
    )
    assert [n for n, p in model.named_parameters() if p.grad is None] == no_grad_params
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
        assert not module._backward_hooks and not getattr(module, "_backward_pre_hooks", {})


def test_inference_semantics_whatever_the_mode(small_model, small_batch):
    """Dropout and batch statistics never enter an explanation."""
    evaluated = explain(small_model.eval(), small_batch, 1, "boehle2019")
    trained = explain(small_model.train(), small_batch, 1, "boehle2019")
    torch.testing.assert_close(evaluated, trained, rtol=0, atol=0)


def test_logits_match_the_model(small_model, small_batch):
    result = attribute(small_model, small_batch, 1, "boehle2019")
    with torch.no_grad():
        logits = small_model(small_batch)
    torch.testing.assert_close(result.logits, logits, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        result.probabilities, torch.softmax(logits, 1), rtol=1e-4, atol=1e-6
    )
    # the paper's start relevance: the softmax probability of the explained class
    torch.testing.assert_close(result.start, torch.softmax(logits, 1)[:, 1], rtol=1e-4, atol=1e-6)


def test_start_from_logit_or_probability(small_model, small_batch):
    from_logit = attribute(small_model, small_batch, 0, "epsilon", start="logit")
    from_prob = attribute(small_model, small_batch, 0, "epsilon", start="probability")
    torch.testing.assert_close(from_logit.start, from_logit.logits[:, 0])
    torch.testing.assert_close(from_prob.start, from_prob.probabilities[:, 0])
    # the epsilon rule is linear in the start relevance
    ratio = (from_prob.start / from_logit.start).view(-1, 1, 1, 1, 1)
    expected = from_logit.relevance * ratio
    scale = float(expected.abs().max())
    torch.testing.assert_close(from_prob.relevance, expected, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("method", ["boehle2019", "guided-backprop"])
def test_predicted_target_explains_each_images_argmax(small_model, small_batch, method):
    model = copy.deepcopy(small_model)
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():  # a bias that splits the batch between the two classes
        margin = (model(small_batch) @ torch.tensor([1.0, -1.0])).sort().values
        last.bias += torch.tensor([-1.0, 1.0]) * float(margin[0] + margin[1]) / 4
        predicted = model(small_batch).argmax(1)
    assert 0 < int(predicted.sum()) < len(predicted), predicted
    result = attribute(model, small_batch, "predicted", method)
    assert torch.equal(result.target, predicted)
    expected = attribute(model, small_batch, predicted, method)
    assert torch.equal(result.relevance, expected.relevance)
    torch.testing.assert_close(result.start, expected.start)


def test_works_under_no_grad_and_inference_mode(small_model, small_batch):
    expected = explain(small_model, small_batch, 1, "boehle2019")
    with torch.no_grad():
        assert torch.equal(explain(small_model, small_batch, 1, "boehle2019"), expected)
    with torch.inference_mode():
        x = small_batch.clone()
    assert torch.equal(explain(small_model, x, 1, "boehle2019"), expected)


def test_gradient_methods_match_autograd(small_model, small_batch):
    x = small_batch.clone().requires_grad_(True)
    model = small_model.eval()
    (grad,) = torch.autograd.grad(model(x)[:, 1].sum(), x)
    torch.testing.assert_close(
        explain(model, small_batch, 1, "gradient"), grad, rtol=1e-4, atol=1e-8
    )
    torch.testing.assert_close(
        explain(model, small_batch, 1, "gradient-x-input"),
        grad * small_batch,
        rtol=1e-4,
        atol=1e-8,
    )
    guided = explain(model, small_batch, 1, "guided-backprop")
    assert bool((guided >= 0).all())
    signed = explain(model, small_batch, 1, "guided-backprop", absolute=False)
    torch.testing.assert_close(guided, signed.abs())


def test_guided_backprop_matches_a_hand_written_version():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(1, 6)
    h1 = model[0](x)
    a1 = h1.clamp(min=0)
    h2 = model[2](a1)
    g = model[4].weight[1:2]  # d logit_1 / d a2
    g = g * (h2 > 0) * (g > 0)  # guided ReLU 2
    g = g @ model[2].weight
    g = g * (h1 > 0) * (g > 0)  # guided ReLU 1
    expected = (g @ model[0].weight).abs()
    torch.testing.assert_close(explain(model, x, 1, "guided-backprop").detach(), expected.detach())


class TestBadInput:
    def test_unknown_method_lists_the_methods(self, small_model, small_batch):
        with pytest.raises(
            ValueError, match="unknown explanation method 'lrp'.*boehle2019.*epsilon"
        ):
            explain(small_model, small_batch, 1, "lrp")

    def test_unknown_parameter_lists_the_parameters(self, small_model, small_batch):
        with pytest.raises(ValueError, match="no parameter 'gamma'.*beta, start"):
            explain(small_model, small_batch, 1, "boehle2019", gamma=0.25)

    @pytest.mark.parametrize(
        ("method", "params", "message"),
        [
            ("alpha-beta", {"alpha": 2.0, "beta": 0.5}, "alpha - beta must be 1"),
            ("boehle2019", {"beta": -0.5}, "beta must be >= 0"),
            ("epsilon", {"epsilon": 0.0}, "epsilon must be > 0"),
            ("epsilon", {"start": "softmax"}, "start must be one of"),
            ("composite", {"low": 1.0, "high": 0.0}, "low must be smaller than high"),
        ],
    )
    def test_invalid_parameter_values(self, small_model, small_batch, method, params, message):
        with pytest.raises(ValueError, match=message):
            explain(small_model, small_batch, 1, method, **params)

    def test_wrong_rank(self, small_model, small_batch):
        with pytest.raises(ValueError, match="must have 5 dimensions"):
            explain(small_model, small_batch[:, 0], 1)

    def test_wrong_channels(self, small_model, small_batch):
        with pytest.raises(ValueError, match="must have 1 channel"):
            explain(small_model, small_batch.repeat(1, 2, 1, 1, 1), 1)

    @pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
    def test_non_finite(self, small_model, small_batch, value):
        x = small_batch.clone()
        x[0, 0, 10, 10, 10] = value
        with pytest.raises(ValueError, match="NaN or infinite"):
            explain(small_model, x, 1)

    @pytest.mark.parametrize("target", [2, -1, torch.tensor([0, 1, 5])])
    def test_target_out_of_range(self, small_model, small_batch, target):
        with pytest.raises(ValueError, match=r"target must be in 0\.\.1"):
            explain(small_model, small_batch, target)

    def test_target_of_wrong_length_or_type(self, small_model, small_batch):
        with pytest.raises(ValueError, match="3 entries"):
            explain(small_model, small_batch[:2], torch.tensor([0, 1, 1]))
        with pytest.raises(TypeError, match="integer tensor"):
            explain(small_model, small_batch, torch.tensor([0.0, 1.0, 1.0]))
        with pytest.raises(ValueError, match="a class index or 'predicted'"):
            explain(small_model, small_batch, "AD")

    def test_wrong_spatial_shape_names_the_layer(self, small_model):
        with pytest.raises(ValueError, match=r"layer 'classifier.2' \(Linear\)"):
            explain(small_model, torch.rand(1, 1, 120, 120, 120), 1)

    def test_dtype_mismatch(self, small_model, small_batch):
        with pytest.raises(ValueError, match="float64 on cpu but the model is torch.float32"):
            explain(small_model, small_batch.double(), 1)

    def test_integer_input(self, small_model):
        with pytest.raises(ValueError, match="floating-point"):
            explain(small_model, torch.zeros(1, 1, *SMALL_SHAPE, dtype=torch.long), 1)

    def test_layer_the_method_cannot_handle(self):
        model = nn.Sequential(
            nn.Conv3d(1, 2, 3), nn.LPPool3d(2, 2), nn.Flatten(), nn.Linear(2 * 27, 2)
        )
        with pytest.raises(ValueError, match=r"cannot handle layer '1' \(LPPool3d\)"):
            explain(model, torch.rand(1, 1, 8, 8, 8), 1)

    def test_model_that_is_not_sequential(self):
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)

            def forward(self, x):
                return self.fc(x) * 2

        with pytest.raises(ValueError, match="needs an nn.Sequential model"):
            explain(Net(), torch.rand(1, 4), 1)

    def test_unfoldable_batchnorm(self):
        model = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2)).eval()
        with pytest.raises(ValueError, match="folds BatchNorm.*'0' does not follow"):
            explain(model, torch.rand(2, 4), 1, "epsilon")
        assert explain(model, torch.rand(2, 4), 1, "boehle2019").shape == (2, 4)


def test_paper_network_at_full_size():
    """One full 193x229x193 volume: the paper's method end to end, conserving relevance."""
    model = randomize(build_model("boehle2019"), seed=2, zero_bias=True).eval()
    x = torch.rand((1, 1, 193, 229, 193), generator=torch.Generator().manual_seed(3))
    result = attribute(model, x, 1, "boehle2019")
    assert result.relevance.shape == x.shape
    assert float(result.conservation_error) < 1e-3
