"""The Boutiques descriptor through ``bosh``: validation, generated command lines, a real run.

``bosh validate --bids`` accepts the descriptor (and refuses broken copies), the command lines
``bosh exec simulate`` builds parse back into the intended settings, and ``bosh exec launch
--no-container`` runs the participant level on a simulated participant and finds the declared
outputs.
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
from pathlib import Path

import pytest

from bids_lrp import __version__
from bids_lrp.cli.parser import build_parser
from tests.containers.descriptor import (
    BOSH,
    DESCRIPTOR,
    OUTPUT_DIR_IDS,
    VERBOSITY_CHOICES,
    app_argv,
    bosh,
    bosh_simulate,
    descriptor,
    input_ids,
    parser_actions,
)
from tests.e2e.helpers import app_env, make_dataset, make_model


def test_bosh_validate_bids_accepts_the_descriptor():
    done = bosh("validate", "--bids", str(DESCRIPTOR))
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
    desc = copy.deepcopy(descriptor())
    message = breakage(desc)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(desc))
    done = bosh("validate", "--bids", str(path))
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
    for action in parser_actions():
        for i in input_ids(action):
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
    command = bosh_simulate(invocation, tmp_path)
    out = invocation.get("output_dir_name") or invocation["participant_level_analysis_dir"]
    args = vars(build_parser().parse_args(app_argv(command, out)))
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
    command = bosh_simulate(invocation, tmp_path)
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
    assert bosh_simulate(invocation, tmp_path) == (
        f"mkdir -p {tmp_path}/out; bids_lrp {tmp_path}/bids {tmp_path}/out participant "
        f"--participant-label 001 --skip-bids-validation --work-dir {tmp_path}/work "
        f"--nprocs 2 --omp-nthreads 1 --device auto --model {tmp_path}/tiny.safetensors "
        "--methods boehle2019 --target-class AD --guided-backprop-target predicted "
        "--atlas Neuromorphometrics "
        "--template MNI152NLin2009cAsym --no-native-space --faithfulness-steps 20 "
        "--randomization-layers dense "
        "--ad-labels AD --hc-labels HC CN "
        "--fingerprint-areas top25 --permutations 1000 --confidence 0.9"
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
    done = bosh(
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
    declared = descriptor()["custom"]["bids_lrp:outputs"]
    assert {d["analysis-level"] for d in declared} == {"participant", "group"}
    for item in declared:
        pattern = item["path-template"].replace("[OUTPUT_DIR]", str(root / "out"))
        matches = glob.glob(pattern, recursive=True)
        if item["analysis-level"] == "group" or item["id"] == "relevance_native":
            assert item["optional"] and not matches, item["id"]  # not made by this run
        elif item["id"] == "faithfulness":  # optional (--faithfulness-steps 0), on by default
            assert item["optional"] and matches, item["id"]
        else:
            assert not item["optional"] and matches, item["id"]
