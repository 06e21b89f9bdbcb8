"""BIDS-Derivatives naming and safe writing of the participant-level outputs.

Every file is written atomically: a temporary file in the destination folder, flushed and
fsync-ed, then ``os.replace``-d onto its name, so a reader (or a rerun after a crash) never sees
a half-written file. ``dataset_description.json`` and ``.bidsignore`` are written by every job
with the same content, so jobs that start at once into one output folder agree on them.
`StagedOutputs` makes a set of files appear together or not at all (a checkpoint and its card,
everything one ``bids_lrp-train`` run writes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from bids_lrp import __version__
from bids_lrp.methods import CATALOG, PREDICTED, method_label

__all__ = [
    "BIDSIGNORE",
    "StagedOutputs",
    "atomic_copy",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_writable",
    "make_folders",
    "method_desc",
    "method_names",
    "model_desc",
    "remove_if_empty",
    "remove_stale_temporaries",
    "write_citation",
    "write_dataset_description",
    "write_dataset_files",
]


# Not (yet) in the BIDS-Derivatives schema: relevance maps and tables, predictions, ANTs .mat.
BIDSIGNORE = "\n".join(
    ["*.html", "logs/", "figures", "group/", "*_relevance.*", "*_predictions.*", "*_xfm.*"]
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


def method_desc(method: str) -> str:
    """Return the ``desc`` label of a method spec's outputs (``boehle2019`` -> ``LRPb0``).

    The labels come from the method catalog (`bids_lrp.methods`); a spec with parameters has
    its own label (``boehle2019:beta=0.5`` -> ``LRPb0p5``).
    """
    return method_label(method)


def method_names() -> dict[str, str]:
    """Output label of each registered method with its defaults -> the method's name."""
    return {method_label(name): name for name in CATALOG}


def model_desc(name: str) -> str:
    """Turn a model name into an alphanumeric ``desc`` label (``boehle2019-adni`` -> ...)."""
    label = re.sub(r"[^A-Za-z0-9]", "", name)
    if not label:
        raise ValueError(f"model name {name!r} has no alphanumeric characters")
    return label


#: Suffix of the temporary file an atomic write renames into place (``.<name>.<random>.tmp``).
_TEMPORARY_SUFFIX = ".tmp"


def _atomic(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMPORARY_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files of atomic writes that a killed run left under ``folder``.

    Only for folders no other job writes into at the same time (one participant's outputs).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.rglob(f".*{_TEMPORARY_SUFFIX}") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    return _atomic(Path(path), lambda handle: handle.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as sorted, indented JSON atomically (same data -> same bytes)."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def atomic_copy(src: str | Path, dst: str | Path) -> Path:
    """Copy ``src`` onto ``dst`` atomically."""
    with open(src, "rb") as source:
        return _atomic(Path(dst), lambda handle: shutil.copyfileobj(source, handle))


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
            f"{m} ({method_desc(m)}; "
            + ("each image's predicted class" if t == PREDICTED else f'class "{t}"')
            + ")"
            for m, t in targets.items()
        ),
        atlases=", ".join(atlases),
    )
    return atomic_write_text(Path(output_dir) / "logs" / "CITATION.md", text)


def make_folders(folder: Path) -> list[Path]:
    """``mkdir -p folder``; return the folders it created, outermost first.

    Hand the list to `remove_if_empty` to take back what a failed run created (and nothing that
    was there before). If the creation itself fails, what it made is removed before raising.
    """
    missing = []
    parent = Path(folder)
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    missing.reverse()
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError:
        remove_if_empty(missing)
        raise
    return missing


def check_writable(folder: Path) -> None:
    """Create and delete a file in ``folder``; the `OSError` (permissions, a read-only or full
    file system) says why files cannot be written there."""
    fd, probe = tempfile.mkstemp(prefix=".write-check.", suffix=_TEMPORARY_SUFFIX, dir=folder)
    os.close(fd)
    os.unlink(probe)


def remove_if_empty(folders: Sequence[Path]) -> None:
    """Remove those of ``folders`` (outermost first, as `make_folders` lists them) that are
    empty, innermost first."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:  # not empty (another job writes there) or gone
            pass


class StagedOutputs:
    """Files written into a hidden folder beside their destination, then moved there together.

    Use as a context manager: write every file to `path` of its destination, then call
    `publish`. Leaving the block without publishing (an error such as a full disk, an
    interrupt) deletes what was written and the folders this created, and leaves earlier files
    at the destinations untouched: a set of outputs (weights and card; a training run's weights,
    cards, histories and curves) appears whole or not at all.

    Parameters
    ----------
    folder : str or Path
        Where the files go (created if missing).

    Raises
    ------
    OSError
        When ``folder`` or the staging folder inside it cannot be created.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._targets: list[Path] = []
        self._published = False
        self._created = make_folders(self.folder)
        try:
            self._stage = Path(tempfile.mkdtemp(prefix=".staged.", suffix=".tmp", dir=folder))
        except BaseException:
            remove_if_empty(self._created)
            raise

    def path(self, target: str | Path) -> Path:
        """Where to write ``target`` (a file in ``folder``) until `publish`."""
        target = Path(target)
        if target.parent.resolve() != self.folder.resolve():
            raise ValueError(f"{target} is not in {self.folder}")
        if target.name in {t.name for t in self._targets}:
            raise ValueError(f"{target.name} is staged twice")
        self._targets.append(target)
        return self._stage / target.name

    def publish(self) -> list[Path]:
        """Move every staged file to its destination, in the order they were staged."""
        placed: list[Path] = []
        try:
            for target in self._targets:
                os.replace(self._stage / target.name, target)
                placed.append(target)
        except BaseException:
            for target in placed:  # all or nothing: take back what was already moved
                target.unlink(missing_ok=True)
            raise
        self._published = True
        return placed

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        shutil.rmtree(self._stage, ignore_errors=True)
        if not self._published:
            remove_if_empty(self._created)
