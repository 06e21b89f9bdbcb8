"""BIDS file names: the entity order, one builder and one parser.

Every output name bids_lrp writes is built by `derivative_name` / `derivative_path`, and every
name it reads back (the group level, the reports) is split by `parse_name`; `image_prefix`
gives an image's source entities (``sub-01_ses-1_run-2``), the key under which its outputs go
together. Pure string work: no file is touched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "ENTITY_ORDER",
    "SOURCE_ENTITIES",
    "derivative_name",
    "derivative_path",
    "image_prefix",
    "model_desc",
    "parse_name",
]

#: Entities in the order BIDS prints them (derivative entities after the raw ones).
ENTITY_ORDER = (
    "sub",
    "ses",
    "acq",
    "ce",
    "rec",
    "run",
    "from",
    "to",
    "mode",
    "space",
    "res",
    "atlas",
    "desc",
)
#: The entities of a raw T1w that name an image (and every derivative made from it).
SOURCE_ENTITIES = ENTITY_ORDER[:6]
_LABEL = re.compile(r"^[A-Za-z0-9]+$")
_NAME = re.compile(
    r"^(?P<entities>(?:[a-z]+-[A-Za-z0-9]+_)+)(?P<suffix>[A-Za-z0-9]+)(?P<ext>\.[A-Za-z0-9.]+)$"
)


def image_prefix(entities: Mapping[str, Any]) -> str:
    """``sub-<l>[_ses-<s>][_acq-<a>][_ce-..][_rec-..][_run-<r>]`` of an image's entities."""
    return "_".join(f"{k}-{entities[k]}" for k in SOURCE_ENTITIES if entities.get(k))


def parse_name(name: str) -> tuple[dict[str, str], str, str] | None:
    """Split a BIDS file name into (entities in order, suffix, extension); None if it is not one.

    Examples
    --------
    >>> parse_name("sub-01_ses-1_desc-x_predictions.tsv")
    ({'sub': '01', 'ses': '1', 'desc': 'x'}, 'predictions', '.tsv')
    """
    match = _NAME.match(name)
    if match is None:
        return None
    pairs = match["entities"].rstrip("_").split("_")
    entities = dict(pair.split("-", 1) for pair in pairs)
    if len(entities) != len(pairs):  # an entity given twice
        return None
    return entities, match["suffix"], match["ext"]


def derivative_name(entities: Mapping[str, Any], suffix: str, extension: str) -> str:
    """Build a file name from entities in BIDS order, e.g. ``sub-01_space-X_desc-Y_T1w.nii.gz``."""
    unknown = sorted(set(entities) - set(ENTITY_ORDER))
    if unknown:
        raise ValueError(f"unknown entities {unknown}; known: {', '.join(ENTITY_ORDER)}")
    parts = []
    for key in ENTITY_ORDER:
        value = entities.get(key)
        if value in (None, ""):
            continue
        value = str(value)
        if not _LABEL.match(value):
            raise ValueError(f"entity {key}-{value!r} is not an alphanumeric BIDS label")
        parts.append(f"{key}-{value}")
    if not extension.startswith("."):
        extension = "." + extension
    return "_".join([*parts, suffix]) + extension


def derivative_path(
    output_dir: str | Path, entities: Mapping[str, Any], suffix: str, extension: str
) -> Path:
    """Return ``<out>/sub-<l>/[ses-<s>/]anat/<name>`` for the given entities."""
    folder = Path(output_dir) / f"sub-{entities['sub']}"
    if entities.get("ses"):
        folder = folder / f"ses-{entities['ses']}"
    return folder / "anat" / derivative_name(entities, suffix, extension)


def model_desc(name: str) -> str:
    """Turn a model name into an alphanumeric ``desc`` label (``boehle2019-adni`` -> ...)."""
    label = re.sub(r"[^A-Za-z0-9]", "", name)
    if not label:
        raise ValueError(f"model name {name!r} has no alphanumeric characters")
    return label
