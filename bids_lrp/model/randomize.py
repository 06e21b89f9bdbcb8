"""Copies of a network with some of its weights randomized, for the model randomization check
(`bids_lrp.randomization`; Adebayo et al. 2018). The network itself is never changed."""

from __future__ import annotations

import copy
import functools

import torch
from torch import nn

from bids_lrp.randomization import LAYERS

__all__ = ["randomized", "randomized_models", "randomized_top", "weight_layers"]

WEIGHT_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The convolution and dense layers of ``model`` by name, in execution order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, WEIGHT_TYPES)]


@functools.lru_cache(maxsize=16)
def randomized(model: nn.Module, depth: int, seed: int = 0) -> nn.Module:
    """A copy of ``model`` whose top ``depth`` weight layers are re-initialized.

    Layer ``j`` (counted from the top) gets the same random weights at every depth (seed
    ``seed + j``), so the cascade's steps differ by one layer each. ``model`` is untouched.
    """
    copied = copy.deepcopy(model).eval()
    layers = weight_layers(copied)
    with torch.random.fork_rng(devices=[]):
        for j, (_, module) in enumerate(reversed(layers[len(layers) - depth :])):
            torch.manual_seed(seed + j)
            module.reset_parameters()
    return copied


def randomized_top(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with its dense layers (after the last convolution) re-initialized."""
    dense = 0
    for _, module in reversed(weight_layers(model)):
        if not isinstance(module, nn.Linear):
            break
        dense += 1
    return randomized(model, dense, seed)


def randomized_models(model: nn.Module, layers: str) -> list[tuple[str | None, nn.Module]]:
    """The randomized networks a map is compared with: (lowest layer re-initialized, network).

    The first is always the dense-layers network (label None: the verdict); ``"cascade"``
    adds one network per weight layer, from the top down to the first convolution.
    """
    if layers not in LAYERS:
        raise ValueError(f"randomization layers must be one of {LAYERS}, got {layers!r}")
    out: list[tuple[str | None, nn.Module]] = [(None, randomized_top(model))]
    if layers == "cascade":
        names = [name for name, _ in weight_layers(model)]
        out += [(names[-depth], randomized(model, depth)) for depth in range(1, len(names) + 1)]
    return out
