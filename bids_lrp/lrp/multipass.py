"""Methods of several passes or of an inner layer: Grad-CAM, integrated gradients, SmoothGrad
and occlusion of atlas areas.

Like the rest of the engine they read the model and never change it: the forward pass runs the
engine's own steps (`bids_lrp.lrp.plan`), so no module is called and no hook is registered;
the gradients of integrated gradients and SmoothGrad's base method are the engine's
(`attribute`), in batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bids_lrp.lrp.plan import LINEAR_TYPES, Policy, build_steps, run_step, sequential_layers
from bids_lrp.methods import PREDICTED

__all__ = [
    "Outcome",
    "forward_steps",
    "grad_cam",
    "integrated_gradients",
    "logits_of",
    "occlusion",
    "scores",
    "smoothgrad",
]

#: Plain autograd through every layer, one step per layer (nothing folded).
AUTOGRAD = Policy(lambda position, n_linear, module: None)
#: Inputs changed per forward pass (path points, noisy copies, occluded areas).
CHUNK = 8


@dataclass(frozen=True)
class Outcome:
    """What a method of several passes computes for a batch."""

    relevance: Tensor  #: the map, shaped like the input
    logits: Tensor  #: the network's output for the input (N, classes)
    target: Tensor  #: the explained class per image (N,)
    start: Tensor  #: the explained score per image (N,)


def forward_steps(model: nn.Module, name: str = "forward") -> list:
    """The model's steps with plain gradients, one per layer (`bids_lrp.lrp.plan.Step`)."""
    return build_steps(sequential_layers(model), AUTOGRAD, name)


def _run(steps, h: Tensor, start: int = 0, stop: int | None = None) -> Tensor:
    for step in steps[start:stop]:
        h = run_step(step, h, AUTOGRAD)
    return h


def scores(logits: Tensor, target: Tensor, start: str) -> Tensor:
    """The explained score per image: the target's logit or its softmax probability."""
    values = torch.softmax(logits, 1) if start == "probability" else logits
    return values.gather(1, target[:, None])[:, 0]


def _target(target: Tensor | str, logits: Tensor) -> Tensor:
    if isinstance(target, str) and target == PREDICTED:
        return logits.detach().argmax(1)
    return target


@torch.no_grad()
def logits_of(steps: list, x: Tensor) -> Tensor:
    """The network's logits for ``x``, `CHUNK` inputs per forward pass (``steps``:
    `forward_steps`)."""
    with torch.inference_mode(False):
        return torch.cat([_run(steps, x[i : i + CHUNK]) for i in range(0, len(x), CHUNK)])


def _layer_index(steps: list, layer: str) -> int:
    """The step of ``layer`` (a layer name, or ``last``: the last convolution or residual
    block)."""
    if layer == "last":
        convs = [
            i
            for i, s in enumerate(steps)
            if s.branches is not None
            or (isinstance(s.module, LINEAR_TYPES) and not isinstance(s.module, nn.Linear))
        ]
        if not convs:
            raise ValueError("grad-cam needs a convolution layer; the model has none")
        return convs[-1]
    names = [step.name for step in steps]
    if layer not in names:
        raise ValueError(f"grad-cam: no layer {layer!r}; layers: {', '.join(names)}")
    return names.index(layer)


def grad_cam(model: nn.Module, x: Tensor, target, params: Mapping[str, Any]) -> Outcome:
    """Grad-CAM (Selvaraju et al. 2017) at ``params["layer"]``, upsampled to the input grid.

    The map is ``ReLU(sum_k a_k A_k)``, ``A_k`` the layer's channels and ``a_k`` the spatial
    mean of the score's gradient on them, resized to the input (trilinear for 3D) as captum's
    ``LayerGradCam`` and MONAI's ``GradCAM`` do. It has the layer's resolution, not the input's.
    """
    steps = forward_steps(model, "grad-cam")
    index = _layer_index(steps, str(params["layer"]))
    with torch.inference_mode(False), torch.enable_grad():
        with torch.no_grad():
            below = _run(steps, x.detach(), 0, index + 1)
        if below.dim() != x.dim():
            raise ValueError(f"grad-cam: layer {steps[index].name!r} has no spatial output")
        acts = below.clone().requires_grad_(True)
        logits = _run(steps, acts, index + 1)
        target = _target(target, logits)
        score = scores(logits, target, params["start"])
        (grad,) = torch.autograd.grad(score.sum(), acts)
    spatial = tuple(range(2, acts.dim()))
    weights = grad.mean(dim=spatial, keepdim=True)
    cam = F.relu((weights * acts.detach()).sum(1, keepdim=True))
    mode = {3: "linear", 4: "bilinear", 5: "trilinear"}[x.dim()]
    relevance = F.interpolate(cam, size=x.shape[2:], mode=mode, align_corners=False)
    return Outcome(relevance=relevance, logits=logits.detach(), target=target,
                   start=score.detach())  # fmt: skip


def integrated_gradients(
    model: nn.Module, x: Tensor, target, params: Mapping[str, Any], attribute
) -> Outcome:
    """Integrated gradients (Sundararajan et al. 2017) from a zero baseline.

    The path integral of the engine's gradient is taken with ``params["steps"]`` Gauss-Legendre
    nodes, as captum's default. The map distributes ``F(x) - F(0)``: its sum differs from it by
    the integration error only (completeness), which the sidecar records as ``Absorbed``.
    """
    steps = forward_steps(model, "integrated-gradients")
    logits = logits_of(steps, x.detach())
    target = _target(target, logits)
    nodes, weights = np.polynomial.legendre.leggauss(int(params["steps"]))
    alphas = torch.tensor(0.5 * (nodes + 1), dtype=x.dtype, device=x.device)
    weights = torch.tensor(0.5 * weights, dtype=x.dtype, device=x.device)
    baseline = torch.zeros_like(x)
    total = torch.zeros_like(x)
    shape = (-1, *([1] * (x.dim() - 1)))
    for b in range(len(x)):
        for i in range(0, len(alphas), CHUNK):
            a = alphas[i : i + CHUNK]
            path = baseline[b : b + 1] + a.view(shape) * (x[b : b + 1] - baseline[b : b + 1])
            grads = attribute(
                model, path, target[b].expand(len(a)), "gradient", start=params["start"]
            ).relevance
            total[b] += (weights[i : i + CHUNK].view(shape) * grads).sum(0)
    relevance = (x - baseline) * total
    base_logits = logits_of(steps, baseline)
    start = scores(logits, target, params["start"]) - scores(base_logits, target, params["start"])
    return Outcome(relevance=relevance, logits=logits, target=target, start=start)


def smoothgrad(
    model: nn.Module, x: Tensor, target, params: Mapping[str, Any], attribute
) -> Outcome:
    """SmoothGrad (Smilkov et al. 2017): the base method's map averaged over noisy copies.

    Each copy adds Gaussian noise of standard deviation ``sigma`` times the image's intensity
    range; the draws are seeded (``seed``) and the same for every image of a batch, so a map
    can be reproduced and does not depend on its batch. The explained class is fixed on the
    clean image; ``start`` is the base method's start averaged over the copies.
    """
    steps = forward_steps(model, "smoothgrad")
    logits = logits_of(steps, x.detach())
    target = _target(target, logits)
    span = (x.flatten(1).amax(1) - x.flatten(1).amin(1)).view(-1, *([1] * (x.dim() - 1)))
    generator = torch.Generator(device="cpu").manual_seed(int(params["seed"]))
    total, start = torch.zeros_like(x), torch.zeros(len(x), dtype=x.dtype, device=x.device)
    n = int(params["samples"])
    for _ in range(n):
        # one draw for every image of the batch: an image's map is the same alone or batched
        noise = torch.randn(x.shape[1:], generator=generator, dtype=x.dtype).to(x.device)
        result = attribute(model, x + float(params["sigma"]) * span * noise, target,
                           str(params["base"]), start=params["start"])  # fmt: skip
        total += result.relevance
        start += result.start
    return Outcome(relevance=total / n, logits=logits, target=target, start=start / n)


def occlusion(
    model: nn.Module, x: Tensor, target, params: Mapping[str, Any], regions: Tensor,
    reference: Tensor | None = None,
) -> Outcome:  # fmt: skip
    """Occlusion of atlas areas (Zeiler and Fergus 2014, by area): the score lost per voxel.

    Each area of ``regions`` (integer labels on the input grid, 0 = none) is replaced in turn
    by ``reference`` (the template brain as a network input; zeros without one) and every voxel
    of the area gets the score's drop divided by the area's voxel count, so an area's sum is
    its drop. Areas are occluded in batches.
    """
    steps = forward_steps(model, "occlusion")
    logits = logits_of(steps, x.detach())
    target = _target(target, logits)
    base = scores(logits, target, params["start"])
    fill = torch.zeros_like(x[0]) if reference is None else reference.to(x).expand_as(x[0])
    labels = [int(v) for v in torch.unique(regions) if int(v) != 0]
    relevance = torch.zeros_like(x)
    for b in range(len(x)):
        for i in range(0, len(labels), CHUNK):
            chunk = labels[i : i + CHUNK]
            masks = torch.stack([(regions == label) for label in chunk])[:, None]
            occluded = torch.where(masks.to(x.device), fill, x[b : b + 1])
            drops = base[b] - scores(logits_of(steps, occluded), target[b].expand(len(chunk)),
                                     params["start"])  # fmt: skip
            for drop, mask in zip(drops, masks, strict=True):
                relevance[b] += mask.to(x) * (drop / mask.sum())
    return Outcome(relevance=relevance, logits=logits, target=target, start=base)
