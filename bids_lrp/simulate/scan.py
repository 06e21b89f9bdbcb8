"""Render one planned scan: template-space truth, the native T1w and the true transforms.

Coordinates (all world mm, RAS):

* ``p``, scanner space of the native T1w;
* ``y = P^-1 p``, the subject's brain after undoing pose and size (``P`` from
  `bids_lrp.simulate.native.pose_matrix`);
* ``x = y + e(y)``, the template. ``e(y) = v(y) + a(y + v(y))`` composes the subject's normal
  variability ``v`` and the atrophy ``a`` (both smooth pull-back fields on the coarse grid).

The native image is ``I(p) = J(x(p)) * bias(p) + Rician noise`` (+ the synthetic head), where
``J`` is the template-space truth: the template after a contrast change and partial-volume grey
matter loss in the atrophied areas. It is resampled once, from ``J``, through the composed map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bids_lrp.simulate.anatomy import FIELD_STEP, tissue_means
from bids_lrp.simulate.atrophy import (
    AtrophyModel,
    atrophy_field,
    region_losses,
    volume_loss_map,
)
from bids_lrp.simulate.grids import (
    Grid,
    affine_coordinates,
    invert_displacement,
    sample,
    sample_field,
    smooth_random_field,
)
from bids_lrp.simulate.intensity import add_rician_noise, bias_field, contrast, head_intensity
from bids_lrp.simulate.native import PROTOCOLS, native_grid, pose_matrix
from bids_lrp.simulate.plan import ScanSpec

__all__ = ["PV_FACTOR", "ScanResult", "render_scan"]

#: Fraction of the local volume loss that also dims grey matter (partial-volume effect).
PV_FACTOR = 0.5
_VARIABILITY_SPACING_MM = 30.0
_VARIABILITY_RMS_MM = 2.0


@dataclass(frozen=True)
class ScanResult:
    """Arrays and transforms of one simulated scan (see the module docstring for the maps).

    Attributes
    ----------
    spec : ScanSpec
        The plan it came from.
    native : Grid
        Scanner grid of ``t1w``.
    t1w : numpy.ndarray
        Native T1w (int16).
    native_regions, native_loss : numpy.ndarray
        Planted-area labels (uint8; 1..R in `AtrophyModel` order) and local volume-loss fraction on
        the native grid.
    template_t1w, template_regions, template_loss : numpy.ndarray
        The template-space truth ``J``, area labels and local volume loss (1 mm template grid).
    native_to_template_affine : numpy.ndarray
        ``P^-1``: scanner world -> subject-in-template world (4x4, RAS).
    native_to_template_field : numpy.ndarray
        ``e`` on the coarse template grid (pull-back of the template into native space).
    template_to_native_field : numpy.ndarray
        Numerical inverse of ``y -> y + e(y)``.
    inverse_error_mm : float
        Largest residual of that inverse inside the brain (mm).
    losses : numpy.ndarray
        Achieved volume-loss fraction per area (measured by warping the area masks).
    bias : numpy.ndarray
        The multiplicative bias field on the native grid (what a perfect N4 would remove).
    """

    spec: ScanSpec
    native: Grid
    t1w: np.ndarray
    native_regions: np.ndarray
    native_loss: np.ndarray
    template_t1w: np.ndarray
    template_regions: np.ndarray
    template_loss: np.ndarray
    native_to_template_affine: np.ndarray
    native_to_template_field: np.ndarray
    template_to_native_field: np.ndarray
    inverse_error_mm: float
    losses: np.ndarray
    bias: np.ndarray


def _template_truth(model: AtrophyModel, spec: ScanSpec, loss_coarse: np.ndarray) -> tuple:
    """Template-space image ``J`` and the 1 mm volume-loss map."""
    anatomy = model.anatomy
    image = contrast(anatomy.intensity, spec.gamma)
    loss = np.zeros(anatomy.grid.shape, np.float32)
    crop = model.crop
    sub_shape = tuple(s.stop - s.start for s in crop)
    start = np.array([s.start for s in crop], np.float32) / FIELD_STEP
    vox = affine_coordinates(np.diag([1.0 / FIELD_STEP] * 3 + [1.0]), sub_shape)
    vox += start[:, None, None, None]
    loss[crop] = sample(loss_coarse, vox, mode="nearest")
    csf = np.float32(tissue_means(anatomy)["csf"])
    grey = anatomy.classes[crop] == 2
    dim = np.float32(PV_FACTOR) * np.clip(loss[crop], 0.0, 1.0) * grey
    image[crop] -= dim * np.maximum(image[crop] - csf, 0.0)
    return image, loss


def render_scan(spec: ScanSpec, model: AtrophyModel) -> ScanResult:
    """Simulate one scan.

    Parameters
    ----------
    spec : ScanSpec
        One entry of `bids_lrp.simulate.plan.plan_cohort`.
    model : AtrophyModel
        Calibrated atrophy basis (`bids_lrp.simulate.atrophy.atrophy_model`).

    Returns
    -------
    ScanResult
    """
    anatomy = model.anatomy
    fields = anatomy.fields
    anatomy_rng = np.random.default_rng(np.random.SeedSequence(list(spec.anatomy_seed)))
    scan_rng = np.random.default_rng(np.random.SeedSequence(list(spec.scan_seed)))

    # Deformations on the coarse template grid, composed once: e(y) = v(y) + a(y + v(y)).
    variability = smooth_random_field(
        anatomy_rng, fields, spacing_mm=_VARIABILITY_SPACING_MM, amplitude_mm=_VARIABILITY_RMS_MM
    )
    atrophy = atrophy_field(model, spec.volume_loss)
    points = affine_coordinates(fields.affine, fields.shape)
    composed = variability + sample_field(atrophy, fields, points + variability)
    inverse = invert_displacement(composed, fields)
    residual = inverse + sample_field(composed, fields, points + inverse)
    inside = anatomy.mask[::FIELD_STEP, ::FIELD_STEP, ::FIELD_STEP]
    inverse_error = float(np.sqrt((residual**2).sum(axis=0))[inside].max())
    loss_coarse = volume_loss_map(model, atrophy)
    losses = region_losses(model, atrophy)

    template_t1w, template_loss = _template_truth(model, spec, loss_coarse)
    template_regions = model.labels

    # Native grid and the single resampling through pose + e.
    pose = pose_matrix(np.array(spec.angles_deg), np.array(spec.shift_mm), np.array(spec.scale))
    native = native_grid(PROTOCOLS[spec.protocol], pose, np.array(spec.fov_offset_mm))
    to_template = np.linalg.inv(pose)
    y = affine_coordinates(to_template @ native.affine, native.shape)
    x = y + sample_field(composed, fields, y)
    del y
    inv_t = np.linalg.inv(anatomy.grid.affine).astype(np.float32)
    tvox = np.einsum("ij,j...->i...", inv_t[:3, :3], x) + inv_t[:3, 3, None, None, None]
    image = sample(template_t1w, tvox)
    native_regions = sample(template_regions, tvox, order=0).astype(np.uint8)
    native_loss = sample(loss_coarse, tvox / np.float32(FIELD_STEP))
    if spec.head:
        distance = sample(anatomy.head_distance, tvox / np.float32(FIELD_STEP), cval=1e3)
        # The head only where the template has no brain (the coarse distance blurs the edge).
        image += head_intensity(distance) * (image <= 0)
        del distance
    del x, tvox
    bias = bias_field(scan_rng, native.shape, strength=spec.bias_strength)
    image *= bias
    image = add_rician_noise(scan_rng, image, spec.noise)
    t1w = np.clip(np.rint(image * np.float32(spec.gain)), 0, np.iinfo(np.int16).max)
    return ScanResult(
        spec=spec,
        native=native,
        t1w=t1w.astype(np.int16),
        native_regions=native_regions,
        native_loss=native_loss,
        template_t1w=template_t1w,
        template_regions=template_regions.astype(np.uint8),
        template_loss=template_loss,
        native_to_template_affine=to_template,
        native_to_template_field=composed,
        template_to_native_field=inverse,
        inverse_error_mm=inverse_error,
        losses=losses,
        bias=bias.astype(np.float32),
    )
