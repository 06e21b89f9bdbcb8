"""Grad-CAM, integrated gradients, SmoothGrad and occlusion, checked against captum on 3D."""

from __future__ import annotations

import copy

import pytest
import torch
from captum.attr import FeatureAblation, IntegratedGradients, LayerGradCam, NoiseTunnel, Saliency
from torch import nn

from bids_lrp.lrp import attribute, explain
from tests.lrp.conftest import randomize

SHAPE = (26, 30, 28)


@pytest.fixture(scope="module")
def model() -> nn.Module:
    """A small network of the paper's layer types (conv, BatchNorm, ReLU, max-pool, dense)."""
    net = nn.Sequential(
        nn.Sequential(
            nn.Conv3d(1, 4, 3), nn.BatchNorm3d(4), nn.ReLU(), nn.MaxPool3d(2),
            nn.Conv3d(4, 6, 3), nn.BatchNorm3d(6), nn.ReLU(), nn.MaxPool3d(2),
        ),
        nn.Sequential(nn.Flatten(), nn.Linear(6 * 5 * 6 * 5, 8), nn.ReLU(), nn.Linear(8, 2)),
    )  # fmt: skip
    return randomize(net, seed=3).double().eval()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    generator = torch.Generator().manual_seed(5)
    return torch.rand((2, 1, *SHAPE), generator=generator, dtype=torch.float64)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _unchanged(model, before):
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(m._forward_hooks or m._backward_hooks or m._forward_pre_hooks
                   for m in model.modules())  # fmt: skip


def test_grad_cam_is_captums_layer_grad_cam(model, x):
    before = _state(model)
    ours = attribute(model, x, 1, "grad-cam")
    _unchanged(model, before)
    layer = model[0][-4]  # the last convolution (conv, bn, relu, pool per block)
    assert isinstance(layer, nn.Conv3d)
    view = copy.deepcopy(model)
    theirs = LayerGradCam(view, view[0][-4]).attribute(x, target=1, relu_attributions=True)
    theirs = torch.nn.functional.interpolate(theirs, size=SHAPE, mode="trilinear")
    assert ours.relevance.shape == x.shape
    assert torch.allclose(ours.relevance, theirs, rtol=1e-6, atol=1e-10)


def test_grad_cam_at_a_named_layer_and_a_bad_name(model, x):
    named = attribute(model, x[:1], 1, "grad-cam", layer="0.2").relevance
    view = copy.deepcopy(model)
    theirs = LayerGradCam(view, view[0][2]).attribute(x[:1], target=1, relu_attributions=True)
    theirs = torch.nn.functional.interpolate(theirs, size=SHAPE, mode="trilinear")
    assert torch.allclose(named, theirs, rtol=1e-6, atol=1e-10)
    with pytest.raises(ValueError, match="no layer 'nowhere'"):
        attribute(model, x[:1], 1, "grad-cam", layer="nowhere")


def test_integrated_gradients_is_captums_and_complete(model, x):
    before = _state(model)
    ours = attribute(model, x, 1, "integrated-gradients", steps=16)
    _unchanged(model, before)
    ig = IntegratedGradients(copy.deepcopy(model))
    theirs = ig.attribute(x, target=1, n_steps=16, method="gausslegendre")
    assert torch.allclose(ours.relevance, theirs, rtol=1e-6, atol=1e-9)
    # completeness: the map distributes F(x) - F(0), up to the integration error (not
    # monotonic in the steps: a ReLU network is not smooth along the path)
    assert torch.allclose(ours.relevance_sum, ours.start, rtol=0.05)
    finer = attribute(model, x, 1, "integrated-gradients", steps=128)
    assert torch.equal(finer.start, ours.start)
    assert torch.allclose(finer.relevance_sum, finer.start, rtol=0.02)


def test_smoothgrad_without_noise_is_its_base_and_with_noise_the_mean_of_copies(model, x):
    plain = explain(model, x, 1, "gradient")
    assert torch.allclose(explain(model, x, 1, "smoothgrad", sigma=0.0, samples=2), plain)
    view = copy.deepcopy(model)
    captum_plain = NoiseTunnel(Saliency(view)).attribute(
        x, target=1, nt_type="smoothgrad", nt_samples=2, stdevs=0.0, abs=False
    )
    assert torch.allclose(plain, captum_plain, rtol=1e-6, atol=1e-12)
    noisy = explain(model, x, 1, "smoothgrad", base="boehle2019", samples=3, sigma=0.1, seed=4)
    generator = torch.Generator().manual_seed(4)
    span = (x.flatten(1).amax(1) - x.flatten(1).amin(1)).view(-1, 1, 1, 1, 1)
    noise = [torch.randn(x.shape[1:], generator=generator, dtype=x.dtype) for _ in range(3)]
    copies = [explain(model, x + 0.1 * span * n, 1, "boehle2019", start="logit") for n in noise]
    assert torch.allclose(noisy, sum(copies) / 3, rtol=1e-9, atol=1e-14)
    again = explain(model, x, 1, "smoothgrad", base="boehle2019", samples=3, sigma=0.1, seed=4)
    assert torch.equal(noisy, again)


def test_occlusion_is_captums_feature_ablation_per_voxel(model, x):
    regions = torch.zeros(SHAPE, dtype=torch.long)
    regions[10:40, 10:40, 10:40] = 3
    regions[40:70, 20:60, 30:70] = 7
    reference = torch.full(SHAPE, 0.25, dtype=x.dtype)
    ours = attribute(model, x, 1, "occlusion", start="logit",
                     context={"regions": regions, "reference": reference})  # fmt: skip
    view = copy.deepcopy(model)
    theirs = FeatureAblation(view).attribute(
        x, target=1, baselines=reference[None, None], feature_mask=regions[None, None]
    )
    for label in (3, 7):
        mask = (regions == label)[None, None].expand_as(x)
        per_voxel = ours.relevance[mask] * int((regions == label).sum())
        assert torch.allclose(per_voxel, theirs[mask], rtol=1e-6, atol=1e-12)
    assert float(ours.relevance[(regions == 0)[None, None].expand_as(x)].abs().sum()) == 0
    with pytest.raises(ValueError, match="needs the atlas areas"):
        attribute(model, x, 1, "occlusion")


MULTIPASS = ["grad-cam", "integrated-gradients", "smoothgrad", "occlusion"]


@pytest.mark.parametrize("method", MULTIPASS)
def test_batch_equals_one_by_one_and_the_model_is_untouched(model, x, method):
    """As the single-pass methods (tests/lrp/test_engine.py), on a small network."""
    regions = torch.zeros(SHAPE, dtype=torch.long)
    regions[5:15, 5:20, 5:20], regions[15:25, 10:25, 10:25] = 1, 2
    context = {"regions": regions, "reference": torch.full(SHAPE, 0.5, dtype=x.dtype)}
    before = _state(model)
    target = torch.tensor([1, 0])
    params = {"smoothgrad": {"samples": 2}, "integrated-gradients": {"steps": 8}}.get(method, {})
    batch = attribute(model, x, target, method, context=context, **params)
    _unchanged(model, before)
    assert batch.relevance.shape == x.shape and float(batch.relevance.abs().sum()) > 0
    for i in range(len(x)):
        single = attribute(model, x[i : i + 1], int(target[i]), method, context=context,
                           **params)  # fmt: skip
        scale = float(single.relevance.abs().max())
        torch.testing.assert_close(batch.relevance[i : i + 1], single.relevance, rtol=1e-7,
                                   atol=1e-9 * scale)  # fmt: skip
        torch.testing.assert_close(batch.logits[i : i + 1], single.logits)
