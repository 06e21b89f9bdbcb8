"""Normalization of one T1w image to the template (Böhle et al. 2019, section 2.1)."""

from __future__ import annotations

import numpy as np
from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from bids_lrp.grid import Grid
from bids_lrp.interfaces.normalize import (
    ApplyPrecomputed,
    MaskAndScale,
    N4BiasCorrect,
    RegisterToTemplate,
    RegistrationQuality,
    ValidateT1w,
    VolumeRatio,
)
from bids_lrp.normalize.registration import DEFAULT_SEED
from bids_lrp.normalize.reuse import Precomputed
from bids_lrp.templates import get_template


def init_normalize_wf(
    *,
    template: str,
    registration: str,
    omp_nthreads: int = 1,
    estimate_volumes: bool = False,
    precomputed: Precomputed | None = None,
    scaling: str = "minmax-in-brain-mask",
    grid: Grid | None = None,
    resampling: str = "linear",
    name: str = "normalize_wf",
) -> pe.Workflow:
    """Check, bias-correct, register, mask and scale one T1w image.

    N4 bias correction, registration to the template (the paper's SyN-quick profile or
    affine), then the model card's intensity scaling: the paper's template brain mask applied
    and min-max scaling within it (no per-subject skull stripping), or ClinicaDL's min-max
    over the network's field of view; the registration is checked on the unmasked registered
    scan (`bids_lrp.normalize.quality`).

    Parameters
    ----------
    template : str
        Template name (`bids_lrp.templates.TEMPLATES`).
    registration : str
        ``"syn"`` or ``"affine"``.
    omp_nthreads : int
        Threads for N4 and the registration.
    estimate_volumes : bool
        With an affine ``registration``, also register with SyN for the volume estimate (a
        SyN registration gives it anyway; `bids_lrp.normalize.volumes`).
    precomputed : Precomputed, optional
        Transforms another pipeline computed for this image (`bids_lrp.normalize.reuse`):
        used instead of registering (the volume estimate then registers with SyN itself).
    scaling : str
        The model card's ``intensity_scaling`` (`bids_lrp.normalize.intensity.SCALINGS`).
    grid : Grid, optional
        The network's input grid (the card's), which ``"minmax"`` scaling spans. Default: the
        template grid.
    resampling : str
        The card's ``input_resampling`` (how the network's input is made from the image).
    name : str
        Workflow name.

    Inputs
    ------
    t1w
        The raw T1w image.

    Outputs
    -------
    reference
        The checked T1w (3D, float, header kept): the native grid.
    preproc
        Masked, scaled T1w in template space (template grid).
    forward_transforms, inverse_transforms
        ANTs transform files (T1w -> template, template -> T1w).
    metadata
        Registration quality and provenance for the preproc sidecar.
    volume_ratio
        Native volume per template voxel (template grid), or ``""`` without a SyN warp.
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=["t1w"]), name="inputnode")
    outputnode = pe.Node(
        niu.IdentityInterface(
            fields=[
                "reference",
                "preproc",
                "forward_transforms",
                "inverse_transforms",
                "metadata",
                "volume_ratio",
            ]
        ),
        name="outputnode",
    )
    validate = pe.Node(ValidateT1w(), name="validate")
    n4 = pe.Node(N4BiasCorrect(), name="n4", n_procs=omp_nthreads)
    if precomputed is None:
        register = pe.Node(
            RegisterToTemplate(
                template=template, kind=registration, seed=DEFAULT_SEED, threads=omp_nthreads
            ),
            name="register",
            n_procs=omp_nthreads,
            mem_gb=2.0,
        )
    else:
        apply = ApplyPrecomputed(
            template=template, forward=list(precomputed.forward), inverse=list(precomputed.inverse)
        )
        if precomputed.affine is not None:
            apply.inputs.affine = precomputed.affine
        register = pe.Node(
            apply,
            name="apply_precomputed",
            mem_gb=2.0,
        )
    if grid is None:
        tpl = get_template(template)
        grid = Grid(tpl.shape(), tpl.affine())
    mask_scale = pe.Node(
        MaskAndScale(
            template=template,
            scaling=scaling,
            grid_shape=list(grid.shape),
            grid_affine=[float(v) for v in np.asarray(grid.affine).ravel()],
            resampling=resampling,
        ),
        name="mask_scale",
    )
    quality = pe.Node(RegistrationQuality(template=template), name="quality")
    workflow.connect(
        [
            (inputnode, validate, [("t1w", "in_file")]),
            (validate, n4, [("out_file", "in_file")]),
            (n4, register, [("out_file", "in_file")]),
            (register, mask_scale, [("warped", "in_file")]),
            (register, quality, [("warped", "in_file")]),
            (validate, outputnode, [("out_file", "reference")]),
            (mask_scale, outputnode, [("out_file", "preproc")]),
            (
                register,
                outputnode,
                [
                    ("forward_transforms", "forward_transforms"),
                    ("inverse_transforms", "inverse_transforms"),
                ],
            ),
            (quality, outputnode, [("metadata", "metadata")]),
        ]
    )
    ratio = pe.Node(VolumeRatio(template=template), name="volume_ratio")
    if registration == "syn" and precomputed is None:
        workflow.connect(register, "forward_transforms", ratio, "forward_transforms")
    elif estimate_volumes:  # its own SyN registration: the affine one sees no local change
        register_syn = pe.Node(
            RegisterToTemplate(
                template=template, kind="syn", seed=DEFAULT_SEED, threads=omp_nthreads
            ),
            name="register_volumes",
            n_procs=omp_nthreads,
            mem_gb=2.0,
        )
        workflow.connect(n4, "out_file", register_syn, "in_file")
        workflow.connect(register_syn, "forward_transforms", ratio, "forward_transforms")
    else:
        outputnode.inputs.volume_ratio = ""
        return workflow
    workflow.connect(ratio, "out_file", outputnode, "volume_ratio")
    return workflow
