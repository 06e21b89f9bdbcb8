"""Fetch the TemplateFlow files bids_lrp uses into a folder laid out as a TemplateFlow home.

Runs once, while the container image is built (the only step that uses the network)::

    TEMPLATEFLOW_HOME=/tmp/templateflow-cache python prefetch_templates.py --out /opt/templateflow

``templateflow.api.get`` downloads into ``TEMPLATEFLOW_HOME``, whose skeleton also holds empty
placeholders for every file of every template; only the files fetched here (and each template's
``template_description.json``, for its license and references) are copied to ``--out``, which
becomes the image's read-only ``TEMPLATEFLOW_HOME``. ``bids_lrp.templates`` reads exactly these
names and never downloads.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

#: (template, TemplateFlow query) for every file the app reads; see bids_lrp.templates.
QUERIES: tuple[tuple[str, dict], ...] = (
    ("MNI152NLin2009cAsym", {"resolution": 1, "suffix": "T1w", "desc": None}),
    ("MNI152NLin2009cAsym", {"resolution": 1, "suffix": "mask", "desc": "brain"}),
)

logger = logging.getLogger("prefetch_templates")


def fetch(template: str, query: dict) -> Path:
    """Download one file with TemplateFlow; fail unless the query names exactly one real file."""
    from templateflow import api

    found = api.get(template, **query)
    paths = found if isinstance(found, list) else [found]
    if len(paths) != 1:
        raise RuntimeError(f"TemplateFlow query {template} {query} matched {len(paths)} files")
    path = Path(paths[0])
    if not path.is_file() or path.stat().st_size == 0:
        raise RuntimeError(f"TemplateFlow did not download {path}")
    return path


def copy_into(path: Path, out: Path) -> Path:
    """Copy ``tpl-X/<file>`` (and its template_description.json) to ``out/tpl-X/``."""
    folder = out / path.parent.name
    folder.mkdir(parents=True, exist_ok=True)
    description = path.parent / "template_description.json"
    if description.is_file() and description.stat().st_size > 0:
        shutil.copyfile(description, folder / description.name)
    return Path(shutil.copyfile(path, folder / path.name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="TemplateFlow home to fill")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        for template, query in QUERIES:
            copied = copy_into(fetch(template, query), args.out)
            logger.info("%s (%d bytes)", copied, copied.stat().st_size)
    except (RuntimeError, OSError) as err:
        logger.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
