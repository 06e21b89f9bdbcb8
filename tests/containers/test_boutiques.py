"""The Boutiques descriptor (``boutiques.json``) against the real parser.

The descriptor is written by hand; these tests keep it honest: every parser option is an input
(and nothing else is), and flags, types, choices, lists, defaults and number bounds agree with
``build_parser()``. ``test_bosh.py`` checks it with ``bosh`` itself.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from bids_lrp import __version__, exitcodes
from bids_lrp.cli.parser import build_parser
from tests.containers.descriptor import (
    CREATED_PATHS,
    NOT_INPUTS,
    OUTPUT_DIR_IDS,
    VERBOSITY_CHOICES,
    descriptor,
    descriptor_inputs,
    input_ids,
    is_plain,
    option_actions,
    parser_actions,
)

# --- the descriptor against the parser ----------------------------------------------------------


def test_identity_version_and_container():
    desc = descriptor()
    assert desc["name"] == "bids_lrp"
    assert desc["schema-version"] == "0.5"
    assert desc["tool-version"] == __version__
    assert desc["container-image"] == {"type": "docker", "image": f"bids_lrp:{__version__}"}


def test_every_parser_option_is_an_input_and_nothing_else():
    expected = [i for action in parser_actions() for i in input_ids(action)]
    assert len(expected) == len(set(expected))
    assert sorted(descriptor_inputs()) == sorted(expected)
    excluded = {a.dest for a in build_parser()._actions} & set(NOT_INPUTS)
    assert excluded == set(NOT_INPUTS), "an exclusion names an option the parser lacks"


def test_command_line_holds_each_value_key_once():
    desc = descriptor()
    command = desc["command-line"]
    # BIDS-app form (checked by `bosh validate --bids` too), then the options
    assert command.startswith(
        "mkdir -p [OUTPUT_DIR]; bids_lrp [BIDS_DIR] [OUTPUT_DIR] [ANALYSIS_LEVEL] "
        "[PARTICIPANT_LABEL] [SESSION_LABEL] "
    )
    tokens = re.findall(r"\[[A-Z_]+\]", command)
    keys = {inp["value-key"] for inp in desc["inputs"]}
    assert sorted(set(tokens)) == sorted(keys)
    assert tokens.count("[OUTPUT_DIR]") == 2  # mkdir -p and the positional
    assert all(tokens.count(k) == 1 for k in keys - {"[OUTPUT_DIR]"})
    for inp in desc["inputs"]:
        key = "[OUTPUT_DIR]" if inp["id"] in OUTPUT_DIR_IDS else f"[{inp['id'].upper()}]"
        assert inp["value-key"] == key
        assert inp["name"].strip() and inp["description"].strip()


@pytest.mark.parametrize("action", [a for a in parser_actions() if not a.option_strings], ids=str)
def test_positionals(action):
    found = [descriptor_inputs()[i] for i in input_ids(action)]
    for inp in found:
        assert "command-line-flag" not in inp
        assert "list" not in inp and "default-value" not in inp
        assert inp.get("value-choices") == (list(action.choices) if action.choices else None)
    if action.dest == "output_dir":
        assert [inp["type"] for inp in found] == ["String", "File"]
        assert all(inp["optional"] for inp in found)  # one of them: see the group test
    else:
        assert found[0]["type"] == ("File" if action.type is Path else "String")
        assert found[0]["optional"] is False


def _expected_type(action: argparse.Action) -> str:
    if action.nargs == 0:  # store_true
        return "Flag"
    if action.type is Path:
        return "String" if action.dest in CREATED_PATHS else "File"
    if action.type is None:
        return "String"
    try:  # a number parser takes "1"; a text parser (method specs, AREA=COLUMN) refuses it
        value = action.type("1")
    except argparse.ArgumentTypeError:
        return "String"
    return "Number" if isinstance(value, int | float) else "String"


@pytest.mark.parametrize("action", option_actions(is_plain), ids=lambda a: a.dest)
def test_options_flag_type_choices_list_default(action):
    inp = descriptor_inputs()[action.dest]
    long_flags = [s for s in action.option_strings if s.startswith("--")]
    assert inp["command-line-flag"] == long_flags[0]
    assert inp["command-line-flag"] in action.option_strings
    assert inp["optional"] is not action.required
    assert inp["type"] == _expected_type(action)
    if inp["type"] == "Number":
        assert bool(inp.get("integer")) is isinstance(action.type("1"), int)
    assert inp.get("value-choices") == (list(action.choices) if action.choices else None)
    if action.nargs == "+":
        assert inp.get("list") is True and inp.get("min-list-entries") == 1
    else:
        assert action.nargs in (None, 0) and "list" not in inp
    if action.default in (None, False, argparse.SUPPRESS):
        assert "default-value" not in inp  # bosh would put it on every command line
    else:
        assert inp["default-value"] == action.default


def _descriptor_accepts(inp: dict, value: float) -> bool:
    if inp.get("integer") and value != int(value):
        return False
    low, high = inp.get("minimum", -float("inf")), inp.get("maximum", float("inf"))
    above = value > low if inp.get("exclusive-minimum") else value >= low
    below = value < high if inp.get("exclusive-maximum") else value <= high
    return above and below


def _parser_accepts(action: argparse.Action, value: float) -> bool:
    text = str(int(value)) if value == int(value) else str(value)
    try:
        action.type(text)
    except argparse.ArgumentTypeError:
        return False
    return True


@pytest.mark.parametrize("value", [-1, 0, 1e-9, 0.5, 1, 2, 1000])
def test_number_bounds_agree_with_the_parser(value):
    numbers = [a for a in option_actions(is_plain) if _expected_type(a) == "Number"]
    assert numbers
    for action in numbers:
        inp = descriptor_inputs()[action.dest]
        assert _descriptor_accepts(inp, value) is _parser_accepts(action, value), action.dest


@pytest.mark.parametrize(
    "action",
    option_actions(lambda a: isinstance(a, argparse.BooleanOptionalAction)),
    ids=lambda a: a.dest,
)
def test_on_off_options_are_two_exclusive_flags(action):
    on, off = (descriptor_inputs()[i] for i in input_ids(action))
    assert [on["command-line-flag"], off["command-line-flag"]] == action.option_strings
    for inp in (on, off):
        assert inp["type"] == "Flag" and inp["optional"] is True
        assert "default-value" not in inp  # the parser's default stands when neither is given
    groups = [g for g in descriptor()["groups"] if on["id"] in g["members"]]
    assert len(groups) == 1 and groups[0]["members"] == [on["id"], off["id"]]
    assert groups[0]["mutually-exclusive"] is True


def test_output_folder_pair_is_one_required_choice():
    (group,) = [g for g in descriptor()["groups"] if "output_dir_name" in g["members"]]
    assert group["members"] == OUTPUT_DIR_IDS
    assert group["mutually-exclusive"] is True and group["one-is-required"] is True


def test_verbosity_choices_are_the_counted_levels():
    (action,) = option_actions(lambda a: isinstance(a, argparse._CountAction))
    inp = descriptor_inputs()[action.dest]
    assert inp["type"] == "String" and inp["optional"] is True
    assert "command-line-flag" not in inp and "default-value" not in inp
    assert inp["value-choices"] == VERBOSITY_CHOICES
    parser = build_parser()
    levels = [
        parser.parse_args(["bids", "out", "participant", c]).verbosity for c in VERBOSITY_CHOICES
    ]
    assert levels == [1, 2]
    assert {"-v", "--verbose"} <= set(action.option_strings)


def test_error_codes_are_the_exit_codes():
    codes = {e["code"] for e in descriptor()["error-codes"]}
    exit_codes = {v for k, v in vars(exitcodes).items() if k.startswith("EX_")}
    assert codes == exit_codes
    assert all(e["description"].strip() for e in descriptor()["error-codes"])


# --- bosh ---------------------------------------------------------------------------------------
