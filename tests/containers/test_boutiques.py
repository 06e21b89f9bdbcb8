"""The Boutiques descriptor (``boutiques.json``) against the real parser, ``bosh`` and a real run.

The descriptor is written by hand; these tests keep it honest: every parser option is an input
(and nothing else is), flags, types, choices, lists, defaults and number bounds agree with
``build_parser()``, ``bosh validate --bids`` accepts it, the command lines ``bosh`` builds parse
back into the intended settings, and ``bosh exec launch --no-container`` runs the participant
level on a simulated participant and finds the declared outputs.
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from bids_lrp import __version__, inputs
from bids_lrp.cli.parser import build_parser
from tests.e2e.helpers import app_env, make_dataset, make_model

DESCRIPTOR = Path(__file__).resolve().parents[2] / "boutiques.json"
BOSH = Path(sys.executable).parent / "bosh"

#: Parser options that are not descriptor inputs, and why.
NOT_INPUTS = {
    "help": "-h/--help prints the usage; it runs no analysis",
    "version": "--version prints the version; it runs no analysis",
}
#: The output folder: BIDS-app descriptors split it into a String (a new folder, participant
#: level) and a File (existing participant outputs, group level), in a mutually-exclusive group.
OUTPUT_DIR_IDS = ["output_dir_name", "participant_level_analysis_dir"]
#: Path options naming a folder the app creates: a String, since bosh mounts File inputs into
#: the container and requires them to exist beforehand.
CREATED_PATHS = {"work_dir"}
#: ``-v``/``--verbose`` counts; a Boutiques Flag is given at most once, so the levels are the
#: choices of a String placed on the command line as is.
VERBOSITY_CHOICES = ["-v", "-vv"]


def _descriptor() -> dict:
    return json.loads(DESCRIPTOR.read_text(encoding="utf-8"))


def _inputs() -> dict[str, dict]:
    return {inp["id"]: inp for inp in _descriptor()["inputs"]}


def _actions() -> list[argparse.Action]:
    return [a for a in build_parser()._actions if a.dest not in NOT_INPUTS]


def _input_ids(action: argparse.Action) -> list[str]:
    """The descriptor inputs that stand for one parser option."""
    if action.dest == "output_dir":
        return OUTPUT_DIR_IDS
    if isinstance(action, argparse.BooleanOptionalAction):
        return [action.dest, f"no_{action.dest}"]
    return [action.dest]


def _option_actions(kind) -> list[argparse.Action]:
    return [a for a in _actions() if a.option_strings and kind(a)]


def _plain(action: argparse.Action) -> bool:
    return not isinstance(action, argparse.BooleanOptionalAction | argparse._CountAction)


def _bosh(*args: str, cwd: Path | None = None, env=None) -> subprocess.CompletedProcess:
    env = dict(os.environ if env is None else env, NO_COLOR="1")
    return subprocess.run(
        [str(BOSH), *args], capture_output=True, text=True, cwd=cwd, env=env, check=False
    )


def _simulate(invocation: dict, tmp_path: Path) -> str:
    """The command line ``bosh exec simulate`` builds for ``invocation``."""
    path = tmp_path / "simulate.json"
    path.write_text(json.dumps(invocation))
    done = _bosh("exec", "simulate", "-i", str(path), str(DESCRIPTOR))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines[-2] == "Generated Command:", done.stdout
    return lines[-1]


def _app_argv(command: str, output_dir: str) -> list[str]:
    """The ``bids_lrp`` arguments of a generated ``mkdir -p OUT; bids_lrp ...`` command line."""
    mkdir, _, app = command.partition("; ")
    assert shlex.split(mkdir) == ["mkdir", "-p", output_dir]
    argv = shlex.split(app)
    assert argv[0] == "bids_lrp"
    return argv[1:]


# --- the descriptor against the parser ----------------------------------------------------------


def test_identity_version_and_container():
    desc = _descriptor()
    assert desc["name"] == "bids_lrp"
    assert desc["schema-version"] == "0.5"
    assert desc["tool-version"] == __version__
    assert desc["container-image"] == {"type": "docker", "image": f"bids_lrp:{__version__}"}


def test_every_parser_option_is_an_input_and_nothing_else():
    expected = [i for action in _actions() for i in _input_ids(action)]
    assert len(expected) == len(set(expected))
    assert sorted(_inputs()) == sorted(expected)
    excluded = {a.dest for a in build_parser()._actions} & set(NOT_INPUTS)
    assert excluded == set(NOT_INPUTS), "an exclusion names an option the parser lacks"


def test_command_line_holds_each_value_key_once():
    desc = _descriptor()
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


@pytest.mark.parametrize("action", [a for a in _actions() if not a.option_strings], ids=str)
def test_positionals(action):
    found = [_inputs()[i] for i in _input_ids(action)]
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
    assert isinstance(action.type("1"), int | float), f"unexpected type of {action.dest}"
    return "Number"


@pytest.mark.parametrize("action", _option_actions(_plain), ids=lambda a: a.dest)
def test_options_flag_type_choices_list_default(action):
    inp = _inputs()[action.dest]
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
    numbers = [a for a in _option_actions(_plain) if _expected_type(a) == "Number"]
    assert numbers
    for action in numbers:
        inp = _inputs()[action.dest]
        assert _descriptor_accepts(inp, value) is _parser_accepts(action, value), action.dest


@pytest.mark.parametrize(
    "action",
    _option_actions(lambda a: isinstance(a, argparse.BooleanOptionalAction)),
    ids=lambda a: a.dest,
)
def test_on_off_options_are_two_exclusive_flags(action):
    on, off = (_inputs()[i] for i in _input_ids(action))
    assert [on["command-line-flag"], off["command-line-flag"]] == action.option_strings
    for inp in (on, off):
        assert inp["type"] == "Flag" and inp["optional"] is True
        assert "default-value" not in inp  # the parser's default stands when neither is given
    groups = [g for g in _descriptor()["groups"] if on["id"] in g["members"]]
    assert len(groups) == 1 and groups[0]["members"] == [on["id"], off["id"]]
    assert groups[0]["mutually-exclusive"] is True


def test_output_folder_pair_is_one_required_choice():
    (group,) = [g for g in _descriptor()["groups"] if "output_dir_name" in g["members"]]
    assert group["members"] == OUTPUT_DIR_IDS
    assert group["mutually-exclusive"] is True and group["one-is-required"] is True


def test_verbosity_choices_are_the_counted_levels():
    (action,) = _option_actions(lambda a: isinstance(a, argparse._CountAction))
    inp = _inputs()[action.dest]
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
    codes = {e["code"] for e in _descriptor()["error-codes"]}
    exit_codes = {v for k, v in vars(inputs).items() if k.startswith("EX_")}
    assert codes == exit_codes
    assert all(e["description"].strip() for e in _descriptor()["error-codes"])


# --- bosh ---------------------------------------------------------------------------------------


def test_bosh_validate_bids_accepts_the_descriptor():
    done = _bosh("validate", "--bids", str(DESCRIPTOR))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BIDS validation OK" in done.stdout + done.stderr


def _bad_type(desc: dict) -> str:
    desc["inputs"][-1]["type"] = "Integer"
    return "is not valid under any of the given schemas"


def _second_output(desc: dict) -> str:
    extra = {**desc["output-files"][0], "id": "report", "path-template": "[OUTPUT_DIR]/x.html"}
    desc["output-files"].append(extra)
    return "0 or multiple outputs defined"  # a BIDS-app rule: proves --bids is checked


def _renamed_key(desc: dict) -> str:
    desc["command-line"] = desc["command-line"].replace("[ANALYSIS_LEVEL]", "[LEVEL]")
    return '"[ANALYSIS_LEVEL]" not in command-line'


@pytest.mark.parametrize("breakage", [_bad_type, _second_output, _renamed_key])
def test_bosh_validate_refuses_a_broken_copy(tmp_path, breakage):
    desc = copy.deepcopy(_descriptor())
    message = breakage(desc)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(desc))
    done = _bosh("validate", "--bids", str(path))
    assert done.returncode != 0
    assert message in done.stdout + done.stderr


FULL_PARTICIPANT = {
    "bids_dir": "/data/bids",
    "output_dir_name": "out dir",  # a space: bosh must quote it
    "analysis_level": "participant",
    "participant_label": ["01", "sub-02"],
    "session_label": ["1"],
    "bids_filter_file": "/data/filter.json",
    "skip_bids_validation": True,
    "work_dir": "/scratch/work",
    "nprocs": 3,
    "omp_nthreads": 2,
    "mem_gb": 7.5,
    "use_plugin": "/data/plugin.yml",
    "device": "cpu",
    "stop_on_first_crash": True,
    "notrack": True,
    "model": "/models/m.safetensors",
    "methods": ["epsilon", "gradient"],
    "target_class": "HC",
    "atlas": ["AAL", "HarvardOxford"],
    "template": "MNI152NLin2009cAsym",
    "registration": "syn",
    "native_space": True,
    "verbosity": "-vv",
}
GROUP = {
    "bids_dir": "/data/bids",
    "output_dir_name": "/data/derivatives",
    "analysis_level": "group",
    "label_column": "dx",
    "ad_labels": ["AD", "MCI-AD"],
    "hc_labels": ["CN"],
    "no_merge_hemispheres": True,
    "confidence": 0.75,
    "verbosity": "-v",
}


def _expected_args(invocation: dict) -> dict:
    """What the parser must make of ``invocation``: its defaults, then the given values."""
    expected = vars(build_parser().parse_args(["b", "o", "participant"]))
    for action in _actions():
        for i in _input_ids(action):
            if i not in invocation:
                continue
            value = invocation[i]
            if i in OUTPUT_DIR_IDS or action.type is Path:
                value = Path(value)
            elif isinstance(action, argparse.BooleanOptionalAction):
                value = i == action.dest
            elif action.dest == "verbosity":
                value = VERBOSITY_CHOICES.index(value) + 1
            expected[action.dest] = value
    return expected


def _round_trip(invocation: dict, tmp_path: Path) -> None:
    command = _simulate(invocation, tmp_path)
    out = invocation.get("output_dir_name") or invocation["participant_level_analysis_dir"]
    args = vars(build_parser().parse_args(_app_argv(command, out)))
    assert args == _expected_args(invocation)


@pytest.mark.parametrize("invocation", [FULL_PARTICIPANT, GROUP], ids=["participant", "group"])
def test_simulated_command_parses_back_to_the_invocation(tmp_path, invocation):
    _round_trip(invocation, tmp_path)


def test_bosh_drops_an_output_folder_given_only_as_the_file_input(tmp_path):
    """bosh 0.5.33 removes a value-key shared by two inputs when the first one has no value.

    The README and the descriptor therefore say to give ``output_dir_name`` at both levels.
    When this test fails, bosh is fixed: update ``participant_level_analysis_dir``'s
    description and the README, and make this a round trip like the test above.
    """
    invocation = dict(GROUP)
    folder = invocation.pop("output_dir_name")
    invocation["participant_level_analysis_dir"] = folder
    command = _simulate(invocation, tmp_path)
    assert folder not in command.partition("; ")[2], command
    assert "bids_lrp /data/bids group" in command, command


# --- a real participant-level run through bosh --------------------------------------------------


def _launch_invocation(root: Path, bids: Path, model: Path) -> dict:
    """One participant, the boehle2019 method only, no native space: a short real run."""
    return {
        "bids_dir": str(bids),
        "output_dir_name": str(root / "out"),
        "analysis_level": "participant",
        "participant_label": ["001"],
        "skip_bids_validation": True,  # the e2e tests validate; this one checks bosh's wiring
        "work_dir": str(root / "work"),
        "nprocs": 2,
        "omp_nthreads": 1,
        "model": str(model),
        "methods": ["boehle2019"],
        "no_native_space": True,
    }


def test_simulate_builds_the_expected_command(tmp_path):
    invocation = _launch_invocation(tmp_path, tmp_path / "bids", tmp_path / "tiny.safetensors")
    assert _simulate(invocation, tmp_path) == (
        f"mkdir -p {tmp_path}/out; bids_lrp {tmp_path}/bids {tmp_path}/out participant "
        f"--participant-label 001 --skip-bids-validation --work-dir {tmp_path}/work "
        f"--nprocs 2 --omp-nthreads 1 --device auto --model {tmp_path}/tiny.safetensors "
        "--methods boehle2019 --target-class AD --atlas Neuromorphometrics "
        "--template MNI152NLin2009cAsym --no-native-space --ad-labels AD --hc-labels HC CN "
        "--confidence 0.9"
    )


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """``bosh exec launch --no-container`` on one simulated participant: (root, inv., run)."""
    root = tmp_path_factory.mktemp("bosh")
    bids = make_dataset(root / "bids", n_subjects=1, seed=5)
    model = make_model(root / "tiny.safetensors")
    invocation = _launch_invocation(root, bids, model)
    (root / "invocation.json").write_text(json.dumps(invocation, indent=2))
    env = app_env()
    env["PATH"] = f"{BOSH.parent}{os.pathsep}{env.get('PATH', '')}"
    done = _bosh(
        "exec",
        "launch",
        "--no-container",
        "--skip-data-collection",
        str(DESCRIPTOR),
        str(root / "invocation.json"),
        cwd=root,
        env=env,
    )
    return root, invocation, done


@pytest.mark.slow
def test_launch_runs_the_participant_level(launched):
    root, _, done = launched
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    # bosh's own check of the declared output (the folder), reported as found
    found = report.split("Output files", 1)[1].split("Missing files", 1)
    assert f"{root}/out (output_dir, Required)" in found[0], report
    assert not found[1].strip(), report
    anat = root / "out" / "sub-001" / "anat"
    prefix = "sub-001_space-MNI152NLin2009cAsym"
    for name in (
        f"{prefix}_desc-LRPb0_relevance.nii.gz",
        f"{prefix}_atlas-Neuromorphometrics_desc-LRPb0_relevance.tsv",
        "sub-001_desc-tinytest_predictions.tsv",
    ):
        assert (anat / name).is_file(), name
    assert (root / "out" / "sub-001.html").is_file()
    description = json.loads((root / "out" / "dataset_description.json").read_text())
    assert description["GeneratedBy"][0]["Version"] == __version__
    assert not list(anat.glob("*_space-T1w_*"))  # no_native_space reached the app


@pytest.mark.slow
def test_declared_outputs_match_the_run(launched):
    root, _, done = launched
    assert done.returncode == 0
    declared = _descriptor()["custom"]["bids_lrp:outputs"]
    assert {d["analysis-level"] for d in declared} == {"participant", "group"}
    for item in declared:
        pattern = item["path-template"].replace("[OUTPUT_DIR]", str(root / "out"))
        matches = glob.glob(pattern, recursive=True)
        if item["analysis-level"] == "group" or item["id"] == "relevance_native":
            assert item["optional"] and not matches, item["id"]  # not made by this run
        else:
            assert not item["optional"] and matches, item["id"]
