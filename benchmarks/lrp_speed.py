"""How fast is each explanation method on the paper's network at full size?

Question: time and peak memory of every method for one (1, 1, 193, 229, 193) volume, relative
to a plain input gradient measured in the same run; batch throughput; captum for comparison.

    python benchmarks/lrp_speed.py --repeats 7 --threads 2

Timing: after one warm-up of each, every repeat times the plain gradient and then each method
(interleaved, so slow drifts of a shared machine hit both alike); the table gives the median
time and the median of the per-repeat ratios. Memory: each method runs once in a fresh
process; peak resident memory (VmHWM) of that process and its increase over a process that
only built the model and the input.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

from bids_lrp.lrp import explain
from bids_lrp.model import build_model

SHAPE = (193, 229, 193)
METHODS = [
    ("epsilon", {}),
    ("alpha-beta", {}),
    ("boehle2019", {"beta": 0.0}),
    ("boehle2019", {"beta": 1.0}),
    ("zplus", {}),
    ("composite", {}),
    ("gradient-x-input", {}),
    ("guided-backprop", {}),
]


def setup(batch: int = 1, device: str = "cpu"):
    torch.manual_seed(0)
    model = build_model("boehle2019", input_shape=SHAPE).eval().to(device)
    x = torch.rand((batch, 1, *SHAPE), device=device)
    return model, x


def plain_gradient(model, x):
    inputs = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(inputs)[:, 1].sum(), inputs)
    return grad


def timed(fn, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def label(method: str, params: dict) -> str:
    return method + "".join(f" {k}={v}" for k, v in params.items())


def captum_runner(model, x, rule_name: str):
    import copy

    from captum.attr import LRP
    from captum.attr._utils.lrp_rules import Alpha1_Beta0_Rule, EpsilonRule
    from torch import nn

    class View(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.features, self.classifier = m.features, nn.Sequential(*list(m.classifier)[1:])

        def forward(self, t):
            return self.classifier(self.features(t).flatten(1))

    view = View(copy.deepcopy(model)).eval()

    def run():
        # captum removes the rules after each call: set them again (negligible cost)
        for module in view.modules():
            if isinstance(module, (nn.Conv3d, nn.Linear)):
                module.rule = EpsilonRule() if rule_name == "epsilon" else Alpha1_Beta0_Rule()
            elif isinstance(module, (nn.BatchNorm3d, nn.MaxPool3d)):
                module.rule = EpsilonRule()
        return LRP(view).attribute(x.clone().requires_grad_(True), target=1)

    return run


def time_methods(repeats: int, device: str, with_captum: bool) -> list[dict]:
    model, x = setup(device=device)
    runners = {label(m, p): (lambda m=m, p=p: explain(model, x, 1, m, **p)) for m, p in METHODS}
    if with_captum and device == "cpu":
        for rule in ("epsilon", "alpha1-beta0"):
            runners[f"captum LRP {rule}"] = captum_runner(model, x, rule)
    gradient = lambda: plain_gradient(model, x)  # noqa: E731
    for fn in (gradient, *runners.values()):
        fn()  # warm-up
    times = {name: [] for name in ["gradient", *runners]}
    ratios = {name: [] for name in runners}
    for _ in range(repeats):
        for name, fn in runners.items():
            base = timed(gradient, device)
            took = timed(fn, device)
            times["gradient"].append(base)
            times[name].append(took)
            ratios[name].append(took / base)
    rows = [{"method": "plain input gradient", "seconds": statistics.median(times["gradient"])}]
    for name in runners:
        rows.append(
            {
                "method": name,
                "seconds": statistics.median(times[name]),
                "ratio": statistics.median(ratios[name]),
            }
        )
    return rows


def memory_worker(name: str) -> None:
    model, x = setup()
    params = dict(METHODS)
    if name == "gradient":
        plain_gradient(model, x)
    elif name != "baseline":
        method, _, rest = name.partition(" ")
        params = dict(kv.split("=") for kv in rest.split()) if rest else {}
        explain(model, x, 1, method, **{k: float(v) for k, v in params.items()})
    print(json.dumps({"peak_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """Peak resident memory of this process image (VmHWM; ru_maxrss survives exec on Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_memory(threads: int) -> list[dict]:
    names = ["baseline", "gradient", *(label(m, p) for m, p in METHODS)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    peaks = {}
    for name in names:
        out = subprocess.run(
            [sys.executable, __file__, "--memory-worker", name, "--threads", str(threads)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        peaks[name] = json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"]
    return [
        {"method": name, "peak_mb": peak, "over_baseline_mb": peak - peaks["baseline"]}
        for name, peak in peaks.items()
    ]


def throughput(device: str, batch_sizes: list[int], repeats: int = 3) -> list[dict]:
    rows = []
    for batch in batch_sizes:
        model, x = setup(batch=batch, device=device)
        run = lambda model=model, x=x: explain(model, x, 1, "boehle2019")  # noqa: E731
        run()
        seconds = statistics.median(timed(run, device) for _ in range(repeats))
        rows.append({"device": device, "batch": batch, "volumes_per_s": batch / seconds})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--no-captum", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_worker:
        memory_worker(args.memory_worker)
        return
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {args.threads} threads, device {args.device}"
    )
    print("\n| method | median s | x plain gradient |\n|---|---|---|")
    for row in time_methods(args.repeats, args.device, not args.no_captum):
        ratio = f"{row['ratio']:.2f}" if "ratio" in row else "1"
        print(f"| {row['method']} | {row['seconds']:.2f} | {ratio} |")
    if not args.no_memory and args.device == "cpu":
        print("\n| method | peak RSS MB | over model+input MB |\n|---|---|---|")
        for row in measure_memory(args.threads):
            print(f"| {row['method']} | {row['peak_mb']:.0f} | {row['over_baseline_mb']:.0f} |")
    print("\n| device | batch | volumes/s (boehle2019) |\n|---|---|---|")
    for row in throughput(args.device, args.batch_sizes):
        print(f"| {row['device']} | {row['batch']} | {row['volumes_per_s']:.2f} |")


if __name__ == "__main__":
    main()
