"""The catalog of explanation methods, without torch: names, parameters, output labels, targets.

One registry for the whole app: the command line's choices, the settings, the output labels
(``desc-<label>``), the group level and the reports read it; `bids_lrp.lrp` adds to each
entry how the engine computes it. A method is chosen on the command line by a *spec*,
``name[:param=value[,param=value...]]``, e.g. ``boehle2019:beta=0.5`` or
``guided-backprop:start=probability``; every spec has its own output label (``LRPb0p5``,
``GuidedBackpropStartProbability``) and its parameters in each map's sidecar.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

__all__ = [
    "CATALOG",
    "PREDICTED",
    "PRESETS",
    "STARTS",
    "MethodInfo",
    "MethodSpec",
    "get_info",
    "label_order",
    "load_plugins",
    "method_label",
    "method_of_label",
    "parse_method_spec",
    "register_info",
]

#: A target that explains each image's predicted class (the argmax of its logits).
PREDICTED = "predicted"
#: Where the backward pass starts: the target's logit or its softmax probability.
STARTS = ("logit", "probability")


@dataclass(frozen=True)
class MethodInfo:
    """What the app knows of an explanation method (the engine's part is `bids_lrp.lrp`).

    Attributes
    ----------
    name, summary
        Registry name and one line for listings and sidecars.
    label
        Alphanumeric base of the output label (``desc-<label>``).
    defaults
        Every parameter with its default.
    kind
        ``"relevance"`` (LRP rules) or ``"gradient"``.
    default_target
        None: the class of ``--target-class``; `PREDICTED`: the class of
        ``--guided-backprop-target`` (which defaults to each image's predicted class).
    in_label
        Parameters always spelled in the label (``boehle2019``: beta, so beta 0 is ``LRPb0``);
        the others appear only when they differ from their default.
    validate
        Raises ValueError for invalid parameter values.
    """

    name: str
    summary: str
    label: str
    defaults: Mapping[str, Any]
    kind: str = "relevance"
    default_target: str | None = None
    in_label: tuple[str, ...] = ()
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

    def label_for(self, params: Mapping[str, Any]) -> str:
        """The output label of this method with ``params`` (defaults filled in)."""
        resolved = self.resolve(params)
        text = self.label
        for key in self.in_label:
            text += _token(resolved[key])
        for key, value in resolved.items():
            if key in self.in_label or _same(value, self.defaults[key]):
                continue
            text += _camel(key) + _token(value)
        return text


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b or (a == b and type(a) is type(b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def _camel(key: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", key))


def _token(value: Any) -> str:
    """A parameter value as label characters: 0.25 -> 0p25, -1 -> m1, 1e-06 -> 1em06."""
    if isinstance(value, bool):
        return "On" if value else "Off"
    if value is None:
        return "None"
    if isinstance(value, (int, float)):
        text = f"{value:g}"
        return text.replace("-", "m").replace("+", "").replace(".", "p")
    return _camel(str(value))


CATALOG: dict[str, MethodInfo] = {}


def register_info(info: MethodInfo) -> MethodInfo:
    """Add a method to the catalog (`bids_lrp.lrp.register_method` calls this)."""
    if info.name in CATALOG:
        raise ValueError(f"method {info.name!r} is already registered")
    if not re.fullmatch(r"[A-Za-z0-9]+", info.label):
        raise ValueError(f"label {info.label!r} of method {info.name!r} is not alphanumeric")
    taken = {other.label: other.name for other in CATALOG.values()}
    if info.label in taken:
        raise ValueError(f"label {info.label!r} is already the label of {taken[info.label]!r}")
    CATALOG[info.name] = info
    return info


#: Entry-point group of packages that add methods: each entry point names a module (or a
#: callable) that registers its methods with `bids_lrp.lrp.register_method` when loaded.
PLUGIN_GROUP = "bids_lrp.methods"
_plugins_loaded = False


def load_plugins() -> None:
    """Load the methods of installed packages (entry points `PLUGIN_GROUP`), once.

    This is how a method is usable by every process of a run (nipype's workers start fresh
    interpreters): a method registered only in the calling process is known to that process.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry in metadata.entry_points(group=PLUGIN_GROUP):
        loaded = entry.load()
        if callable(loaded):
            loaded()


def get_info(name: str) -> MethodInfo:
    """The catalog entry of ``name``; ValueError naming the known methods otherwise."""
    if name not in CATALOG:
        load_plugins()
    try:
        return CATALOG[name]
    except KeyError:
        raise ValueError(
            f"unknown explanation method {name!r}; available: {', '.join(CATALOG)}"
        ) from None


@dataclass(frozen=True)
class MethodSpec:
    """A method with parameters, as chosen on the command line (`parse_method_spec`)."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def info(self) -> MethodInfo:
        return get_info(self.name)

    @property
    def label(self) -> str:
        return self.info.label_for(dict(self.params))

    @property
    def resolved(self) -> dict[str, Any]:
        return self.info.resolve(dict(self.params))

    @property
    def text(self) -> str:
        """The canonical spec: the name, then only the parameters that differ from defaults."""
        info = self.info
        parts = [
            f"{key}={_text(value)}"
            for key, value in self.resolved.items()
            if not _same(value, info.defaults[key])
        ]
        return self.name + (":" + ",".join(parts) if parts else "")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _value(text: str, default: Any) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    try:
        number = float(text)
    except ValueError:
        return text.strip()
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a finite number")
    if number.is_integer() and not isinstance(default, float) and "." not in text:
        return int(number)
    return number


def parse_method_spec(text: str) -> MethodSpec:
    """``name[:param=value[,param=value...]]`` -> `MethodSpec` (validated).

    Examples
    --------
    >>> parse_method_spec("boehle2019:beta=0.5").label
    'LRPb0p5'
    """
    name, _, rest = str(text).strip().partition(":")
    info = get_info(name)
    params: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"{item!r} in {text!r} is not param=value")
        if key in params:
            raise ValueError(f"parameter {key!r} is given twice in {text!r}")
        if key not in info.defaults:
            info.resolve({key: None})  # raises the error that names the parameters
        params[key] = _value(value, info.defaults[key])
    resolved = info.resolve(params)
    kept = tuple(
        (k, resolved[k])
        for k in info.defaults
        if k in params and not _same(resolved[k], info.defaults[k])
    )
    return MethodSpec(name, kept)


def method_label(spec: str) -> str:
    """The output label of a method spec (``boehle2019`` -> ``LRPb0``)."""
    return parse_method_spec(spec).label


# ---------------------------------------------------------------------------------------------
# Parameter checks and the built-in methods (their engine parts: bids_lrp.lrp.methods)


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


def method_of_label(label: str) -> str | None:
    """The registered method whose outputs carry ``label`` (``LRPb0p5`` -> ``boehle2019``).

    The longest base label that starts ``label`` wins (``GradientXInput`` is not ``Gradient``);
    None for a label of no registered method.
    """
    bases = sorted(CATALOG.values(), key=lambda info: -len(info.label))
    for info in bases:
        if label.startswith(info.label):
            return info.name
    return None


def label_order(labels) -> tuple[str, ...]:
    """Labels sorted by their method's place in the catalog, then by label."""
    names = list(CATALOG)

    def key(label: str):
        name = method_of_label(label)
        return (names.index(name) if name is not None else len(names), label)

    return tuple(sorted(set(labels), key=key))
