"""The built-in explanation methods and the named presets (Böhle et al. 2019's study)."""

from __future__ import annotations

import math
from typing import Any

from bids_lrp.methods.registry import CATALOG, PREDICTED, MethodInfo, register_info

__all__ = ["OCCLUSION_FILLS", "PRESETS"]


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


def _check_grad_cam(params: dict[str, Any]) -> None:
    if not isinstance(params["layer"], str) or not params["layer"]:
        raise ValueError(f"layer must be a layer name or 'last', got {params['layer']!r}")


def _check_integrated_gradients(params: dict[str, Any]) -> None:
    steps = params["steps"]
    if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= 512:
        raise ValueError(f"steps must be an integer in 2..512, got {steps!r}")


#: Methods SmoothGrad cannot average: itself, and occlusion (no noise reaches an area's score).
_NOT_SMOOTHED = ("smoothgrad", "occlusion")


def _check_smoothgrad(params: dict[str, Any]) -> None:
    base = params["base"]
    if base in _NOT_SMOOTHED or base not in CATALOG:
        usable = ", ".join(n for n in CATALOG if n not in _NOT_SMOOTHED)
        raise ValueError(f"base must be one of {usable}; got {base!r}")
    samples = params["samples"]
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= 1000:
        raise ValueError(f"samples must be an integer in 1..1000, got {samples!r}")
    _finite(params, "sigma")
    if params["sigma"] < 0:
        raise ValueError(f"sigma must be >= 0, got {params['sigma']!r}")
    if isinstance(params["seed"], bool) or not isinstance(params["seed"], int):
        raise ValueError(f"seed must be an integer, got {params['seed']!r}")


def _check_occlusion(params: dict[str, Any]) -> None:
    if params["fill"] not in OCCLUSION_FILLS:
        raise ValueError(f"fill must be one of {OCCLUSION_FILLS}, got {params['fill']!r}")


#: What an occluded area is replaced by: the template brain (as a network input) or zeros.
OCCLUSION_FILLS = ("template", "zero")


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
    MethodInfo(
        "grad-cam",
        "Grad-CAM (Selvaraju et al. 2017): a layer's channels weighted by the mean gradient "
        "of the score, rectified and resized to the input (layer: a layer name or 'last', "
        "the last convolution)",
        "GradCAM",
        {"layer": "last", "start": "logit"},
        kind="activation",
        validate=_check_grad_cam,
    ),
    MethodInfo(
        "integrated-gradients",
        "integrated gradients (Sundararajan et al. 2017) from a zero baseline, Gauss-Legendre "
        "nodes",
        "IntegratedGradients",
        {"steps": 32, "start": "logit"},
        validate=_check_integrated_gradients,
    ),
    MethodInfo(
        "smoothgrad",
        "SmoothGrad (Smilkov et al. 2017): a base method, started from start, averaged over "
        "copies with Gaussian noise (sigma: a share of the image's intensity range)",
        "SmoothGrad",
        {"base": "gradient", "samples": 16, "sigma": 0.15, "seed": 0, "start": "logit"},
        kind="gradient",
        in_label=("base",),
        validate=_check_smoothgrad,
    ),
    MethodInfo(
        "occlusion",
        "occlusion of atlas areas: each area replaced in turn (by the template brain, or "
        "zeros), its voxels share the score it loses",
        "Occlusion",
        {"fill": "template", "start": "logit"},
        kind="perturbation",
        needs=("regions", "reference"),
        validate=_check_occlusion,
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
