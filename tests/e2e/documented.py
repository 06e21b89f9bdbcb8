"""Is every output file and column of a real run described in docs/outputs.md?

File names are reduced to the documentation's patterns (``<prefix>``, ``<tpl>``, ``<M>``, ...)
and table columns to their names or patterns (``mean_<g>``, ``probability_<class>``); each must
appear in the page as inline code.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pandas as pd

DOCS = Path(__file__).resolve().parents[2] / "docs" / "outputs.md"
_GROUPS = "all|AD|HC|TP|TN|FP|FN"


def documented_terms() -> set[str]:
    """Every inline-code term of the outputs page (and each part of a ``a, b`` term)."""
    text = DOCS.read_text(encoding="utf-8")
    inline = re.sub(r"```.*?```", "", text, flags=re.S)  # fenced blocks hold no inline code
    terms = set(re.findall(r"`([^`]+)`", inline))
    # a ``columns`` directive draws its table from the code: the names it shows
    for target, block in re.findall(r"```\{columns\} ([^\n]*)\n(.*?)```", text, flags=re.S):
        module, _, name = target.strip().partition(":")
        source = getattr(importlib.import_module(module), name)
        names = [line.strip() for line in block.splitlines() if line.strip()]
        terms |= set(names or (source([]) if callable(source) else source))
    return terms


def file_pattern(relative: str, methods: set[str], template: str, model: str) -> str:
    """``sub-001/anat/sub-001_space-X_desc-LRPb0_relevance.nii.gz`` -> its documented pattern."""
    name = relative.rsplit("/", 1)[-1]
    name = re.sub(r"^sub-[^_]+(_ses-[^_]+)?(_acq-[^_]+)?(_run-[^_]+)?", "<prefix>", name)
    name = name.replace(template, "<tpl>")
    name = re.sub(r"atlas-[A-Za-z0-9]+", "atlas-<A>", name)
    name = re.sub(r"cohort-[A-Za-z0-9]+", "cohort-<g>", name)
    for method in sorted(methods, key=len, reverse=True):
        name = name.replace(f"desc-{method}_", "desc-<M>_")
    return name.replace(f"desc-{model}_", "desc-<model>_")


def column_pattern(column: str) -> str:
    """A column name -> the documentation's name for it."""
    column = re.sub(rf"^(unstable_gain|rank_gain|gain)_({_GROUPS})_HC$", r"\1_<g>_HC", column)
    column = re.sub(rf"^(mean|density|rank_density)_({_GROUPS})$", r"\1_<g>", column)
    return re.sub(r"^(probability|logit)_[A-Za-z0-9]+$", r"\1_<class>", column)


def undocumented(out: Path, methods: set[str], template: str, model: str) -> list[str]:
    """Files (as patterns) and table columns of ``out`` that docs/outputs.md does not name."""
    terms = documented_terms()
    text = DOCS.read_text(encoding="utf-8")
    missing = []
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out).as_posix()
        if not path.is_file() or "/figures/" in f"/{relative}" or relative.startswith("logs/"):
            continue
        if path.suffix in (".json", ".html") or path.name == ".bidsignore":
            continue  # sidecars go with their data file; reports and the ignore file by name
        pattern = file_pattern(relative, methods, template, model)
        if pattern not in text:
            missing.append(f"file {relative} ({pattern})")
        if path.suffix != ".tsv":
            continue
        columns = list(pd.read_csv(path, sep="\t", nrows=0).columns)
        if pattern.endswith("_areasums.tsv"):
            columns = columns[:7]  # then one column per area
        elif pattern.endswith("_fingerprints.tsv"):
            columns = columns[:1]  # then one column per image
        for column in columns:
            if column not in terms and column_pattern(column) not in terms:
                missing.append(f"column {column} of {pattern}")
    return sorted(set(missing))
