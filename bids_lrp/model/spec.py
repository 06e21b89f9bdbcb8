"""Any network of the layers the engine explains, described in its model card.

``describe(net)`` writes an ``nn.Sequential`` (nested containers and residual blocks included)
as plain JSON data; ``build_model("sequential", layers=...)`` builds it again with the same
layer names, so its ``state_dict`` loads unchanged. A card with ``architecture: "sequential"``
and ``architecture_params: {"layers": describe(net)}`` lets the participant level run a network
bids_lrp does not know by name (a MONAI or plain PyTorch model written as such a container):

    save_checkpoint(net, ModelCard(architecture="sequential",
                                   architecture_params={"layers": describe(net)}, ...), path)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from bids_lrp.model.layers import PadMaxPool3d, Residual
from bids_lrp.model.network import register_architecture

__all__ = ["LAYERS", "build_sequential", "describe"]

_CONV = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
         "bias")  # fmt: skip
_AVG = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")
#: Layer types and the constructor arguments that describe them.
LAYERS: dict[str, tuple[type[nn.Module], tuple[str, ...]]] = {
    **{name: (getattr(nn, name), _CONV) for name in ("Conv1d", "Conv2d", "Conv3d")},
    "Linear": (nn.Linear, ("in_features", "out_features", "bias")),
    **{
        name: (getattr(nn, name), ("num_features", "eps", "momentum", "affine"))
        for name in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")
    },
    "ReLU": (nn.ReLU, ()),
    **{
        name: (getattr(nn, name), ("kernel_size", "stride", "padding", "dilation", "ceil_mode"))
        for name in ("MaxPool1d", "MaxPool2d", "MaxPool3d")
    },
    **{name: (getattr(nn, name), _AVG) for name in ("AvgPool1d", "AvgPool2d", "AvgPool3d")},
    **{
        name: (getattr(nn, name), ("output_size",))
        for name in ("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d")
    },
    "PadMaxPool3d": (PadMaxPool3d, ("kernel_size", "stride")),
    "Flatten": (nn.Flatten, ("start_dim", "end_dim")),
    **{
        name: (getattr(nn, name), ("p",))
        for name in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d")
    },
    "Identity": (nn.Identity, ()),
}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _arguments(module: nn.Module, names: Sequence[str]) -> dict[str, Any]:
    args = {}
    for name in names:
        value = getattr(module, name)
        if name == "bias":
            value = module.bias is not None
        if isinstance(value, str) and name == "padding":
            raise ValueError(f"{type(module).__name__} with padding={value!r}: give numbers")
        args[name] = _plain(value)
    return args


def describe(module: nn.Module) -> list[dict[str, Any]]:
    """The children of ``module`` (an ``nn.Sequential``) as JSON data, names kept."""
    if not isinstance(module, nn.Sequential):
        raise ValueError(f"describe() needs an nn.Sequential, got {type(module).__name__}")
    return [_entry(name, child) for name, child in module.named_children()]


def _entry(name: str, module: nn.Module) -> dict[str, Any]:
    if isinstance(module, nn.Sequential):
        return {"name": name, "type": "Sequential", "layers": describe(module)}
    if isinstance(module, Residual):
        parts = {}
        for part in ("body", "shortcut", "post"):
            child = getattr(module, part)
            parts[part] = _entry(part, child)
        return {"name": name, "type": "Residual", **parts}
    kind = type(module).__name__
    if kind not in LAYERS or type(module) is not LAYERS[kind][0]:
        raise ValueError(
            f"layer {name!r} ({kind}) cannot be described; known: {', '.join(sorted(LAYERS))}"
        )
    return {"name": name, "type": kind, "args": _arguments(module, LAYERS[kind][1])}


def _build(entry: dict[str, Any]) -> nn.Module:
    kind = entry.get("type")
    if kind == "Sequential":
        return build_sequential(entry["layers"])
    if kind == "Residual":
        return Residual(_build(entry["body"]), _build(entry["shortcut"]), _build(entry["post"]))
    if kind not in LAYERS:
        raise ValueError(f"unknown layer type {kind!r}; known: {', '.join(sorted(LAYERS))}")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.get("args", {}).items()}
    return LAYERS[kind][0](**args)


def build_sequential(layers: Sequence[dict[str, Any]]) -> nn.Sequential:
    """The ``nn.Sequential`` that `describe` wrote, with the same layer names."""
    model = nn.Sequential()
    for entry in layers:
        model.add_module(str(entry["name"]), _build(entry))
    return model


@register_architecture("sequential")
def _sequential(input_shape: Sequence[int] = (), *, layers: Sequence[dict[str, Any]]):
    return build_sequential(layers).eval()
