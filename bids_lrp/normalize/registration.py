"""Registration to a template and transform application (ANTsPy).

Böhle et al. (2019), section 2.1, register every scan to the ICBM 2009c nonlinear asymmetric
template with ANTs SyN (the ``antsRegistrationSyNQuick`` profile). `PROFILES` holds the
registration kinds the app offers; ``"syn"`` is the paper's.

Transforms are returned as files in ANTs order (the last one is applied to a point first), and
both lists need no inversion flags: the inverse affine is written as its own file, so
``apply_transforms(image, reference, transforms)`` works the same for either direction.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import ants
import nibabel as nib
import numpy as np

from bids_lrp.normalize.grids import image_of, preserve_masses, voxel_volume
from bids_lrp.normalize.images import from_ants, to_ants

__all__ = [
    "DEFAULT_SEED",
    "INTERPOLATIONS",
    "PROFILES",
    "Registration",
    "RegistrationProfile",
    "apply_transforms",
    "invert_affine",
    "register_to_template",
    "relevance_to_native",
]

logger = logging.getLogger(__name__)

#: ANTs random seed used unless another is given. ANTs reads ``--random-seed 0`` as "seed from
#: the clock", so seeds start at 1; with one ITK thread a fixed seed gives bit-identical results.
DEFAULT_SEED = 1


@dataclass(frozen=True)
class RegistrationProfile:
    """One registration kind: the ANTsPy ``type_of_transform`` and a description."""

    type_of_transform: str
    description: str


#: Registration kinds (CLI choices come from here).
PROFILES: dict[str, RegistrationProfile] = {
    "syn": RegistrationProfile(
        "antsRegistrationSyNQuick[s]",
        "rigid + affine + SyN (antsRegistrationSyNQuick.sh 's'; Böhle et al. 2019)",
    ),
    # ANTsPy's "Affine" (one affine stage, Mattes MI, 4 levels) measured faster than the
    # rigid-then-affine "antsRegistrationSyNQuick[a]" and as accurate on simulated scans.
    "affine": RegistrationProfile("Affine", "affine (ANTsPy 'Affine': Mattes MI, 4 levels)"),
}

#: Interpolation names -> ANTsPy interpolators.
INTERPOLATIONS: dict[str, str] = {
    "linear": "linear",
    "nearest": "nearestNeighbor",
    "label": "genericLabel",
    "bspline": "bSpline",
    "lanczos": "lanczosWindowedSinc",
}


@dataclass(frozen=True)
class Registration:
    """Result of `register_to_template`.

    Attributes
    ----------
    warped : nibabel.Nifti1Image
        The moving image resampled onto the template grid.
    forward_transforms : list of str
        Files, ANTs order, mapping the moving (native) image into template space:
        ``apply_transforms(moving, template, forward_transforms)``.
    inverse_transforms : list of str
        Files, ANTs order, mapping template-space images onto the native grid:
        ``apply_transforms(template_image, moving, inverse_transforms)``.
    kind : str
        Key of `PROFILES`.
    """

    warped: nib.Nifti1Image
    forward_transforms: list[str]
    inverse_transforms: list[str]
    kind: str


def _register_files(
    fixed: str, moving: str, mask: str | None, type_of_transform: str, workdir: str, seed: int
) -> dict[str, list[str]]:
    """Run ANTsPy on image files in ``workdir``; write ``warped.nii``; return the transforms.

    Module-level so that it can run in a spawned process (see `register_to_template`). ANTsPy
    reads the random seed from ``ants.config`` (passed on as ``--random-seed``); it is restored.
    """
    old_seed = ants.config._random_seed
    ants.config._random_seed = int(seed)
    try:
        result = ants.registration(
            ants.image_read(fixed),
            ants.image_read(moving),
            type_of_transform=type_of_transform,
            mask=ants.image_read(mask) > 0 if mask else None,
            outprefix=str(Path(workdir) / "reg_"),
        )
    finally:
        ants.config._random_seed = old_seed
    ants.image_write(result["warpedmovout"], str(Path(workdir) / "warped.nii"))
    return {"fwdtransforms": result["fwdtransforms"], "invtransforms": result["invtransforms"]}


_WORKER = (
    "import json, sys\n"
    "from bids_lrp.normalize.registration import _register_files\n"
    "print(json.dumps(_register_files(*json.loads(sys.argv[1]))))\n"
)


def _run(threads: int | None, *args) -> dict[str, list[str]]:
    """Run `_register_files` here, or in a fresh Python process with ``threads`` ITK threads.

    ITK reads ``ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS`` once per process, so a thread count can
    only be imposed on a new process (a plain subprocess: no re-import of the caller's script).
    """
    if threads is None:
        return _register_files(*args)
    env = {**os.environ, "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": str(int(threads))}
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit code {done.returncode}"
        raise RuntimeError(f"ANTs registration failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check_prefix(out_prefix: str | Path) -> Path:
    prefix = Path(out_prefix)
    if any(c in prefix.name for c in "[]*?"):
        raise ValueError(f"out_prefix must not contain glob characters []*?: {prefix}")
    if not prefix.name:
        raise ValueError(f"out_prefix needs a file-name part, e.g. 'out/sub-01_': {prefix}")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    return prefix


def _collect(result: dict, workdir: Path, prefix: Path) -> tuple[list[str], list[str]]:
    """Move ANTsPy's outputs from ``workdir`` to ``<prefix>...``; write the inverse affine."""
    moved: dict[str, str] = {}
    for name in sorted({Path(p).name for p in result["fwdtransforms"] + result["invtransforms"]}):
        target = prefix.parent / (prefix.name + name.removeprefix("reg_"))
        os.replace(workdir / name, target)
        moved[name] = str(target)
    forward = [moved[Path(p).name] for p in result["fwdtransforms"]]
    inverse = []
    for path in result["invtransforms"]:
        name = Path(path).name
        if name.endswith("GenericAffine.mat"):
            inverted = ants.read_transform(moved[name]).invert()
            target = Path(moved[name].replace("GenericAffine.mat", "InverseGenericAffine.mat"))
            ants.write_transform(inverted, str(workdir / target.name))
            os.replace(workdir / target.name, target)
            inverse.append(str(target))
        else:
            inverse.append(moved[name])
    return forward, inverse


def register_to_template(
    moving: nib.Nifti1Image,
    template: nib.Nifti1Image,
    *,
    kind: str = "syn",
    out_prefix: str | Path,
    seed: int = DEFAULT_SEED,
    mask: nib.Nifti1Image | None = None,
    threads: int | None = None,
) -> Registration:
    """Register a (bias-corrected) T1w to a template.

    Parameters
    ----------
    moving : nibabel.Nifti1Image
        The participant's T1w; whole-head is fine (the template mask restricts the metric).
    template : nibabel.Nifti1Image
        Fixed image, e.g. the brain-extracted template.
    kind : str
        A key of `PROFILES`: ``"syn"`` (the paper's) or ``"affine"``.
    out_prefix : str or Path
        Transform files are written as ``<out_prefix>0GenericAffine.mat``,
        ``<out_prefix>0InverseGenericAffine.mat`` and, for SyN, ``<out_prefix>1Warp.nii.gz``
        and ``<out_prefix>1InverseWarp.nii.gz`` (existing files are replaced).
    seed : int
        ANTs random seed, >= 1 (the metrics sample voxels at random; ANTs would take 0 as
        "seed from the clock", so 0 is refused).
    mask : nibabel.Nifti1Image, optional
        Template brain mask: the metric is computed only inside it.
    threads : int, optional
        ITK threads. ``None`` runs in this process with its ITK setting (all cores unless
        ``ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS`` was set before ANTs was first used). A number
        runs ANTs in a fresh process with that many threads (ITK reads the setting once per
        process). Only ``threads=1`` is bit-for-bit reproducible for a fixed ``seed``:
        multi-threaded metric sums depend on scheduling.

    Returns
    -------
    Registration
        The warped image and the transform files. The initial alignment matches the centres of
        mass (ANTs ``[fixed,moving,1]``).
    """
    if kind not in PROFILES:
        raise ValueError(f"unknown registration kind {kind!r}; choose from {', '.join(PROFILES)}")
    prefix = _check_prefix(out_prefix)
    profile = PROFILES[kind]
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 1:
        raise ValueError(f"seed must be an integer >= 1 (ANTs reads 0 as random), got {seed!r}")
    with tempfile.TemporaryDirectory(dir=prefix.parent, prefix=".ants-") as tmp:
        workdir = Path(tmp)
        nib.save(_floatimage_of(template), workdir / "fixed.nii")
        nib.save(_floatimage_of(moving), workdir / "moving.nii")
        mask_file = None
        if mask is not None:
            mask_file = str(workdir / "mask.nii")
            nib.save(_floatimage_of(mask), mask_file)
        logger.info("registering to template (%s): %s", kind, profile.description)
        result = _run(
            threads,
            str(workdir / "fixed.nii"),
            str(workdir / "moving.nii"),
            mask_file,
            profile.type_of_transform,
            str(workdir),
            seed,
        )
        forward, inverse = _collect(result, workdir, prefix)
        warped = nib.load(workdir / "warped.nii")
        warped = _floatimage_of(nib.Nifti1Image(np.asarray(warped.dataobj), warped.affine))
    return Registration(warped, forward, inverse, kind)


def _floatimage_of(image: nib.Nifti1Image) -> nib.Nifti1Image:
    out = nib.Nifti1Image(np.asarray(image.dataobj, dtype=np.float32), image.affine)
    out.header.set_xyzt_units("mm", "sec")
    return out


def invert_affine(path: str | Path, out: str | Path) -> str:
    """Write the inverse of the ITK affine transform in ``path`` to ``out`` (``.mat``/``.txt``).

    Another pipeline's affine onto a reference (e.g. sMRIPrep's ``from-orig_to-T1w``) is
    needed backwards to bring a template-space map onto the image: `apply_transforms` inverts
    nothing on the fly, so the inverse is a file of its own.
    """
    transform = ants.read_transform(str(path))
    ants.write_transform(transform.invert(), str(out))
    return str(out)


def apply_transforms(
    image: nib.Nifti1Image,
    reference: nib.Nifti1Image,
    transforms: list[str],
    *,
    interpolation: str = "linear",
) -> nib.Nifti1Image:
    """Resample ``image`` onto ``reference``'s grid through ``transforms`` (ANTs order).

    Parameters
    ----------
    image, reference : nibabel.Nifti1Image
        Image to move and the grid to put it on.
    transforms : list of str
        `Registration.forward_transforms` or `Registration.inverse_transforms` (none is
        inverted on the fly).
    interpolation : str
        A key of `INTERPOLATIONS` (``"label"`` for label images).

    Returns
    -------
    nibabel.Nifti1Image
        float32 on ``reference``'s grid; 0 outside ``image``'s field of view.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"unknown interpolation {interpolation!r}; choose from {', '.join(INTERPOLATIONS)}"
        )
    missing = [t for t in transforms if not Path(t).is_file()]
    if missing:
        raise FileNotFoundError(f"transform file(s) not found: {', '.join(missing)}")
    warped = ants.apply_transforms(
        fixed=to_ants(reference),
        moving=to_ants(image),
        transformlist=[str(t) for t in transforms],
        interpolator=INTERPOLATIONS[interpolation],
        whichtoinvert=[False] * len(transforms),
    )
    return from_ants(warped)


def relevance_to_native(
    relevance_img: nib.Nifti1Image,
    native_reference: nib.Nifti1Image,
    inverse_transforms: list[str],
) -> nib.Nifti1Image:
    """Warp a template-space relevance map onto the participant's own T1w grid.

    Uses `Registration.inverse_transforms` (linear interpolation of the
    relevance density), then preserves the positive and negative relevance totals as
    `relevance_to_grid` does. Local volume changes of a nonlinear warp are not modelled: the map is
    for display on the participant's anatomy; region sums belong in template space.

    Parameters
    ----------
    relevance_img : nibabel.Nifti1Image
        Relevance on the template grid.
    native_reference : nibabel.Nifti1Image
        The participant's T1w (defines the output grid).
    inverse_transforms : list of str
        Template -> native transform files (ANTs order).

    Returns
    -------
    nibabel.Nifti1Image
        float32 relevance on the native grid with the same total.
    """
    source = np.asarray(relevance_img.dataobj, dtype=np.float64)
    density = image_of(source / voxel_volume(relevance_img.affine), relevance_img.affine)
    reference = image_of(np.zeros(native_reference.shape[:3], np.float32), native_reference.affine)
    moved = np.asarray(
        apply_transforms(density, reference, inverse_transforms).dataobj, dtype=np.float64
    )
    moved *= voxel_volume(native_reference.affine)
    return image_of(preserve_masses(moved, source), native_reference.affine)
