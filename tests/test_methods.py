"""The torch-free method catalog: specs, output labels, one registry with the engine."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bids_lrp.lrp import METHODS, attribute, register_method
from bids_lrp.lrp.methods import METHODS as ENGINE_METHODS
from bids_lrp.lrp.methods import Method
from bids_lrp.methods import (
    CATALOG,
    label_order,
    method_label,
    method_of_label,
    parse_method_spec,
)


def test_catalog_and_engine_are_one_registry():
    assert list(CATALOG) == list(METHODS)
    for name, method in METHODS.items():
        assert dict(method.defaults) == dict(CATALOG[name].defaults)
        assert method.kind == CATALOG[name].kind
    labels = [method_label(name) for name in CATALOG]
    assert all(label.isalnum() for label in labels)
    assert len(set(labels)) == len(labels)
    assert method_of_label("LRPb0") == "boehle2019"
    assert CATALOG["guided-backprop"].default_target == "predicted"


def test_catalog_needs_no_torch():
    code = (
        "import sys; from bids_lrp.methods import parse_method_spec; "
        "from bids_lrp.cli.parser import build_parser; build_parser(); "
        "print(parse_method_spec('boehle2019:beta=0.5').label, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["LRPb0p5", "False"]


@pytest.mark.parametrize(
    ("text", "canonical", "label"),
    [
        ("boehle2019", "boehle2019", "LRPb0"),
        ("boehle2019:beta=0", "boehle2019", "LRPb0"),
        ("boehle2019:beta=0.25", "boehle2019:beta=0.25", "LRPb0p25"),
        ("boehle2019:beta=1", "boehle2019:beta=1", "LRPb1"),
        ("boehle2019:start=logit,beta=0.5", "boehle2019:beta=0.5,start=logit",
         "LRPb0p5StartLogit"),
        ("guided-backprop:start=probability", "guided-backprop:start=probability",
         "GuidedBackpropStartProbability"),
        ("guided-backprop", "guided-backprop", "GuidedBackprop"),
        ("epsilon:epsilon=1e-3", "epsilon:epsilon=0.001", "LRPepsilonEpsilon0p001"),
        ("guided-backprop:absolute=false", "guided-backprop:absolute=false",
         "GuidedBackpropAbsoluteOff"),
    ],
)  # fmt: skip
def test_specs_have_canonical_text_and_label(text, canonical, label):
    spec = parse_method_spec(text)
    assert spec.text == canonical
    assert spec.label == label == method_label(text)
    assert parse_method_spec(spec.text) == spec
    assert method_of_label(label) == spec.name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "unknown explanation method"),
        ("boehle2019:gamma=1", "has no parameter 'gamma'"),
        ("boehle2019:beta=-1", "beta must be >= 0"),
        ("boehle2019:beta", "is not param=value"),
        ("boehle2019:beta=abc", "beta must be a finite number"),
        ("boehle2019:beta=1,beta=2", "given twice"),
        ("boehle2019:beta=nan", "not a finite number"),
        ("guided-backprop:start=softmax", "start must be one of"),
        ("alpha-beta:alpha=2", "alpha - beta must be 1"),
    ],
)
def test_bad_specs_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_method_spec(text)


def test_label_order_follows_the_catalog():
    labels = ["GuidedBackprop", "LRPb1", "LRPb0p5", "LRPb0", "Other", "GradientXInput"]
    assert label_order(labels) == (
        "LRPb0",
        "LRPb0p5",
        "LRPb1",
        "GradientXInput",
        "GuidedBackprop",
        "Other",
    )
    assert method_of_label("GradientXInput") == "gradient-x-input"


def test_a_registered_method_is_usable_by_the_app():
    import torch

    from bids_lrp.lrp.plan import Policy
    from bids_lrp.lrp.rules import Gradient

    register_method(
        Method(
            "my-gradient",
            "a user's method",
            {"start": "logit", "scale": 1.0},
            lambda start, scale: Policy(lambda *a: Gradient(), fold_batchnorm=True),
            kind="gradient",
            finalize=lambda g, x, p: g * p["scale"],
        )
    )
    try:
        spec = parse_method_spec("my-gradient:scale=2")
        assert spec.label == "mygradientScale2"
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
        x = torch.rand(1, 1, 4)
        result = attribute(model, x, 1, spec.name, **dict(spec.params))
        torch.testing.assert_close(result.relevance, 2 * model[1].weight[1].view(1, 1, 4))
        assert label_order(["mygradientScale2", "LRPb0"]) == ("LRPb0", "mygradientScale2")
    finally:
        ENGINE_METHODS.pop("my-gradient", None)
        CATALOG.pop("my-gradient", None)


PLUGIN = """
from bids_lrp.lrp.methods import Method, register_method
from bids_lrp.lrp.plan import Policy
from bids_lrp.lrp.rules import Gradient


def register():
    register_method(
        Method(
            "double-gradient",
            "twice the gradient (a plugin)",
            {"start": "logit"},
            lambda start: Policy(lambda *a: Gradient(), fold_batchnorm=True),
            kind="gradient",
            finalize=lambda g, x, p: 2 * g,
            label="DoubleGradient",
        )
    )
"""


def test_an_installed_plugin_is_usable_in_a_fresh_process(tmp_path):
    """A package's entry point (group bids_lrp.methods) adds its methods in every process."""
    (tmp_path / "my_lrp_plugin.py").write_text(PLUGIN)
    info = tmp_path / "my_lrp_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-lrp-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[bids_lrp.methods]\ndouble = my_lrp_plugin:register\n")
    code = (
        "import torch; from bids_lrp.methods import parse_method_spec; "
        "from bids_lrp.lrp import explain; "
        "spec = parse_method_spec('double-gradient'); "
        "model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3, 2)); "
        "r = explain(model, torch.ones(1, 1, 3), 1, spec.name); "
        "print(spec.label, bool(torch.allclose(r.flatten(), 2 * model[1].weight[1])))"
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["DoubleGradient", "True"]
