"""`Grid`: a regular voxel grid in world space (shape and voxel-to-world affine).

The one definition the network inputs (`bids_lrp.model.data`), the simulator
(`bids_lrp.simulate`) and the group level's map reader (`bids_lrp.group.niftistream`) share.
Pure numpy: no nibabel image, no resampling here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Grid"]


@dataclass(frozen=True, eq=False)
class Grid:
    """A regular voxel grid in world space.

    Attributes
    ----------
    shape : tuple of int
        Number of voxels per axis.
    affine : numpy.ndarray
        4x4 voxel-to-world (RAS mm) matrix.
    """

    shape: tuple[int, int, int]
    affine: np.ndarray

    @property
    def zooms(self) -> np.ndarray:
        """Voxel edge lengths (mm), as an array."""
        return np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        """Voxel edge lengths (mm), as a tuple."""
        return tuple(float(v) for v in self.zooms)

    @functools.cached_property
    def size(self) -> int:
        """Number of voxels."""
        return int(np.prod(self.shape))

    @classmethod
    def of_card(cls, card) -> Grid:
        """The network input grid a model card records (`bids_lrp.model.ModelCard`)."""
        return cls(tuple(int(n) for n in card.input_shape), np.asarray(card.affine, float))

    def same_as(self, shape: Sequence[int], affine: np.ndarray) -> bool:
        """Whether ``(shape, affine)`` is this grid (affine to 1e-4 mm)."""
        return tuple(shape) == tuple(self.shape) and np.allclose(affine, self.affine, atol=1e-4)
