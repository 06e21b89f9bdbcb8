"""``explain`` and ``attribute``: one forward and one backward pass per explanation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from bids_lrp.lrp.methods import get_method
from bids_lrp.lrp.plan import (
    build_steps,
    first_linear,
    last_linear,
    run_step,
    sequential_layers,
)
from bids_lrp.methods import PREDICTED


@dataclass(frozen=True)
class Explanation:
    """The result of one explanation of a batch.

    Attributes
    ----------
    relevance
        Attribution shaped like the input.
    logits, probabilities
        Network output for the batch (N, classes), inference semantics.
    target
        Explained class per image (N,).
    start
        Relevance put on the target output (LRP) or the differentiated score (N,).
    relevance_sum
        Sum of ``relevance`` per image (N,).
    """

    relevance: Tensor
    logits: Tensor
    probabilities: Tensor
    target: Tensor
    start: Tensor
    relevance_sum: Tensor
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    kind: str = "relevance"

    @property
    def absorbed(self) -> Tensor:
        """Start relevance not found in the input (taken by biases, stabilizers, dead units)."""
        return self.start - self.relevance_sum

    @property
    def conservation_error(self) -> Tensor:
        """``|absorbed| / |start|`` per image (meaningful for relevance methods only)."""
        return self.absorbed.abs() / self.start.abs().clamp_min(torch.finfo(self.start.dtype).tiny)


def explain(
    model: nn.Module, x: Tensor, target: int | Tensor | str, method: str = "boehle2019", **params
) -> Tensor:
    """Explain ``model``'s score for class ``target`` on the batch ``x``.

    Parameters
    ----------
    model
        An ``nn.Sequential`` of supported layers (e.g. ``build_model("boehle2019")``); it is
        left exactly as it was.
    x
        Float input (N, C, *spatial), finite, on the model's device and dtype.
    target
        Class index, a LongTensor (N,) of indices, or ``"predicted"``: each image's predicted
        class (Böhle et al. 2019 explained guided backpropagation this way).
    method
        A registered method (``list_methods()``); ``**params`` are its parameters.

    Returns
    -------
    Tensor
        Relevance shaped like ``x``.
    """
    return attribute(model, x, target, method, **params).relevance


def attribute(
    model: nn.Module,
    x: Tensor,
    target: int | Tensor | str,
    method: str = "boehle2019",
    *,
    context: Mapping[str, Any] | None = None,
    **params,
) -> Explanation:
    """Like :func:`explain`, but also return the prediction and the conservation check.

    ``context`` holds what a method needs beside the image (`bids_lrp.methods.MethodInfo`
    ``needs``): for occlusion, ``regions`` (integer atlas labels on the input grid) and
    ``reference`` (the image an area is replaced by).
    """
    spec = get_method(method)
    resolved = spec.resolve(params)
    layers = sequential_layers(model)
    if spec.compute is not None:
        return _computed(spec, model, layers, x, target, method, resolved, context or {})
    policy = spec.make_policy(**resolved)
    steps = build_steps(layers, policy, method)
    n_classes = _check_input(layers, x)
    predicted = isinstance(target, str) and target == PREDICTED
    if not predicted:
        target = _as_target(target, x.shape[0], n_classes, x.device)
    with torch.inference_mode(False), torch.enable_grad():
        inputs = (x.clone() if x.is_inference() else x.detach()).requires_grad_(True)
        h = inputs
        for step in steps:
            h = _run(step, h, policy)
        logits = h
        if logits.dim() != 2 or logits.shape[1] != n_classes:
            raise ValueError(f"the model must output (N, classes) logits, got {tuple(h.shape)}")
        probabilities = torch.softmax(logits.detach(), dim=1)
        if predicted:
            target = logits.detach().argmax(1)
        onehot = torch.zeros_like(logits).scatter_(1, target[:, None], 1.0)
        if spec.kind == "relevance":
            score = probabilities if resolved["start"] == "probability" else logits.detach()
            start_relevance = onehot * score
            (result,) = torch.autograd.grad(logits, inputs, start_relevance)
            start = start_relevance.sum(1)
        else:
            output = torch.softmax(logits, 1) if resolved["start"] == "probability" else logits
            (result,) = torch.autograd.grad(output, inputs, onehot)
            start = (onehot * output.detach()).sum(1)
    relevance = spec.finalize(result, x.detach(), resolved)
    return Explanation(
        relevance=relevance,
        logits=logits.detach(),
        probabilities=probabilities,
        target=target,
        start=start,
        relevance_sum=relevance.flatten(1).sum(1),
        method=method,
        params=resolved,
        kind=spec.kind,
    )


def _computed(spec, model, layers, x, target, method, resolved, context) -> Explanation:
    """A method of several passes (`bids_lrp.lrp.multipass`), as an `Explanation`."""
    n_classes = _check_input(layers, x)
    if not (isinstance(target, str) and target == PREDICTED):
        target = _as_target(target, x.shape[0], n_classes, x.device)
    with torch.inference_mode(False):
        out = spec.compute(model, x.detach(), target, resolved, context, attribute)
    relevance = out.relevance.detach()
    return Explanation(
        relevance=relevance,
        logits=out.logits.detach(),
        probabilities=torch.softmax(out.logits.detach(), dim=1),
        target=out.target,
        start=out.start.detach(),
        relevance_sum=relevance.flatten(1).sum(1),
        method=method,
        params=resolved,
        kind=spec.kind,
    )


def _run(step, h: Tensor, policy) -> Tensor:
    try:
        return run_step(step, h, policy)
    except RuntimeError as error:
        raise ValueError(
            f"layer {step.name!r} ({type(step.module).__name__}) cannot take an input of "
            f"shape {tuple(h.shape)}: {str(error).splitlines()[0]}"
        ) from None


def _check_input(layers, x: Tensor) -> int:
    """Validate ``x`` against the model; return the number of classes."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}")
    first, last = first_linear(layers), last_linear(layers)
    if first is None:
        raise ValueError("the model has no convolution or linear layer to explain")
    name, module = first
    if module is layers[0][1]:  # otherwise the forward pass reports shape mismatches
        _check_first_layer(name, module, x)
    if x.shape[0] < 1:
        raise ValueError("x is an empty batch")
    weight = module.weight
    if weight.device != x.device or weight.dtype != x.dtype:
        raise ValueError(
            f"x is {x.dtype} on {x.device} but the model is {weight.dtype} on "
            f"{weight.device}; move one to the other"
        )
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or infinite values")
    return last[1].out_features if isinstance(last[1], nn.Linear) else last[1].out_channels


def _check_first_layer(name: str, module: nn.Module, x: Tensor) -> None:
    if isinstance(module, nn.Linear):
        if x.dim() < 2 or x.shape[-1] != module.in_features:
            raise ValueError(
                f"x must have {module.in_features} features in its last dimension for "
                f"layer {name!r}, got shape {tuple(x.shape)}"
            )
        return
    expected = len(module.kernel_size) + 2
    if x.dim() != expected:
        raise ValueError(
            f"x must have {expected} dimensions (N, C, *spatial) for layer {name!r}, "
            f"got {x.dim()} (shape {tuple(x.shape)})"
        )
    if x.shape[1] != module.in_channels:
        raise ValueError(
            f"x must have {module.in_channels} channel(s) for layer {name!r}, got {x.shape[1]}"
        )


def _as_target(target: int | Tensor | str, n: int, n_classes: int, device) -> Tensor:
    if isinstance(target, str):
        raise ValueError(f"target must be a class index or {PREDICTED!r}, got {target!r}")
    if isinstance(target, bool):
        raise TypeError("target must be an int or an integer tensor, not a bool")
    if isinstance(target, int):
        target = torch.full((n,), target, dtype=torch.long)
    elif isinstance(target, Tensor):
        if target.is_floating_point() or target.dtype == torch.bool:
            raise TypeError(f"target must be an integer tensor, got {target.dtype}")
        target = target.reshape(-1).expand(n) if target.numel() == 1 else target.reshape(-1)
        if target.numel() != n:
            raise ValueError(f"target has {target.numel()} entries for a batch of {n}")
    else:
        raise TypeError(f"target must be an int or a LongTensor, got {type(target).__name__}")
    target = target.to(device=device, dtype=torch.long)
    if bool(((target < 0) | (target >= n_classes)).any()):
        raise ValueError(f"target must be in 0..{n_classes - 1}, got {target.tolist()}")
    return target
