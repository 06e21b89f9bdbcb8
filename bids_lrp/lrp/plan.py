"""Turn an ``nn.Sequential`` model into steps the engine can run with a method's rules.

The model is read, never changed: weights are taken detached (BatchNorm is folded into a copy
of the preceding layer's weights, computed on the fly), and its modules are never called, so
no hooks are registered and its train/eval mode does not matter (inference semantics always).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bids_lrp.lrp.ops import (
    LinearOp,
    batch_norm,
    batch_norm_affine,
    batch_norm_scale_shift,
    max_pool,
    relu,
)
from bids_lrp.lrp.rules import (
    Rule,
    apply_rule,
    guided_relu,
    pass_through,
    proportional_pool,
    proportional_sum,
)
from bids_lrp.model.layers import PadMaxPool3d, Residual

LINEAR_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
BATCHNORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
MAXPOOL_TYPES = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
AVGPOOL_TYPES = (
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
)
IDENTITY_TYPES = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
#: Max pooling after zero padding (ClinicaDL): run as ``F.pad`` then the pool's own rule.
PADDED_POOL_TYPES = (PadMaxPool3d,)
SUPPORTED_TYPES = (
    *LINEAR_TYPES,
    *BATCHNORM_TYPES,
    *MAXPOOL_TYPES,
    *PADDED_POOL_TYPES,
    *AVGPOOL_TYPES,
    *IDENTITY_TYPES,
    nn.ReLU,
    Residual,
)
SUPPORTED_NAMES = ", ".join(t.__name__ for t in (*SUPPORTED_TYPES, nn.Flatten))


@dataclass(frozen=True)
class Policy:
    """How a method treats each kind of layer.

    ``rule_for(position, n_linear, module)`` gives the rule of the ``position``-th of
    ``n_linear`` conv/dense layers, or ``None`` for autograd's own gradient.
    ``batchnorm``/``relu``: ``"gradient"`` (autograd), ``"pass"`` (relevance passes through
    unchanged; for LRP rules this equals the ReLU gradient, as inactive units carry no
    relevance) or, for ReLU, ``"guided"`` (guided backpropagation). ``mixing``: how the sum of a
    residual block (`bids_lrp.model.layers.Residual`) and average pooling pass relevance back:
    ``"gradient"`` (autograd) or ``"proportional"`` (each input gets the share it contributed,
    the LRP z-rule of a layer without weights).
    """

    rule_for: Callable[[int, int, nn.Module], Rule | None]
    fold_batchnorm: bool = False
    batchnorm: str = "gradient"  # or "pass"
    relu: str = "gradient"  # or "pass", "guided"
    mixing: str = "gradient"  # or "proportional": see above


def residual_parts(name: str, block: Residual) -> tuple[list, list, list]:
    """The layers of a residual block's body, shortcut and post-sum part, with their names."""

    def layers(part: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
        if isinstance(part, nn.Identity):
            return []
        if isinstance(part, nn.Sequential):
            return [(f"{prefix}.{n}", m) for n, m in sequential_layers(part)]
        return [(prefix, part)]

    return (
        layers(block.body, f"{name}.body"),
        layers(block.shortcut, f"{name}.shortcut"),
        layers(block.post, f"{name}.post"),
    )


def count_linear(layers: list[tuple[str, nn.Module]]) -> int:
    """Conv/dense layers among ``layers``, those inside residual blocks included."""
    total = 0
    for name, module in layers:
        if isinstance(module, LINEAR_TYPES):
            total += 1
        elif isinstance(module, Residual):
            total += sum(count_linear(part) for part in residual_parts(name, module))
    return total


def sequential_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The leaf layers of a (nested) ``nn.Sequential`` in execution order, with their names."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(
            f"explain() needs an nn.Sequential model (its forward pass is its list of layers); "
            f"got {type(model).__name__}"
        )
    layers: list[tuple[str, nn.Module]] = []
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential):
            layers += [(f"{name}.{sub}", leaf) for sub, leaf in sequential_layers(child)]
        else:
            layers.append((name, child))
    return layers


def check_supported(layers: list[tuple[str, nn.Module]], method: str) -> None:
    for name, module in layers:
        if isinstance(module, Residual):
            for part in residual_parts(name, module):
                check_supported(part, method)
            continue
        if not isinstance(module, (*SUPPORTED_TYPES, nn.Flatten)):
            raise ValueError(
                f"method {method!r} cannot handle layer {name!r} ({type(module).__name__}); "
                f"supported layers: {SUPPORTED_NAMES}"
            )
        if isinstance(module, BATCHNORM_TYPES) and module.running_mean is None:
            raise ValueError(f"BatchNorm layer {name!r} has no running statistics")


@dataclass(frozen=True)
class Step:
    """One executable step: a layer, possibly with a BatchNorm folded into it.

    ``post`` holds the element-wise layers (BatchNorm, ReLU) that follow a rule layer and pass
    relevance through unchanged: they run inside the rule's forward pass, in place where the
    rule does not keep its output, so full-size volumes need no extra copies.
    """

    name: str
    module: nn.Module
    folded: nn.Module | None = None
    rule: Rule | None = None
    post: tuple[Callable[[Tensor, bool], Tensor], ...] = ()
    #: a residual block's body, shortcut and post-sum steps
    branches: tuple[list, list, list] | None = None


def _absorb_pass_through(
    layers: list[tuple[str, nn.Module]], index: int, policy: Policy
) -> tuple[tuple[Callable[[Tensor, bool], Tensor], ...], int]:
    """Element-wise pass-through layers from ``index`` on, and the index after them."""
    post = []
    while index < len(layers):
        module = layers[index][1]
        if isinstance(module, BATCHNORM_TYPES) and policy.batchnorm == "pass":
            post.append(batch_norm_affine(module))
        elif isinstance(module, nn.ReLU) and policy.relu == "pass":
            post.append(relu)
        else:
            break
        index += 1
    return tuple(post), index


def build_steps(layers: list[tuple[str, nn.Module]], policy: Policy, method: str) -> list[Step]:
    """Pair conv/dense layers with the BatchNorm that follows them (when folding) and rules."""
    check_supported(layers, method)
    steps, _ = _build(layers, policy, method, 0, count_linear(layers))
    return steps


def _build(layers, policy: Policy, method: str, position: int, n_linear: int):
    """`build_steps` from the ``position``-th conv/dense layer on; the steps and next position."""
    steps: list[Step] = []
    index = 0
    while index < len(layers):
        name, module = layers[index]
        if isinstance(module, Residual):
            branches = []
            for part in residual_parts(name, module):
                built, position = _build(part, policy, method, position, n_linear)
                branches.append(built)
            steps.append(Step(name, module, branches=tuple(branches)))
            index += 1
            continue
        if isinstance(module, LINEAR_TYPES):
            rule = policy.rule_for(position, n_linear, module)
            position += 1
            index += 1
            folded = None
            if policy.fold_batchnorm and index < len(layers):
                if isinstance(layers[index][1], BATCHNORM_TYPES):
                    folded = layers[index][1]
                    index += 1
            post: tuple = ()
            if rule is not None:
                post, index = _absorb_pass_through(layers, index, policy)
            steps.append(Step(name, module, folded=folded, rule=rule, post=post))
            continue
        elif isinstance(module, BATCHNORM_TYPES) and policy.fold_batchnorm:
            raise ValueError(
                f"method {method!r} folds BatchNorm into the preceding conv/dense layer, but "
                f"{name!r} does not follow one; use 'boehle2019', which passes relevance "
                f"through BatchNorm"
            )
        else:
            steps.append(Step(name, module))
        index += 1
    return steps, position


def step_weights(step: Step) -> tuple[Tensor, Tensor | None]:
    """Detached weight and bias of a conv/dense step, with its BatchNorm folded in."""
    weight = step.module.weight.detach()
    bias = None if step.module.bias is None else step.module.bias.detach()
    if step.folded is None:
        return weight, bias
    scale, shift = batch_norm_scale_shift(step.folded)
    weight = weight * scale.view(-1, *([1] * (weight.dim() - 1)))
    bias = shift if bias is None else bias * scale + shift
    return weight, bias


def run_step(step: Step, h: Tensor, policy: Policy) -> Tensor:
    """Run one step forward; its backward is the method's rule (or the gradient)."""
    module = step.module
    if step.branches is not None:  # a residual block: both branches from h, summed
        body, shortcut, after = step.branches
        a, b = h, h
        for sub in body:
            a = run_step(sub, a, policy)
        for sub in shortcut:
            b = run_step(sub, b, policy)
        out = proportional_sum(a, b) if policy.mixing == "proportional" else a + b
        for sub in after:
            out = run_step(sub, out, policy)
        return out
    if isinstance(module, LINEAR_TYPES):
        op = LinearOp.from_module(module)
        weight, bias = step_weights(step)
        if step.rule is None:
            return op.forward(h, weight, bias)
        return apply_rule(step.rule, op, h, weight, bias, step.post)
    if isinstance(module, BATCHNORM_TYPES):
        if policy.batchnorm == "pass":
            return pass_through(lambda t: batch_norm(t, module), h)
        return batch_norm(h, module)
    if isinstance(module, nn.ReLU):
        if policy.relu == "pass":
            return pass_through(F.relu, h)
        if policy.relu == "guided":
            return guided_relu(h)
        return F.relu(h)
    if isinstance(module, MAXPOOL_TYPES):
        return max_pool(h, module)
    if isinstance(module, AVGPOOL_TYPES):
        if policy.mixing == "proportional":
            return proportional_pool(h, module)
        return module(h)  # a stateless pool: autograd's own gradient
    if isinstance(module, PADDED_POOL_TYPES):  # padded zeros never win over relevant inputs
        return max_pool(F.pad(h, module.padding(h.shape)), module.pool)
    if isinstance(module, nn.Flatten):
        return torch.flatten(h, module.start_dim, module.end_dim)
    return h  # identity, dropout (inference semantics)


def first_linear(layers: list[tuple[str, nn.Module]]) -> tuple[str, nn.Module] | None:
    return next(((n, m) for n, m in layers if isinstance(m, LINEAR_TYPES)), None)


def last_linear(layers: list[tuple[str, nn.Module]]) -> tuple[str, nn.Module] | None:
    return next(((n, m) for n, m in reversed(layers) if isinstance(m, LINEAR_TYPES)), None)
