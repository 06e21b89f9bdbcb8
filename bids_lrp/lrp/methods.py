"""The registry of explanation methods: names, parameters and how each treats the layers."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from bids_lrp.lrp.plan import Policy
from bids_lrp.lrp.rules import AlphaBeta, Boehle2019Beta, Epsilon, Gradient, ZBox

STARTS = ("logit", "probability")


@dataclass(frozen=True)
class Method:
    """An explanation method.

    Attributes
    ----------
    name, summary
        Registry name and one line for listings and sidecars.
    defaults
        Every parameter the method takes, with its default.
    make_policy
        ``make_policy(**params) -> Policy``.
    kind
        ``"relevance"`` (LRP rules: the backward pass carries relevance) or ``"gradient"``.
    finalize
        ``finalize(result_of_backward, x, params) -> attribution``.
    validate
        Raises ValueError for invalid parameter values.
    """

    name: str
    summary: str
    defaults: Mapping[str, Any]
    make_policy: Callable[..., Policy]
    kind: str = "relevance"
    finalize: Callable[[Tensor, Tensor, dict[str, Any]], Tensor] = field(
        default=lambda result, x, params: result
    )
    validate: Callable[[dict[str, Any]], None] = field(default=lambda params: None)

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults updated with ``params``; unknown or invalid values raise ValueError."""
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"method {self.name!r} has no parameter {', '.join(map(repr, unknown))}; "
                f"its parameters are: {', '.join(self.defaults) or 'none'}"
            )
        resolved = {**self.defaults, **params}
        if resolved.get("start") not in STARTS:
            raise ValueError(f"start must be one of {STARTS}, got {resolved.get('start')!r}")
        self.validate(resolved)
        return resolved


METHODS: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown explanation method {name!r}; available: {', '.join(METHODS)}"
        ) from None


def list_methods() -> dict[str, dict[str, Any]]:
    """Every method's name mapped to its parameters and their defaults."""
    return {name: dict(method.defaults) for name, method in METHODS.items()}


def _finite(params: dict[str, Any], *names: str, positive: bool = False) -> None:
    for name in names:
        value = params[name]
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        if positive and value <= 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")


def _check_beta(params: dict[str, Any]) -> None:
    _finite(params, "beta")
    if params["beta"] < 0:
        raise ValueError(f"beta must be >= 0, got {params['beta']!r}")


def _check_alpha_beta(params: dict[str, Any]) -> None:
    _check_beta(params)
    _finite(params, "alpha")
    _finite(params, "stabilizer", positive=True)
    if abs(params["alpha"] - params["beta"] - 1) > 1e-9:
        raise ValueError(
            f"alpha - beta must be 1 (alpha={params['alpha']!r}, beta={params['beta']!r})"
        )


def _check_composite(params: dict[str, Any]) -> None:
    _finite(params, "epsilon", positive=True)
    low, high = params["low"], params["high"]
    if low is not None and high is not None and not low < high:
        raise ValueError(f"low must be smaller than high, got low={low!r}, high={high!r}")


def _all_layers(rule) -> Callable[[int, int, nn.Module], Any]:
    return lambda position, n_linear, module: rule


def _composite_rule(epsilon: float, low, high, stabilizer: float):
    def rule_for(position: int, n_linear: int, module: nn.Module):
        if position == 0:
            return ZBox(low=low, high=high, stabilizer=stabilizer)
        if isinstance(module, nn.Linear):
            return Epsilon(epsilon)
        return AlphaBeta(1.0, 0.0, bias=True, stabilizer=stabilizer)

    return rule_for


register_method(
    Method(
        "boehle2019",
        "beta rule as computed by Böhle et al. (2019): alpha = 1 + beta, biases ignored, "
        "BatchNorm and ReLU pass relevance through, start = softmax probability",
        {"beta": 0.0, "start": "probability"},
        lambda beta, start: Policy(
            _all_layers(Boehle2019Beta(beta=float(beta))), batchnorm="pass", relu="pass"
        ),
        validate=_check_beta,
    )
)
register_method(
    Method(
        "alpha-beta",
        "alpha-beta rule (Bach et al. 2015), BatchNorm folded, bias parts in z+ and z-",
        {"alpha": 1.0, "beta": 0.0, "bias": True, "stabilizer": 1e-6, "start": "logit"},
        lambda alpha, beta, bias, stabilizer, start: Policy(
            _all_layers(AlphaBeta(float(alpha), float(beta), bool(bias), float(stabilizer))),
            fold_batchnorm=True,
            relu="pass",
        ),
        validate=_check_alpha_beta,
    )
)
register_method(
    Method(
        "epsilon",
        "epsilon rule (Bach et al. 2015), BatchNorm folded",
        {"epsilon": 1e-6, "start": "logit"},
        lambda epsilon, start: Policy(
            _all_layers(Epsilon(float(epsilon))), fold_batchnorm=True, relu="pass"
        ),
        validate=lambda p: _finite(p, "epsilon", positive=True),
    )
)
register_method(
    Method(
        "zplus",
        "z+ rule (Montavon et al. 2017), biases ignored, BatchNorm folded",
        {"stabilizer": 1e-6, "start": "logit"},
        lambda stabilizer, start: Policy(
            _all_layers(AlphaBeta(1.0, 0.0, bias=False, stabilizer=float(stabilizer))),
            fold_batchnorm=True,
            relu="pass",
        ),
        validate=lambda p: _finite(p, "stabilizer", positive=True),
    )
)
register_method(
    Method(
        "composite",
        "z^B on the first layer, alpha1-beta0 on convolutions, epsilon on dense layers",
        {"epsilon": 0.25, "low": None, "high": None, "stabilizer": 1e-6, "start": "logit"},
        lambda epsilon, low, high, stabilizer, start: Policy(
            _composite_rule(float(epsilon), low, high, float(stabilizer)),
            fold_batchnorm=True,
            relu="pass",
        ),
        validate=_check_composite,
    )
)
# Gradients of conv/dense layers (BatchNorm folded: the same derivative) run through the
# engine's transpose, which needs less memory and time on CPU than autograd's.
_GRADIENT = _all_layers(Gradient())
register_method(
    Method(
        "gradient",
        "gradient of the target score with respect to the input",
        {"start": "logit"},
        lambda start: Policy(_GRADIENT, fold_batchnorm=True),
        kind="gradient",
    )
)
register_method(
    Method(
        "gradient-x-input",
        "gradient times input",
        {"start": "logit"},
        lambda start: Policy(_GRADIENT, fold_batchnorm=True),
        kind="gradient",
        finalize=lambda grad, x, params: grad * x,
    )
)
register_method(
    Method(
        "guided-backprop",
        "guided backpropagation (Springenberg et al. 2015); absolute value as in the paper",
        {"absolute": True, "start": "logit"},
        lambda absolute, start: Policy(_GRADIENT, fold_batchnorm=True, relu="guided"),
        kind="gradient",
        finalize=lambda grad, x, params: grad.abs() if params["absolute"] else grad,
    )
)
