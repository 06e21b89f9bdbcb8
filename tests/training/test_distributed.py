"""Training on two processes (torchrun, gloo on the CPU) gives the one-process result.

The stated tolerance: with dropout off (each process draws its own masks), every convolution and
dense weight agrees within 1e-5 of its largest value, and the two models' logits on every scan
within 1e-3. The biases of the convolutions that feed a BatchNorm are left out of the weight
comparison: BatchNorm subtracts them again, so their gradient is zero up to rounding, and Adam
turns that rounding into steps of the learning rate in either direction.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file
from torch import nn

from bids_lrp.cli.train import main
from bids_lrp.model.checkpoint import load_checkpoint
from bids_lrp.model.data import check_same_grid, find_scans
from bids_lrp.model.distributed import (
    GlobalBatchNorm3d,
    Processes,
    from_environment,
    plain_batch_norm,
)
from bids_lrp.model.metrics import predict
from bids_lrp.model.network_input import load_scans
from tests.training.helpers import NET_8MM, TEMPLATE, make_toy_dataset

ARGS = ["--grid-mm", "8", *NET_8MM, "--threads", "1", "--lr", "3e-3", "--epochs", "3"]
ARGS += ["--min-epochs", "0", "--dropout", "0", "--name", "same"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _batch_norm_worker(rank: int, port: int, x: torch.Tensor, out: Path) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        layer = GlobalBatchNorm3d(3)
        with torch.no_grad():
            layer.weight.uniform_(0.5, 1.5)
            layer.bias.uniform_(-0.5, 0.5)
        mine = x[rank::2].clone().requires_grad_(True)
        weights = torch.linspace(-1, 1, mine[0].numel()).reshape(mine[0].shape)
        (layer(mine) * weights).sum().backward()
        torch.save(
            {"y": layer(mine).detach(), "grad": mine.grad, "weight_grad": layer.weight.grad,
             "running": (layer.running_mean, layer.running_var)},
            out / f"rank{rank}.pt",
        )  # fmt: skip
    finally:
        dist.destroy_process_group()


def test_global_batch_norm_is_batch_norm_of_the_whole_batch(tmp_path):
    x = torch.randn(4, 3, 5, 6, 4) * 2 + 1
    mp.spawn(_batch_norm_worker, args=(_free_port(), x, tmp_path), nprocs=2)
    torch.manual_seed(0)
    reference = nn.BatchNorm3d(3)
    with torch.no_grad():
        reference.weight.uniform_(0.5, 1.5)
        reference.bias.uniform_(-0.5, 0.5)
    whole = x.clone().requires_grad_(True)
    weights = torch.linspace(-1, 1, whole[0].numel()).reshape(whole[0].shape)
    (reference(whole) * weights).sum().backward()
    expected_y = reference(whole).detach()  # a second step, as each rank took
    parts = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for rank, part in enumerate(parts):
        torch.testing.assert_close(part["grad"], whole.grad[rank::2], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(part["y"], expected_y[rank::2], rtol=1e-4, atol=1e-5)
    # the loss here is the sum of the two processes' sums: its gradient is their sum
    total = parts[0]["weight_grad"] + parts[1]["weight_grad"]
    torch.testing.assert_close(total, reference.weight.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(parts[0]["running"][0], reference.running_mean)
    torch.testing.assert_close(parts[0]["running"][1], reference.running_var)


def test_plain_batch_norm_keeps_the_state():
    model = nn.Sequential(nn.Conv3d(1, 2, 3), GlobalBatchNorm3d(2), nn.ReLU())
    model[1].running_mean.fill_(0.3)
    plain_batch_norm(model)
    assert type(model[1]) is nn.BatchNorm3d
    assert torch.equal(model[1].running_mean, torch.full((2,), 0.3))


def test_processes_come_from_torchruns_environment():
    assert from_environment({}) is None and from_environment({"WORLD_SIZE": "1"}) is None
    found = from_environment({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0"})
    assert found == Processes(2, 4, 0) and not found.main


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return make_toy_dataset(tmp_path_factory.mktemp("toy"), n_ad=4, n_hc=4)[1]


def _torchrun(args: list[str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", "-m", "bids_lrp.cli.train", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_two_processes_train_the_one_process_model(toy, tmp_path):
    one, two = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    assert main([str(toy), *ARGS, "--out", str(one)]) == 0
    run = _torchrun([str(toy), *ARGS, "--out", str(two)])
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stderr.count("wrote ") == 1  # one process writes and reports
    a, b = load_file(one), load_file(two)
    before_batch_norm = {f"features.{i}.bias" for i in (0, 4, 8)}
    for key, value in a.items():
        if key.endswith(("weight", "bias")) and key not in before_batch_norm:
            scale = float(value.abs().max())
            assert float((value - b[key]).abs().max()) <= 1e-5 * scale, key
    scans = find_scans(toy, TEMPLATE)
    images, _ = load_scans(scans, check_same_grid(scans), resampling="antialiased")
    logits = [predict(load_checkpoint(p)[0], images) for p in (one, two)]
    assert np.abs(logits[0] - logits[1]).max() < 1e-3
    card = json.loads(two.with_suffix(".json").read_text())
    assert card["training"]["processes"] == 2


def test_two_processes_from_a_cache(toy, tmp_path):
    """Rank 0 writes the cache, rank 1 waits for it; workers read for both."""
    out = tmp_path / "two.safetensors"
    run = _torchrun([str(toy), *ARGS, "--out", str(out), "--cache", str(tmp_path / "cache")])
    assert run.returncode == 0, run.stderr[-2000:]
    assert out.is_file() and (tmp_path / "cache" / "cache.json").is_file()


def test_more_processes_than_a_batch_is_refused(toy, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("RANK", "0")
    assert main([str(toy), *ARGS, "--out", str(tmp_path / "m.safetensors")]) == 64
    assert "8 processes share each batch of --batch-size 4" in capsys.readouterr().err


def test_mixed_precision_on_the_cpu(toy, tmp_path):
    """bf16 autocast trains (float32 weights, finite losses); fp16 asks for a GPU."""
    out = tmp_path / "bf16.safetensors"
    assert main([str(toy), *ARGS, "--out", str(out), "--precision", "bf16"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["precision"] == "bf16"
    weights = load_file(out)
    assert all(v.dtype in (torch.float32, torch.int64) for v in weights.values())
    assert all(torch.isfinite(v.float()).all() for v in weights.values())
    code = main([str(toy), *ARGS, "--out", str(tmp_path / "h.safetensors"), "--precision",
                 "fp16", "--device", "cpu"])  # fmt: skip
    assert code == 64
