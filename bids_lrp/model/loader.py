"""Reading training batches: in the main process, or ahead of it by DataLoader workers.

The images are a float32 array in memory or a `bids_lrp.model.scan_cache.ScanCache` on disk;
both answer ``images[rows]``. The batches (row indices) are drawn by the training loop, so the
order and the augmentation draws do not depend on how many workers read: with ``workers=0``
the main process reads each batch when it needs it, with ``workers > 0`` that many worker
processes (started once, kept for every epoch) read the next ones while the network trains on
the current one (the DataLoader's ``prefetch_factor`` batches each). Either way the loop sees
the same arrays.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ["BatchReader", "Rows"]

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


class _ByBatch(Dataset):
    """``dataset[batch]`` is ``images[batch]``: one item per batch (no collation)."""

    def __init__(self, images) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, batch: np.ndarray) -> torch.Tensor:
        # a tensor crosses to the main process in shared memory, an array through a pipe
        return torch.from_numpy(self.images[batch])


class _EpochBatches(Sampler):
    """The batches of the current epoch, set before each pass."""

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def _keep(batch: torch.Tensor) -> torch.Tensor:
    return batch


class BatchReader:
    """Reads the batches of each epoch, in order: by the main process or ``workers`` processes.

    The worker processes start at the first epoch and serve every later one
    (``persistent_workers``), so an epoch costs no process start-up.
    """

    def __init__(self, images, workers: int = 0) -> None:
        self.images, self.workers = images, workers
        self._sampler = _EpochBatches()
        self._loader: DataLoader | None = None
        if workers > 0:
            self._loader = DataLoader(
                _ByBatch(images),
                sampler=self._sampler,
                batch_size=None,
                num_workers=workers,
                prefetch_factor=PREFETCH,
                persistent_workers=True,
                collate_fn=_keep,
                generator=torch.Generator(),  # its seed draw leaves the training's stream alone
            )

    def read(self, batches: Sequence[np.ndarray]) -> Iterator[np.ndarray]:
        """``images[batch]`` for every batch, in order."""
        if self._loader is None:
            for batch in batches:
                yield self.images[batch]
            return
        self._sampler.batches = list(batches)
        for batch in self._loader:
            yield batch.numpy()
