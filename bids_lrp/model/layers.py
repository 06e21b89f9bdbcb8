"""Layers of other people's networks that the engine (`bids_lrp.lrp`) knows how to explain."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PadMaxPool3d"]


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
