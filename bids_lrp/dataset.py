"""The derivatives dataset's own files: ``dataset_description.json``, ``.bidsignore``, the
methods text ``logs/CITATION.md``.

``dataset_description.json`` and ``.bidsignore`` are written by every job with the same content
(atomically, `bids_lrp.safewrite`), so jobs that start at once into one output folder agree on
them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from bids_lrp import __version__
from bids_lrp.methods import PREDICTED, method_label
from bids_lrp.safewrite import atomic_write_text

__all__ = [
    "BIDSIGNORE",
    "dataset_description",
    "write_citation",
    "write_dataset_description",
    "write_dataset_files",
]


# Not (yet) in the BIDS-Derivatives schema: relevance maps and tables, predictions, faithfulness
# curves, ANTs .mat.
BIDSIGNORE = "\n".join(
    [
        "*.html",
        "logs/",
        "figures",
        "group/",
        "*_relevance.*",
        "*_predictions.*",
        "*_faithfulness.*",
        "*_xfm.*",
    ]
)

CITATION = """\
Results included in this manuscript come from `bids_lrp` {version}, a BIDS App that explains
deep-learning Alzheimer's disease classification of T1w MRI with layer-wise relevance
propagation, reproducing Böhle, Eitel, Weygandt and Ritter (2019), *Layer-wise relevance
propagation for explaining deep neural network decisions in MRI-based Alzheimer's disease
classification*, Frontiers in Aging Neuroscience 11:194, doi:10.3389/fnagi.2019.00194.

Each T1w image was corrected for intensity non-uniformity (N4, Tustison et al. 2010) and registered
to the {template} template ({registration} registration, ANTsPy; Avants et al. 2008); the template
brain mask was applied and intensities were min-max scaled within the mask. A 3D convolutional
network classified each image and its score for a class was explained with: {methods}.
Relevance was summarized per region of the {atlases} atlas(es).
"""


def dataset_description(bids_dir: str | Path, container: Mapping[str, str] | None = None) -> dict:
    """Return the derivative ``dataset_description.json`` content (deterministic)."""
    generated = {
        "Name": "bids_lrp",
        "Version": __version__,
        "CodeURL": "https://github.com/bids-lrp/bids_lrp",
        "Description": "Layer-wise relevance propagation of AD classification (Böhle 2019)",
    }
    if container:
        generated["Container"] = dict(container)
    source = {"URL": Path(bids_dir).resolve().as_uri()}
    raw = Path(bids_dir) / "dataset_description.json"
    try:
        raw_desc = json.loads(raw.read_text())
    except (OSError, ValueError):
        raw_desc = {}
    if isinstance(raw_desc, dict) and raw_desc.get("DatasetDOI"):
        source["DOI"] = str(raw_desc["DatasetDOI"])
    return {
        "Name": "bids_lrp derivatives",
        "BIDSVersion": "1.10.0",
        "DatasetType": "derivative",
        "GeneratedBy": [generated],
        "SourceDatasets": [source],
        "License": raw_desc.get("License", "n/a") if isinstance(raw_desc, dict) else "n/a",
    }


#: Set by the bids_lrp image (Dockerfile) to its tag: the only sign that this is our container.
IMAGE_VARIABLE = "BIDS_LRP_IMAGE"


def _container() -> dict[str, str] | None:
    """The container this run is in, as far as it can be known; None for a native install.

    Singularity and Apptainer name the image they run; Docker names nothing, so only the image
    our Dockerfile builds (which sets `IMAGE_VARIABLE`) is recorded. ``/.dockerenv`` is not a
    sign: it exists in any Docker container (a CI runner, a development container), whatever
    was installed in it.
    """
    for variable, kind in (("SINGULARITY_NAME", "singularity"), ("APPTAINER_NAME", "apptainer")):
        if os.environ.get(variable):
            return {"Type": kind, "Tag": os.environ[variable]}
    if os.environ.get(IMAGE_VARIABLE):
        return {"Type": "docker", "Tag": os.environ[IMAGE_VARIABLE]}
    return None


def write_dataset_description(output_dir: str | Path, bids_dir: str | Path) -> Path:
    """Write ``dataset_description.json`` at the derivatives root, safe under concurrency.

    Every job computes the same content and replaces the file atomically, so whichever job
    finishes last, the file is complete and valid. A file written by another version of the
    app is replaced too (its ``GeneratedBy`` would otherwise be wrong).
    """
    path = Path(output_dir) / "dataset_description.json"
    content = json.dumps(dataset_description(bids_dir, _container()), indent=2, sort_keys=True)
    content += "\n"
    try:
        if path.read_text(encoding="utf-8") == content:
            return path
    except OSError:
        pass
    return atomic_write_text(path, content)


def write_dataset_files(output_dir: str | Path, bids_dir: str | Path) -> None:
    """Write ``dataset_description.json`` and ``.bidsignore`` (idempotent, concurrency-safe)."""
    write_dataset_description(output_dir, bids_dir)
    path = Path(output_dir) / ".bidsignore"
    lines = set(BIDSIGNORE.splitlines())
    try:
        existing = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        existing = []
    if not lines - set(existing):
        return
    # Keep lines a user added; the union is the same whichever job writes it.
    merged = sorted(set(existing) | lines)
    atomic_write_text(path, "\n".join(line for line in merged if line) + "\n")


def write_citation(
    output_dir: str | Path,
    *,
    template: str,
    registration: str,
    targets: Mapping[str, str],
    atlases: list[str],
) -> Path:
    """Write ``logs/CITATION.md`` describing what was done, for a methods section.

    ``targets``: each method (in order) -> the class it explained, or `PREDICTED`.
    """
    text = CITATION.format(
        version=__version__,
        template=template,
        registration="SyN" if registration == "syn" else "affine",
        methods=", ".join(
            f"{m} ({method_label(m)}; "
            + ("each image's predicted class" if t == PREDICTED else f'class "{t}"')
            + ")"
            for m, t in targets.items()
        ),
        atlases=", ".join(atlases),
    )
    return atomic_write_text(Path(output_dir) / "logs" / "CITATION.md", text)
