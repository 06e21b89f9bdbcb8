"""The built-in explanation methods and the named presets (Böhle et al. 2019's study)."""

from __future__ import annotations

import math
from typing import Any

from bids_lrp.methods.registry import PREDICTED, MethodInfo, register_info

__all__ = ["PRESETS"]


def _finite(params: dict[str, Any], *names: str, positive: bool = False) -> None:
    for name in names:
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        if not math.isfinite(value):
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
    if not isinstance(params["bias"], bool):
        raise ValueError(f"bias must be true or false, got {params['bias']!r}")
    if abs(params["alpha"] - params["beta"] - 1) > 1e-9:
        raise ValueError(
            f"alpha - beta must be 1 (alpha={params['alpha']!r}, beta={params['beta']!r})"
        )


def _check_composite(params: dict[str, Any]) -> None:
    _finite(params, "epsilon", positive=True)
    _finite(params, "stabilizer", positive=True)
    low, high = params["low"], params["high"]
    for name, value in (("low", low), ("high", high)):
        if value is not None:
            _finite(params, name)
    if low is not None and high is not None and not low < high:
        raise ValueError(f"low must be smaller than high, got low={low!r}, high={high!r}")


def _check_absolute(params: dict[str, Any]) -> None:
    if not isinstance(params["absolute"], bool):
        raise ValueError(f"absolute must be true or false, got {params['absolute']!r}")


for _info in (
    MethodInfo(
        "boehle2019",
        "beta rule as computed by Böhle et al. (2019): alpha = 1 + beta, biases ignored, "
        "BatchNorm and ReLU pass relevance through, start = softmax probability",
        "LRPb",
        {"beta": 0.0, "start": "probability"},
        in_label=("beta",),
        validate=_check_beta,
    ),
    MethodInfo(
        "alpha-beta",
        "alpha-beta rule (Bach et al. 2015), BatchNorm folded, bias parts in z+ and z-",
        "LRPab",
        {"alpha": 1.0, "beta": 0.0, "bias": True, "stabilizer": 1e-6, "start": "logit"},
        validate=_check_alpha_beta,
    ),
    MethodInfo(
        "epsilon",
        "epsilon rule (Bach et al. 2015), BatchNorm folded",
        "LRPepsilon",
        {"epsilon": 1e-6, "start": "logit"},
        validate=lambda p: _finite(p, "epsilon", positive=True),
    ),
    MethodInfo(
        "zplus",
        "z+ rule (Montavon et al. 2017), biases ignored, BatchNorm folded",
        "LRPzplus",
        {"stabilizer": 1e-6, "start": "logit"},
        validate=lambda p: _finite(p, "stabilizer", positive=True),
    ),
    MethodInfo(
        "composite",
        "z^B on the first layer, alpha1-beta0 on convolutions, epsilon on dense layers",
        "LRPcomposite",
        {"epsilon": 0.25, "low": None, "high": None, "stabilizer": 1e-6, "start": "logit"},
        validate=_check_composite,
    ),
    MethodInfo(
        "gradient",
        "gradient of the target score with respect to the input",
        "Gradient",
        {"start": "logit"},
        kind="gradient",
    ),
    MethodInfo(
        "gradient-x-input",
        "gradient times input",
        "GradientXInput",
        {"start": "logit"},
        kind="gradient",
    ),
    MethodInfo(
        "guided-backprop",
        "guided backpropagation (Springenberg et al. 2015); absolute value as in the paper",
        "GuidedBackprop",
        {"absolute": True, "start": "logit"},
        kind="gradient",
        default_target=PREDICTED,
        validate=_check_absolute,
    ),
):
    register_info(_info)

#: Named sets of settings: ``--preset boehle2019`` is Böhle et al. (2019)'s study: LRP with
#: beta 0, 0.25, 0.5, 0.75 and 1 (AD class, softmax probability), guided backpropagation of the
#: predicted class's softmax probability, and their 68 Neuromorphometrics areas.
PRESETS: dict[str, dict[str, Any]] = {
    "boehle2019": {
        "methods": (
            "boehle2019",
            "boehle2019:beta=0.25",
            "boehle2019:beta=0.5",
            "boehle2019:beta=0.75",
            "boehle2019:beta=1",
            "guided-backprop:start=probability",
        ),
        "area_grouping": "boehle2019",
    },
}
