from __future__ import annotations

import pytest
import torch
from torch import nn

from bids_lrp.model import build_model

SMALL_SHAPE = (80, 82, 79)  # the smallest edges the paper network takes are 78
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def randomize(model: nn.Module, seed: int = 0, zero_bias: bool = False) -> nn.Module:
    """Random weights and BatchNorm statistics, so no rule meets a trivial network."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv3d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator))
                module.weight.mul_(fan_in**-0.5)
                module.bias.copy_(
                    0 if zero_bias else 0.1 * torch.randn(module.bias.shape, generator=generator)
                )
            elif isinstance(module, nn.BatchNorm3d):
                n = module.num_features
                module.weight.copy_(0.5 + torch.rand(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                if not zero_bias:
                    module.bias.copy_(0.1 * torch.randn(n, generator=generator))
                    module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
    return model


@pytest.fixture
def small_model() -> nn.Module:
    return randomize(build_model("boehle2019", input_shape=SMALL_SHAPE)).eval()


@pytest.fixture
def small_batch() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.rand((3, 1, *SMALL_SHAPE), generator=generator)
