"""The Boutiques descriptor and the ``bosh`` tool, for the container tests."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from bids_lrp.cli.parser import build_parser

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


def descriptor() -> dict:
    return json.loads(DESCRIPTOR.read_text(encoding="utf-8"))


def descriptor_inputs() -> dict[str, dict]:
    return {inp["id"]: inp for inp in descriptor()["inputs"]}


def parser_actions() -> list[argparse.Action]:
    return [a for a in build_parser()._actions if a.dest not in NOT_INPUTS]


def input_ids(action: argparse.Action) -> list[str]:
    """The descriptor inputs that stand for one parser option."""
    if action.dest == "output_dir":
        return OUTPUT_DIR_IDS
    if isinstance(action, argparse.BooleanOptionalAction):
        return [action.dest, f"no_{action.dest}"]
    return [action.dest]


def option_actions(kind) -> list[argparse.Action]:
    return [a for a in parser_actions() if a.option_strings and kind(a)]


def is_plain(action: argparse.Action) -> bool:
    return not isinstance(action, argparse.BooleanOptionalAction | argparse._CountAction)


def bosh(*args: str, cwd: Path | None = None, env=None) -> subprocess.CompletedProcess:
    env = dict(os.environ if env is None else env, NO_COLOR="1")
    return subprocess.run(
        [str(BOSH), *args], capture_output=True, text=True, cwd=cwd, env=env, check=False
    )


def bosh_simulate(invocation: dict, tmp_path: Path) -> str:
    """The command line ``bosh exec simulate`` builds for ``invocation``."""
    path = tmp_path / "simulate.json"
    path.write_text(json.dumps(invocation))
    done = bosh("exec", "simulate", "-i", str(path), str(DESCRIPTOR))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines[-2] == "Generated Command:", done.stdout
    return lines[-1]


def app_argv(command: str, output_dir: str) -> list[str]:
    """The ``bids_lrp`` arguments of a generated ``mkdir -p OUT; bids_lrp ...`` command line."""
    mkdir, _, app = command.partition("; ")
    assert shlex.split(mkdir) == ["mkdir", "-p", output_dir]
    argv = shlex.split(app)
    assert argv[0] == "bids_lrp"
    return argv[1:]
