"""Print the project's runtime dependencies from pyproject.toml, one per line.

The image installs these before the project's own code is copied in, so that a change to the
code does not reinstall every dependency (Docker layer caching).
"""

from __future__ import annotations

import sys
from pathlib import Path

import tomllib


def requirements(pyproject: Path) -> list[str]:
    """The ``[project] dependencies`` of a pyproject.toml."""
    with pyproject.open("rb") as handle:
        return list(tomllib.load(handle)["project"]["dependencies"])


if __name__ == "__main__":
    sys.stdout.write("".join(f"{line}\n" for line in requirements(Path(sys.argv[1]))))
