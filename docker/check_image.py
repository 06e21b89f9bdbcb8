"""Check a built bids_lrp environment before it is shipped (the image's last build step).

Fails (exit 1, one line per problem) unless: the installed version is the image's version; the
torch build matches the wheel index it came from (a CUDA index must give a CUDA build); ANTsPy
and nipype import; the shipped model loads; the TemplateFlow files in ``TEMPLATEFLOW_HOME`` are
the ones the app uses; every bundled atlas resolves; the command and the BIDS validator run.
Needs no GPU and no network.
"""

from __future__ import annotations

import argparse
import logging
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger("check_image")


def expected_cuda(torch_index: str) -> str | None:
    """``.../whl/cu128`` -> ``"12.8"``; ``None`` for any index that is not a CUDA one."""
    match = re.fullmatch(r"cu(\d+)(\d)", torch_index.rstrip("/").rsplit("/", 1)[-1])
    return f"{match[1]}.{match[2]}" if match else None


def check_version(version: str) -> str:
    import bids_lrp

    if bids_lrp.__version__ != version:
        raise RuntimeError(f"bids_lrp {bids_lrp.__version__} installed, image says {version}")
    return bids_lrp.__version__


def check_torch(torch_index: str) -> str:
    import torch

    want = expected_cuda(torch_index)
    if want is not None and torch.version.cuda != want:
        raise RuntimeError(f"torch {torch.__version__} has CUDA {torch.version.cuda}, not {want}")
    return f"torch {torch.__version__} (CUDA {torch.version.cuda})"


def check_imports() -> str:
    import ants
    import nipype

    return f"antspyx {ants.__version__}, nipype {nipype.__version__}"


def check_model() -> str:
    from bids_lrp.cli.parser import default_model
    from bids_lrp.model import load_checkpoint

    _, card = load_checkpoint(default_model())
    return f"shipped model {card.name}"


def check_templates() -> str:
    from bids_lrp.templates import ATLASES, get_atlas, get_template

    template = get_template("MNI152NLin2009cAsym", 1)
    if template.source != "templateflow":
        raise RuntimeError(f"template from {template.source}, not from TEMPLATEFLOW_HOME")
    for name in ATLASES:
        get_atlas(name, template.name, template.resolution)
    return f"{template.t1w.parent}, atlases {', '.join(ATLASES)}"


def check_commands() -> str:
    bindir = Path(sys.executable).parent
    for command in (["bids_lrp", "--version"], ["bids-validator-deno", "--version"]):
        run = subprocess.run(
            [str(bindir / command[0]), *command[1:]], capture_output=True, text=True, timeout=120
        )
        if run.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {run.stderr.strip()[-500:]}")
    return "bids_lrp and bids-validator-deno run"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", required=True, help="the image's bids_lrp version")
    parser.add_argument("--torch-index", required=True, help="wheel index torch came from")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    checks: list[Callable[[], str]] = [
        lambda: check_version(args.version),
        lambda: check_torch(args.torch_index),
        check_imports,
        check_model,
        check_templates,
        check_commands,
    ]
    failed = 0
    for check in checks:
        try:
            logger.info("ok: %s", check())
        except Exception as err:  # report every problem, not only the first
            logger.error("FAILED: %s", err)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
