"""Training on several processes (GPUs, nodes) with PyTorch's DistributedDataParallel.

``torchrun`` (or ``srun torchrun`` on a SLURM cluster) starts one process per GPU and sets
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; `from_environment` reads them. Every process draws
the same batches and augmentation from the same seed and trains on its share of each batch
(``batch[rank::world]``), so the global batch is the recipe's, as on one process:

- the loss of a share is its summed cross-entropy over the global batch size, times the number
  of processes, so DDP's average of the gradients is the gradient of the batch's mean loss;
- BatchNorm layers normalize with the statistics of the whole batch across processes
  (`GlobalBatchNorm3d` on the CPU, where PyTorch's SyncBatchNorm does not run; SyncBatchNorm
  on CUDA);
- the validation scans are split between the processes and their outputs gathered, so every
  process takes the same early-stopping and checkpoint decisions.

What is left different from one process is the order of floating-point sums and the dropout
masks, which each process draws from its own stream. Processes talk through ``gloo`` on the
CPU and ``nccl`` on GPUs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "GlobalBatchNorm3d",
    "Processes",
    "from_environment",
    "gather_rows",
    "global_batch_norm",
    "plain_batch_norm",
    "process_group",
    "share",
    "sum_over_processes",
]


@dataclass(frozen=True)
class Processes:
    """This process's place among those training together."""

    rank: int
    world: int
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes the outputs and shows progress (rank 0)."""
        return self.rank == 0


def from_environment(environ=os.environ) -> Processes | None:
    """The processes torchrun started (``WORLD_SIZE`` > 1), or None for a single process."""
    world = int(environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return None
    return Processes(int(environ["RANK"]), world, int(environ.get("LOCAL_RANK", "0")))


def device_of(processes: Processes, device: str) -> str:
    """The device of this process: its own GPU (``cuda:LOCAL_RANK``) or the CPU."""
    return f"cuda:{processes.local_rank}" if str(device).startswith("cuda") else "cpu"


@contextlib.contextmanager
def process_group(processes: Processes, device: str) -> Iterator[None]:
    """Join the process group for the duration (nccl for GPUs, gloo for the CPU)."""
    if dist.is_initialized():
        yield
        return
    backend = "nccl" if str(device).startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(processes.local_rank)
    dist.init_process_group(backend, rank=processes.rank, world_size=processes.world)
    try:
        yield
    finally:
        dist.destroy_process_group()


def share(batch: np.ndarray, processes: Processes) -> np.ndarray:
    """This process's rows of a batch: every ``world``-th from its rank."""
    return batch[processes.rank :: processes.world]


def sum_over_processes(*values: float) -> list[float]:
    """The sums of ``values`` over all processes (float64)."""
    total = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(total)
    return total.tolist()


def gather_rows(part: np.ndarray, processes: Processes, n: int) -> np.ndarray:
    """Reassemble per-process results of rows ``rank::world`` into ``n`` rows in order."""
    parts: list = [None] * processes.world
    dist.all_gather_object(parts, part)
    out = np.empty((n, *part.shape[1:]), part.dtype)
    for rank, rows in enumerate(parts):
        out[rank :: processes.world] = rows
    return out


class _SumOverProcesses(torch.autograd.Function):
    """All-reduce (sum) whose gradient is the all-reduced gradient (every process's loss
    depends on every process's input through the sum)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        total = grad.clone()
        dist.all_reduce(total)
        return total


class GlobalBatchNorm3d(nn.BatchNorm3d):
    """BatchNorm3d whose training statistics are those of the batch across all processes.

    Mean and variance are sums all-reduced over the processes by a differentiable all-reduce,
    so the gradient flows through them as it does through one process's BatchNorm of the whole
    batch. The running statistics are updated
    as BatchNorm does (unbiased variance, ``momentum``). In eval mode it is a BatchNorm3d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        x = x.float()  # statistics in float32, also under autocast
        axes = [0, 2, 3, 4]
        count = torch.tensor([float(x.shape[0] * x[0, 0].numel())], dtype=x.dtype)
        total = _SumOverProcesses.apply(torch.cat([x.sum(axes), count.to(x.device)]))
        n = total[-1]
        mean = total[:-1] / n
        centred = x - mean[None, :, None, None, None]
        var = _SumOverProcesses.apply((centred * centred).sum(axes)) / n
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            momentum = (
                self.momentum
                if self.momentum is not None
                else 1.0 / float(self.num_batches_tracked)
            )
            self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
            unbiased = var.detach() * n / max(float(n) - 1.0, 1.0)
            self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
        scale = torch.rsqrt(var + self.eps) * self.weight
        return centred * scale[None, :, None, None, None] + self.bias[None, :, None, None, None]


def _replace(model: nn.Module, make) -> nn.Module:
    for name, child in model.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            new = make(child)
            new.load_state_dict(child.state_dict())
            setattr(model, name, new.to(child.weight.device))
        else:
            _replace(child, make)
    return model


def global_batch_norm(model: nn.Module, device: str) -> nn.Module:
    """Replace every BatchNorm3d by one over the whole batch across processes (in place)."""
    if str(device).startswith("cuda"):
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)

    def make(bn):
        return GlobalBatchNorm3d(bn.num_features, bn.eps, bn.momentum, bn.affine)

    return _replace(model, make)


def plain_batch_norm(model: nn.Module) -> nn.Module:
    """Put plain BatchNorm3d layers back (same state), as the participant level expects."""

    def make(bn):
        return nn.BatchNorm3d(bn.num_features, bn.eps, bn.momentum, bn.affine)

    return _replace(model, make)
