"""The engine's registry of explanation methods: how each treats the layers.

The names, parameters, output labels and default targets live in the torch-free catalog
(`bids_lrp.methods`); each entry here adds the rule policy and the final step. A method
registered here (`register_method`) is added to that catalog too, so the app can use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from bids_lrp.lrp import multipass
from bids_lrp.lrp.plan import Policy
from bids_lrp.lrp.rules import AlphaBeta, Boehle2019Beta, Epsilon, Gradient, ZBox
from bids_lrp.methods import CATALOG, STARTS, MethodInfo, load_plugins, register_info

__all__ = ["METHODS", "STARTS", "Method", "get_method", "list_methods", "register_method"]


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
    label
        Alphanumeric output label (default: the name without its other characters).
    default_target
        None (the run's ``--target-class``) or ``"predicted"`` (``--guided-backprop-target``).
    compute
        For a method of several passes or of an inner layer (`bids_lrp.lrp.multipass`):
        ``compute(model, x, target, params, context, attribute) -> Outcome`` replaces the
        single forward-backward pass (``attribute`` is the engine's, for methods built on
        others); ``make_policy`` is then unused.
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
    label: str = ""
    default_target: str | None = None
    compute: Callable[..., Any] | None = None

    @property
    def info(self) -> MethodInfo:
        """The catalog entry (`bids_lrp.methods`)."""
        return CATALOG[self.name]

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults updated with ``params``; unknown or invalid values raise ValueError."""
        return self.info.resolve(params)


METHODS: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Register ``method`` with the engine and, unless it is there, in the app's catalog."""
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} is already registered")
    if method.name not in CATALOG:
        label = method.label or "".join(c for c in method.name if c.isalnum())
        register_info(
            MethodInfo(
                method.name,
                method.summary,
                label,
                dict(method.defaults),
                kind=method.kind,
                default_target=method.default_target,
                validate=method.validate,
            )
        )
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    if name not in METHODS:
        load_plugins()
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown explanation method {name!r}; available: {', '.join(METHODS)}"
        ) from None


def list_methods() -> dict[str, dict[str, Any]]:
    """Every method's name mapped to its parameters and their defaults."""
    return {name: dict(method.defaults) for name, method in METHODS.items()}


def _builtin(name: str, make_policy, finalize=None, compute=None) -> Method:
    """A built-in method: its summary, defaults and checks from the catalog."""
    info = CATALOG[name]
    extra = {"finalize": finalize} if finalize is not None else {}
    if compute is not None:
        extra["compute"] = compute
    return register_method(
        Method(
            name,
            info.summary,
            info.defaults,
            make_policy,
            kind=info.kind,
            validate=info.validate,
            label=info.label,
            default_target=info.default_target,
            **extra,
        )
    )


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


_builtin(
    "boehle2019",
    lambda beta, start: Policy(
        _all_layers(Boehle2019Beta(beta=float(beta))),
        batchnorm="pass",
        relu="pass",
        mixing="proportional",
    ),
)
_builtin(
    "alpha-beta",
    lambda alpha, beta, bias, stabilizer, start: Policy(
        _all_layers(AlphaBeta(float(alpha), float(beta), bool(bias), float(stabilizer))),
        fold_batchnorm=True,
        relu="pass",
        mixing="proportional",
    ),
)
_builtin(
    "epsilon",
    lambda epsilon, start: Policy(
        _all_layers(Epsilon(float(epsilon))),
        fold_batchnorm=True,
        relu="pass",
        mixing="proportional",
    ),
)
_builtin(
    "zplus",
    lambda stabilizer, start: Policy(
        _all_layers(AlphaBeta(1.0, 0.0, bias=False, stabilizer=float(stabilizer))),
        fold_batchnorm=True,
        relu="pass",
        mixing="proportional",
    ),
)
_builtin(
    "composite",
    lambda epsilon, low, high, stabilizer, start: Policy(
        _composite_rule(float(epsilon), low, high, float(stabilizer)),
        fold_batchnorm=True,
        relu="pass",
        mixing="proportional",
    ),
)
# Gradients of conv/dense layers (BatchNorm folded: the same derivative) run through the
# engine's transpose, which needs less memory and time on CPU than autograd's.
_GRADIENT = _all_layers(Gradient())
_builtin("gradient", lambda start: Policy(_GRADIENT, fold_batchnorm=True))
_builtin(
    "gradient-x-input",
    lambda start: Policy(_GRADIENT, fold_batchnorm=True),
    finalize=lambda grad, x, params: grad * x,
)
_builtin(
    "guided-backprop",
    lambda absolute, start: Policy(_GRADIENT, fold_batchnorm=True, relu="guided"),
    finalize=lambda grad, x, params: grad.abs() if params["absolute"] else grad,
)


def _no_policy(**params) -> Policy:
    raise ValueError("this method is computed in several passes, not by rules")


def _occlusion_inputs(context: Mapping[str, Any], params: Mapping[str, Any]) -> tuple:
    """The areas and, for ``fill=template``, the template brain the caller passed."""
    keys = ("regions", "reference") if params["fill"] == "template" else ("regions",)
    missing = [key for key in keys if context.get(key) is None]
    if missing:
        raise ValueError(
            "method 'occlusion' needs the atlas areas on the input grid (and, for "
            "fill=template, the template brain): pass context={'regions': labels, "
            f"'reference': image}} (missing: {', '.join(missing)})"
        )
    return context["regions"], context.get("reference") if len(keys) == 2 else None


_builtin(
    "grad-cam",
    _no_policy,
    compute=lambda model, x, target, params, context, attribute: multipass.grad_cam(
        model, x, target, params
    ),
)
_builtin(
    "integrated-gradients",
    _no_policy,
    compute=lambda model, x, target, params, context, attribute: multipass.integrated_gradients(
        model, x, target, params, attribute
    ),
)
_builtin(
    "smoothgrad",
    _no_policy,
    compute=lambda model, x, target, params, context, attribute: multipass.smoothgrad(
        model, x, target, params, attribute
    ),
)
_builtin(
    "occlusion",
    _no_policy,
    compute=lambda model, x, target, params, context, attribute: multipass.occlusion(
        model, x, target, params, *_occlusion_inputs(context, params)
    ),
)
