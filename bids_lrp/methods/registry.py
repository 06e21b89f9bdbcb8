"""The method registry: what a method is (`MethodInfo`), how a spec names one, its labels.

`bids_lrp.methods` holds the whole catalog (this registry plus the built-in methods of
`bids_lrp.methods.builtin`); import from there.
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
        ``"relevance"``: the map distributes the start score, and how much of it reaches the
        input is checked (LRP rules, integrated gradients); ``"gradient"``: a derivative
        (gradients, guided backpropagation, SmoothGrad); ``"activation"``: a layer's weighted
        activations (Grad-CAM); ``"perturbation"``: the score lost when areas are replaced
        (occlusion).
    needs
        What the method needs beside the image: ``"regions"`` (atlas areas on the network
        grid) and ``"reference"`` (the template brain as a network input), which the
        participant level provides.
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
    needs: tuple[str, ...] = ()
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
