"""The participant report's registration check: the scan moved by the saved transforms,
with the template's outline, and the check's verdict."""

from __future__ import annotations

import functools
import logging
from typing import Any

import nibabel as nib
import numpy as np

from bids_lrp.layout import ImageOutputs
from bids_lrp.reports import checks
from bids_lrp.reports.brain import Outline, slice_mosaic
from bids_lrp.reports.discover import read_sidecar, resolve_source
from bids_lrp.reports.html import alert, figure, fmt
from bids_lrp.reports.participant_state import Report
from bids_lrp.templates import get_template

__all__ = ["registration_section", "template_outlines"]

LOGGER = logging.getLogger("bids_lrp")


def registration_section(
    report: Report, image: ImageOutputs, preproc: nib.Nifti1Image | None
) -> None:
    """The registration figure of one image and the check's notices."""
    if preproc is None:
        report.add("registration", image, alert("error", "No normalized T1w was found."))
        return
    sidecar = read_sidecar(image.network_input)
    meta = sidecar.get("RegistrationQuality")
    meta = meta if isinstance(meta, dict) else {}
    report.extend(checks.registration_notices(meta), image.prefix)
    outlines = template_outlines(image.template or "")
    if not outlines:
        report.notice(
            "warning",
            f"template {image.template} not found: no outline drawn",
            image.prefix,
            "template",
        )
    moved = _registered_scan(report, image, sidecar, preproc)
    path = report.figures / f"{image.prefix}_space-{image.template}_desc-registration_T1w.png"
    if moved is not None:
        shown = (
            f"The participant's T1w, unmasked, moved into {image.template} space by the "
            "transforms saved in the derivatives"
        )
        title = f"{image.prefix}: T1w in {image.template} space, template outline"
    else:
        moved = preproc
        shown = (
            f"The network input (masked by the template, so the fit outside the brain cannot be "
            f"judged) in {image.template} space"
        )
        title = f"{image.prefix}: network input, template outline"
    slice_mosaic(moved, path, outlines=outlines, title=title)
    verdict = meta.get("Verdict")
    caption = (
        f"{shown}; red: the template's brain outline, blue: its white-matter boundary. A good "
        "registration puts the participant's brain edge on the red line and its white matter "
        "inside the blue one. "
        f"{meta.get('Metric', 'Registration quality')}: {fmt(meta.get('Value'), 3)}"
        + (f". Check {verdict}." if verdict else ".")
    )
    report.add("registration", image, figure(report.src(path), caption))


def _registered_scan(
    report: Report, image: ImageOutputs, sidecar: dict[str, Any], preproc: nib.Nifti1Image
) -> nib.Nifti1Image | None:
    """The raw T1w moved by the saved forward transforms onto the template grid, or None."""
    sources = sidecar.get("Sources") or []
    sources = [sources] if isinstance(sources, str) else list(sources)
    raw = next(
        (p for s in sources if (p := resolve_source(str(s), report.output_dir, report.bids_dir))),
        None,
    )
    if raw is None or not image.transforms:
        missing = "raw T1w" if raw is None else "forward transforms"
        report.notice(
            "warning",
            f"{missing} not found: the registration figure shows the masked network input, "
            "which cannot show a misfit (pass the BIDS folder)",
            image.prefix,
            "missing",
        )
        return None
    # ANTs is loaded only here: the other reports (and the group level) do not need it
    from bids_lrp.normalize.registration import apply_transforms

    return apply_transforms(report.raw(raw), preproc, [str(t) for t in image.transforms])


@functools.lru_cache(maxsize=4)
def template_outlines(name: str) -> tuple[Outline, ...]:
    """The template's brain outline (red) and white-matter boundary (blue); empty if unknown."""
    try:
        template = get_template(name)
        image = nib.load(template.t1w)
        data = np.asarray(image.dataobj, dtype=np.float32)
        mask = template.brain_mask()
    except (ValueError, OSError) as err:
        LOGGER.warning("report: no outline for template %r (%s)", name, err)
        return ()
    inside = data[mask]
    # The median brain intensity of a T1w template lies between grey and white matter.
    level = float(np.median(inside)) if inside.size else 0.5
    return (
        Outline(nib.Nifti1Image(mask.astype(np.float32), image.affine), 0.5, "#ff3030"),
        Outline(nib.Nifti1Image(data, image.affine), level, "#33bbff"),
    )
