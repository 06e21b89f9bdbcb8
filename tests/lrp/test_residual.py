"""Residual blocks (ResNet-style) and average pooling: every method, checked against autograd
and against zennit's LRP with its residual canonization (a ``Sum`` layer with the ``Norm``
rule, BatchNorm merged into the convolution before it)."""

from __future__ import annotations

import copy
import sys
import types

import pytest
import torch
from torch import nn

from bids_lrp.lrp import attribute
from bids_lrp.methods import CATALOG
from bids_lrp.model.layers import Residual, canonize_basic_block


def _bn(channels: int) -> nn.BatchNorm3d:
    bn = nn.BatchNorm3d(channels)
    bn.running_mean.uniform_(-0.1, 0.1)
    bn.running_var.uniform_(0.5, 1.5)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-0.1, 0.1)
    return bn


class BasicBlock(nn.Module):
    """A torchvision-style 3D basic block (the layout MONAI's ResNetBlock shares)."""

    def __init__(self, inp: int, out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(inp, out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = _bn(out)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv3d(out, out, 3, padding=1, bias=False)
        self.bn2 = _bn(out)
        self.downsample = (
            nn.Sequential(nn.Conv3d(inp, out, 1, stride=stride, bias=False), _bn(out))
            if stride != 1 or inp != out
            else None
        )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


@pytest.fixture(scope="module")
def resnet():
    """A small 3D ResNet: stem, two basic blocks, global average pooling, a dense layer."""
    torch.manual_seed(0)
    blocks = [BasicBlock(4, 4), BasicBlock(4, 8, stride=2)]
    stem = [nn.Conv3d(1, 4, 3, padding=1, bias=False), _bn(4), nn.ReLU(), nn.MaxPool3d(2)]
    head = [nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(8, 2)]
    original = nn.Sequential(*stem, *blocks, *head).eval()
    canonical = nn.Sequential(*stem, *map(canonize_basic_block, blocks), *head).eval()
    return original, canonical


def test_canonized_network_computes_the_same(resnet):
    original, canonical = resnet
    x = torch.rand(2, 1, 16, 18, 14)
    with torch.no_grad():
        torch.testing.assert_close(canonical(x), original(x))
    # the canonized block shares the block's own layers: nothing is copied or changed
    assert (
        canonical[4].body[0] is original[4].conv1
        and canonical[5].shortcut is original[5].downsample
    )
    with pytest.raises(ValueError, match="not a basic block"):
        canonize_basic_block(nn.Sequential(nn.Conv3d(1, 1, 3)))


def test_every_method_explains_a_resnet_and_leaves_it_unchanged(resnet):
    _, canonical = resnet
    before = copy.deepcopy(canonical.state_dict())
    x = torch.rand(2, 1, 16, 18, 14)
    regions = torch.zeros(16, 18, 14, dtype=torch.long)
    regions[:8], regions[8:] = 1, 2
    context = {"regions": regions, "reference": torch.zeros(16, 18, 14)}
    for method in CATALOG:
        result = attribute(canonical, x, 1, method, context=context)
        assert result.relevance.shape == x.shape and torch.isfinite(result.relevance).all()
        with torch.no_grad():
            torch.testing.assert_close(result.logits, canonical(x))
    assert all(torch.equal(before[k], v) for k, v in canonical.state_dict().items())
    assert all(not m._forward_hooks and not m._backward_hooks for m in canonical.modules())


def test_gradient_through_residual_blocks_is_autograds(resnet):
    original, canonical = resnet
    x = torch.rand(2, 1, 16, 18, 14, requires_grad=True)
    (expected,) = torch.autograd.grad(original(x)[:, 1].sum(), x)
    got = attribute(canonical, x.detach(), 1, "gradient", start="logit").relevance
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-8)


def test_lrp_conserves_relevance_through_sums_and_average_pooling():
    torch.manual_seed(1)
    body = nn.Sequential(nn.Conv3d(2, 2, 3, padding=1, bias=False), nn.ReLU(),
                         nn.Conv3d(2, 2, 3, padding=1, bias=False))  # fmt: skip
    model = nn.Sequential(
        nn.Conv3d(1, 2, 3, padding=1, bias=False), nn.ReLU(),
        Residual(body, post=nn.ReLU()), nn.AvgPool3d(2), nn.AdaptiveAvgPool3d(1),
        nn.Flatten(), nn.Linear(2, 2, bias=False),
    ).eval()  # fmt: skip
    x = torch.rand(3, 1, 8, 8, 8)
    for method in ("zplus", "boehle2019", "epsilon"):
        result = attribute(model, x, 0, method)
        assert (result.conservation_error < 1e-4).all(), method


class ZennitBlock(nn.Module):
    """The block as zennit's ResNet canonizer rewrites it: the branches stacked, then Sum."""

    def __init__(self, block: BasicBlock) -> None:
        super().__init__()
        _import_zennit_without_torchvision()
        from zennit.layer import Sum

        self.body = nn.Sequential(block.conv1, block.bn1, nn.ReLU(), block.conv2, block.bn2)
        self.downsample = block.downsample
        self.sum = Sum(dim=-1)
        self.relu = nn.ReLU()

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.sum(torch.stack([self.body(x), identity], dim=-1)))


def _import_zennit_without_torchvision() -> None:
    """Let ``import zennit`` work where torchvision is not installed.

    zennit imports its torchvision canonizers at the top (``from torchvision.models.resnet
    import Bottleneck, BasicBlock``), used only for torchvision's 2D ResNets, which this test
    does not touch. torchvision would pull another (CUDA) build of torch, so the test suite
    installs zennit without it and stands in two placeholder classes when it is missing.
    """
    try:
        import torchvision.models.resnet  # noqa: F401
    except ImportError:
        resnet = types.ModuleType("torchvision.models.resnet")
        resnet.Bottleneck = type("Bottleneck", (nn.Module,), {})
        resnet.BasicBlock = type("BasicBlock", (nn.Module,), {})
        models = types.ModuleType("torchvision.models")
        models.resnet = resnet
        package = types.ModuleType("torchvision")
        package.models = models
        sys.modules.update(
            {
                "torchvision": package,
                "torchvision.models": models,
                "torchvision.models.resnet": resnet,
            }
        )


def test_epsilon_lrp_of_a_resnet_equals_zennits(resnet):
    """zennit's epsilon rule on convolutions and dense layers, Norm on sums and average pools,
    BatchNorm merged: the same as our ``epsilon`` (zennit's ZPlus is another rule than our
    ``zplus``, alpha 1 beta 0 without biases, so it is not compared)."""
    _import_zennit_without_torchvision()
    from zennit import rules
    from zennit.attribution import Gradient
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import LayerMapComposite
    from zennit.layer import Sum
    from zennit.types import Activation, AvgPool, Convolution, Linear

    original, canonical = resnet
    stem, blocks, head = original[:4], original[4:6], original[6:]
    reference = copy.deepcopy(nn.Sequential(*stem, *(ZennitBlock(b) for b in blocks), *head))
    layer_rule = rules.Epsilon(epsilon=1e-6)
    composite = LayerMapComposite(
        layer_map=[
            (Activation, rules.Pass()),
            (AvgPool, rules.Norm()),
            (Convolution, layer_rule),
            (Linear, layer_rule),
            (Sum, rules.Norm()),
        ],
        canonizers=[SequentialMergeBatchNorm()],
    )
    x = torch.rand(2, 1, 16, 18, 14)
    ours = attribute(canonical, x, 1, "epsilon")
    with Gradient(reference, composite) as attributor:
        onehot = torch.zeros(2, 2)
        onehot[:, 1] = 1.0
        _, theirs = attributor(x, lambda out: onehot * out)
    torch.testing.assert_close(ours.relevance, theirs, rtol=1e-3, atol=1e-6)
