"""Reading training batches: in the main process, or ahead of it by DataLoader workers.

The images are a float32 array in memory or a `bids_lrp.model.scan_cache.ScanCache` on disk;
both answer ``images[rows]``. The batches (row indices) are drawn by the training loop, so the
order and the augmentation draws do not depend on how many workers read: with ``workers=0``
the main process reads each batch when it needs it, with ``workers > 0`` that many worker
processes read the next ones while the network trains on the current one (the DataLoader's
``prefetch_factor`` batches each). Either way the loop sees the same arrays.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["Rows", "read_batches"]

#: Batches each worker reads ahead.
PREFETCH = 2


class Rows:
    """The rows ``index`` of ``images`` as an indexable of their own (read when indexed)."""

    def __init__(self, images, index: Sequence[int]) -> None:
        self.images = images
        self.index = np.asarray(index, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, rows) -> np.ndarray:
        return self.images[self.index[rows]]


class _Batches(Dataset):
    def __init__(self, images, batches: Sequence[np.ndarray]) -> None:
        self.images, self.batches = images, list(batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> np.ndarray:
        return self.images[self.batches[k]]


def _keep(batch: np.ndarray) -> np.ndarray:
    return batch


def read_batches(images, batches: Sequence[np.ndarray], workers: int = 0) -> Iterator[np.ndarray]:
    """``images[batch]`` for every batch, in order; read by ``workers`` processes when > 0."""
    if workers <= 0:
        for batch in batches:
            yield images[batch]
        return
    loader = DataLoader(
        _Batches(images, batches),
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        prefetch_factor=PREFETCH,
        collate_fn=_keep,
        generator=torch.Generator(),  # its seed draw leaves the training's random stream alone
    )
    yield from loader
