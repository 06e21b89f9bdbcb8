"""The catalog of explanation methods, without torch: names, parameters, output labels, targets.

One registry for the whole app: the command line's choices, the settings, the output labels
(``desc-<label>``), the group level and the reports read it; `bids_lrp.lrp` adds to each
entry how the engine computes it. A method is chosen on the command line by a *spec*,
``name[:param=value[,param=value...]]``, e.g. ``boehle2019:beta=0.5`` or
``guided-backprop:start=probability``; every spec has its own output label (``LRPb0p5``,
``GuidedBackpropStartProbability``) and its parameters in each map's sidecar.

The machinery is `bids_lrp.methods.registry`; the built-in methods and the presets are
`bids_lrp.methods.builtin` (registered when this package is imported).
"""

from bids_lrp.methods.builtin import PRESETS
from bids_lrp.methods.registry import (
    CATALOG,
    PLUGIN_GROUP,
    PREDICTED,
    STARTS,
    MethodInfo,
    MethodSpec,
    get_info,
    label_order,
    load_plugins,
    method_label,
    method_of_label,
    parse_method_spec,
    register_info,
)

__all__ = [
    "CATALOG",
    "PLUGIN_GROUP",
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
