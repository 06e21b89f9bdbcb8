"""Thin nipype interfaces over `bids_lrp.normalize` (ANTsPy); each calls one function.

Images travel between nodes as NIfTI files in the node folders; templates are resolved by name
through `bids_lrp.templates` inside the node (TemplateFlow files when present, bundled otherwise).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    SimpleInterface,
    TraitedSpec,
    isdefined,
    traits,
)

from bids_lrp.fastgz import save_sparse_nifti
from bids_lrp.grid import Grid
from bids_lrp.normalize import (
    apply_transforms,
    invert_affine,
    load_t1w,
    n4_bias_correct,
    register_to_template,
    relevance_to_native,
)
from bids_lrp.normalize.intensity import scale_for_network
from bids_lrp.normalize.quality import check_registration
from bids_lrp.normalize.volumes import volume_ratio
from bids_lrp.templates import template_images


def _save(img: nib.Nifti1Image, cwd: str, name: str, sparse: bool = False) -> str:
    path = str(Path(cwd) / name)
    img.header.set_xyzt_units("mm")
    if sparse:  # relevance maps: zero outside the head, fast to inflate
        save_sparse_nifti(img, path)
    else:
        nib.save(img, path)
    return path


class _InSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True)


class _OutSpec(TraitedSpec):
    out_file = File(exists=True)


class ValidateT1w(SimpleInterface):
    """Read and check a T1w image (`bids_lrp.normalize.load_t1w`); bad images fail here."""

    input_spec = _InSpec
    output_spec = _OutSpec

    def _run_interface(self, runtime):
        self._results["out_file"] = _save(load_t1w(self.inputs.in_file), runtime.cwd, "t1w.nii.gz")
        return runtime


class _N4InSpec(_InSpec):
    shrink_factor = traits.Int(4, usedefault=True)


class N4BiasCorrect(SimpleInterface):
    """N4 bias field correction (`bids_lrp.normalize.n4_bias_correct`).

    It uses the process's ITK threads: ``ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS`` as it was when
    the process first used ITK (ITK reads it once). The participant level sets it to
    ``--omp-nthreads`` before its worker processes start (`bids_lrp.workflows.execution`).
    """

    input_spec = _N4InSpec
    output_spec = _OutSpec

    def _run_interface(self, runtime):
        out = n4_bias_correct(
            nib.load(self.inputs.in_file), shrink_factor=self.inputs.shrink_factor
        )
        self._results["out_file"] = _save(out, runtime.cwd, "t1w_n4.nii.gz")
        return runtime


class _RegInSpec(_InSpec):
    template = traits.Str(mandatory=True)
    kind = traits.Enum("syn", "affine", mandatory=True)
    seed = traits.Range(low=1, value=1, usedefault=True, desc="ANTs seed (0 would be random)")
    threads = traits.Int(1, usedefault=True)


class _RegOutSpec(TraitedSpec):
    warped = File(exists=True)
    forward_transforms = traits.List(File(exists=True))
    inverse_transforms = traits.List(File(exists=True))


class RegisterToTemplate(SimpleInterface):
    """Register to the template (`bids_lrp.normalize.register_to_template`)."""

    input_spec = _RegInSpec
    output_spec = _RegOutSpec

    def _run_interface(self, runtime):
        template, mask, _ = template_images(self.inputs.template)
        reg = register_to_template(
            nib.load(self.inputs.in_file),
            template,
            kind=self.inputs.kind,
            out_prefix=str(Path(runtime.cwd) / "xfm_"),
            seed=self.inputs.seed,
            mask=mask,
            threads=self.inputs.threads,
        )
        self._results["warped"] = _save(reg.warped, runtime.cwd, "t1w_warped.nii.gz")
        self._results["forward_transforms"] = [str(p) for p in reg.forward_transforms]
        self._results["inverse_transforms"] = [str(p) for p in reg.inverse_transforms]
        return runtime


class _PrecomputedInSpec(_InSpec):
    template = traits.Str(mandatory=True)
    forward = traits.List(File(exists=True), mandatory=True, desc="T1w -> template (ANTs order)")
    inverse = traits.List(File(exists=True), mandatory=True, desc="template -> T1w")
    affine = File(exists=True, desc="an affine the image goes through first, inverted here")


class ApplyPrecomputed(SimpleInterface):
    """Put the image on the template grid through transforms another pipeline computed
    (`bids_lrp.normalize.reuse`), instead of registering: the outputs of `RegisterToTemplate`.

    With an ``affine`` (one of several T1w images onto their reference, or ClinicaDL's
    t1-linear affine) the chain is the ``forward`` transforms then that affine (ANTs order);
    back, the affine's inverse (written here) then the ``inverse`` transforms.
    """

    input_spec = _PrecomputedInSpec
    output_spec = _RegOutSpec

    def _run_interface(self, runtime):
        template, _, _ = template_images(self.inputs.template)
        forward, inverse = list(self.inputs.forward), list(self.inputs.inverse)
        if isdefined(self.inputs.affine):
            affine = self.inputs.affine
            forward = [*forward, affine]
            inverse = [invert_affine(affine, Path(runtime.cwd) / "inverse_affine.mat"), *inverse]
        warped = apply_transforms(nib.load(self.inputs.in_file), template, forward)
        self._results["warped"] = _save(warped, runtime.cwd, "t1w_warped.nii.gz")
        self._results["forward_transforms"] = forward
        self._results["inverse_transforms"] = inverse
        return runtime


class _TplInSpec(_InSpec):
    template = traits.Str(mandatory=True)


class _ScaleInSpec(_TplInSpec):
    scaling = traits.Str("minmax-in-brain-mask", usedefault=True, desc="the card's scaling")
    grid_shape = traits.List(traits.Int, mandatory=True, desc="the network's input grid")
    grid_affine = traits.List(traits.Float, mandatory=True, desc="its affine, 16 values")
    resampling = traits.Str("linear", usedefault=True, desc="the card's input_resampling")


class MaskAndScale(SimpleInterface):
    """The model card's intensity scaling (`bids_lrp.normalize.scale_for_network`)."""

    input_spec = _ScaleInSpec
    output_spec = _OutSpec

    def _run_interface(self, runtime):
        _, mask, _ = template_images(self.inputs.template)
        grid = Grid(tuple(self.inputs.grid_shape), np.reshape(self.inputs.grid_affine, (4, 4)))
        out = scale_for_network(
            nib.load(self.inputs.in_file),
            mask,
            self.inputs.scaling,
            grid,
            self.inputs.resampling,
        )
        self._results["out_file"] = _save(out, runtime.cwd, "t1w_preproc.nii.gz")
        return runtime


class _QualityOutSpec(TraitedSpec):
    metadata = traits.Dict()


class RegistrationQuality(SimpleInterface):
    """Check a registered, unmasked scan against the template (`check_registration`)."""

    input_spec = _TplInSpec
    output_spec = _QualityOutSpec

    def _run_interface(self, runtime):
        template, mask, source = template_images(self.inputs.template)
        check = check_registration(nib.load(self.inputs.in_file), template, mask)
        self._results["metadata"] = {
            "RegistrationQuality": check.metadata(),
            "TemplateSource": source,
        }
        return runtime


class _NativeInSpec(BaseInterfaceInputSpec):
    relevance = InputMultiObject(File(exists=True), mandatory=True)
    reference = File(exists=True, mandatory=True, desc="the checked native T1w")
    inverse_transforms = InputMultiObject(File(exists=True), mandatory=True)


class _NativeOutSpec(TraitedSpec):
    out_file = traits.List(File(exists=True))


class RelevanceToNative(SimpleInterface):
    """Relevance maps onto the participant's T1w grid (`relevance_to_native`)."""

    input_spec = _NativeInSpec
    output_spec = _NativeOutSpec

    def _run_interface(self, runtime):
        reference = nib.load(self.inputs.reference)
        inverse = [str(p) for p in self.inputs.inverse_transforms]
        outputs = []
        for path in self.inputs.relevance:
            out = relevance_to_native(nib.load(path), reference, inverse)
            outputs.append(_save(out, runtime.cwd, "native_" + Path(path).name, sparse=True))
        self._results["out_file"] = outputs
        return runtime


class _RatioInSpec(BaseInterfaceInputSpec):
    forward_transforms = traits.List(File(exists=True), mandatory=True)
    template = traits.Str(mandatory=True)


class VolumeRatio(SimpleInterface):
    """Native volume per template voxel of a SyN registration (`normalize.volumes`)."""

    input_spec = _RatioInSpec
    output_spec = _OutSpec

    def _run_interface(self, runtime):
        template, _, _ = template_images(self.inputs.template)
        out = volume_ratio(list(self.inputs.forward_transforms), template)
        self._results["out_file"] = _save(out, runtime.cwd, "volume_ratio.nii.gz")
        return runtime
