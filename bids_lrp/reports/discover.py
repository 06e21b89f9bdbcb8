"""Read the sidecars of a participant's derivatives and find the group level's files,
tolerating what is missing.

Reports are built from the output files alone (they can be regenerated from a finished or a
copied output folder); nothing here needs the model, the workflow or the work directory.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from bids_lrp.names import parse_name

__all__ = [
    "bids_root",
    "group_files",
    "read_json",
    "read_sidecar",
    "resolve_source",
]

LOGGER = logging.getLogger("bids_lrp")


def sidecar_path(path: Path) -> Path:
    """The JSON sidecar of a data file (``x.nii.gz`` -> ``x.json``)."""
    return path.with_name(path.name.split(".", 1)[0] + ".json")


def read_sidecar(path: Path | None) -> dict[str, Any]:
    """The JSON sidecar of ``path`` as a dict; ``{}`` if there is none or it is not valid JSON."""
    if path is None:
        return {}
    side = sidecar_path(path)
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        LOGGER.warning("report: cannot read %s (%s)", side, err)
        return {}
    return data if isinstance(data, dict) else {}


def _source_roots(output_dir: Path, bids_dir: Path | None) -> list[Path]:
    roots = [Path(bids_dir)] if bids_dir else []
    try:
        description = json.loads((output_dir / "dataset_description.json").read_text())
    except (OSError, ValueError):
        return roots
    for source in description.get("SourceDatasets") or []:
        url = source.get("URL", "") if isinstance(source, dict) else ""
        parsed = urlparse(url)
        if parsed.scheme == "file" and parsed.path:
            roots.append(Path(unquote(parsed.path)))
    return roots


def bids_root(output_dir: Path, bids_dir: Path | None) -> Path | None:
    """``bids_dir``, or else the first local ``SourceDatasets`` folder that exists."""
    return next(
        (root for root in _source_roots(Path(output_dir), bids_dir) if root.is_dir()), None
    )


def resolve_source(source: str, output_dir: Path, bids_dir: Path | None) -> Path | None:
    """Find the raw file named by a ``Sources`` entry (``bids:raw:sub-01/anat/...``).

    Looked up under ``bids_dir`` first, then under the local (``file://``) ``SourceDatasets`` of
    the derivatives' ``dataset_description.json``. ``None`` when it is not found.
    """
    relative = re.sub(r"^bids:[^:]*:", "", source)
    for root in _source_roots(Path(output_dir), bids_dir):
        candidate = root / relative
        if candidate.is_file():
            return candidate
    return None


_BY_ATLAS_METHOD = ("areasums", "groupstats", "fingerprints", "topareas", "overlap")


def group_files(
    group: Path, paths: Iterable[Path] | None = None
) -> dict[str, dict[tuple[str, ...], Path]]:
    """The group level's files by kind: those in ``group``, or only ``paths`` when given.

    ``areasums``, ``groupstats``, ``fingerprints``, ``topareas`` and ``overlap`` are keyed by
    (atlas, method or desc), ``volumecorrelation``, ``volumes`` and ``faithfulness`` by
    (atlas,), ``randomization`` by (space,), ``mean`` maps
    by (method, cohort, space) and ``metrics`` by (model,).
    """
    found: dict[str, dict[tuple[str, ...], Path]] = {}
    for path in sorted(group.iterdir() if paths is None else map(Path, paths)):
        parsed = parse_name(path.name)
        if parsed is None or not path.is_file():
            continue
        entities, suffix, ext = parsed
        desc = entities.get("desc", "")
        if suffix in _BY_ATLAS_METHOD and ext == ".tsv":
            found.setdefault(suffix, {})[(entities.get("atlas", ""), desc)] = path
        elif suffix in ("volumecorrelation", "volumes", "faithfulness") and ext == ".tsv":
            found.setdefault(suffix, {})[(entities.get("atlas", ""),)] = path
        elif suffix == "mean" and ext == ".nii.gz" and "cohort" in entities:
            key = (desc, entities["cohort"], entities.get("space", ""))
            found.setdefault("mean", {})[key] = path
        elif suffix == "randomization" and ext == ".tsv":
            found.setdefault(suffix, {})[(entities.get("space", ""),)] = path
        elif suffix == "metrics" and ext == ".tsv":
            found.setdefault("metrics", {})[(desc,)] = path
    return found


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; ``{}`` when missing, invalid or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
