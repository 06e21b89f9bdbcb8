"""Layers of other people's networks that the engine (`bids_lrp.lrp`) knows how to explain."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PadMaxPool3d", "Residual", "canonize_basic_block"]


class PadMaxPool3d(nn.Module):
    """ClinicaDL's ``PadMaxPool3d``: pad each spatial edge, at its start, with zeros up to a
    multiple of the stride, then max-pool; no voxel is dropped at the far edges.

    The same computation as ``clinicadl.utils.network.network_utils.PadMaxPool3d`` (without its
    ``return_indices``/``return_pad`` modes, used by ClinicaDL's autoencoders only).
    """

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size = int(kernel_size)
        self.stride = int(stride)
        self.pool = nn.MaxPool3d(self.kernel_size, self.stride)

    def padding(self, shape) -> tuple[int, int, int, int, int, int]:
        """``F.pad`` padding for an input of ``shape`` (N, C, X, Y, Z): zeros before each edge."""
        x, y, z = ((self.stride - int(s) % self.stride) % self.stride for s in shape[-3:])
        return (z, 0, y, 0, x, 0)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(F.pad(x, self.padding(x.shape)))


class Residual(nn.Module):
    """A residual block, ``post(body(x) + shortcut(x))``, in a form the engine can explain.

    ``body`` and ``shortcut`` are ``nn.Sequential`` (or single layers; the shortcut defaults to
    the identity, a ResNet downsampling shortcut is a 1x1x1 convolution and a BatchNorm);
    ``post`` is the element-wise layer after the sum (a ReLU in ResNets; default none).
    `canonize_basic_block` builds one from a torchvision- or MONAI-style basic block.
    """

    def __init__(
        self, body: nn.Module, shortcut: nn.Module | None = None, post: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut if shortcut is not None else nn.Identity()
        self.post = post if post is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.post(self.body(x) + self.shortcut(x))


def canonize_basic_block(block: nn.Module) -> Residual:
    """A ResNet basic block (``conv1, bn1, relu|act, conv2, bn2, downsample``) as a `Residual`.

    The layers are the block's own (shared, not copied: the block is never changed), in the
    order its ``forward`` runs them: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x))``,
    as torchvision's ``BasicBlock`` and MONAI's ``ResNetBlock`` compute it. Raises ValueError
    for a block without these parts.
    """
    act = getattr(block, "relu", None) or getattr(block, "act", None)
    parts = [getattr(block, n, None) for n in ("conv1", "bn1", "conv2", "bn2")]
    if act is None or any(p is None for p in parts):
        raise ValueError(
            f"{type(block).__name__} is not a basic block (conv1, bn1, relu or act, conv2, bn2)"
        )
    conv1, bn1, conv2, bn2 = parts
    if not isinstance(act, nn.ReLU):
        raise ValueError(f"{type(block).__name__}: its activation {act!r} is not a ReLU")
    body = nn.Sequential(conv1, bn1, nn.ReLU(), conv2, bn2)
    return Residual(body, getattr(block, "downsample", None), nn.ReLU())
