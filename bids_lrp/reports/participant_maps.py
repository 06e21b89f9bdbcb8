"""The participant report's relevance maps: per method, the map on the network input, a glass
brain, and the map on the participant's own scan, with the conservation row it adds."""

from __future__ import annotations

from typing import Any

import nibabel as nib
import numpy as np

from bids_lrp.layout import ImageOutputs
from bids_lrp.reports import checks
from bids_lrp.reports.brain import slice_mosaic
from bids_lrp.reports.discover import read_sidecar, resolve_source
from bids_lrp.reports.figures import relevance_scale
from bids_lrp.reports.glass import glass_brain
from bids_lrp.reports.html import alert, esc, figure
from bids_lrp.reports.participant_state import Report, guarded, load_image

__all__ = ["relevance_section"]


def _method_title(meta: dict[str, Any], desc: str) -> str:
    params = meta.get("MethodParameters") or {}
    text = ", ".join(f"{k}={v}" for k, v in params.items()) if isinstance(params, dict) else ""
    target = meta.get("TargetClass")
    if target and meta.get("TargetSelection") == "predicted class":
        target += " (the predicted class)"
    return (
        f"{desc}: {meta.get('Method', desc)}"
        + (f" ({text})" if text else "")
        + (f", explaining class {target}" if target else "")
    )


def _method(
    report: Report, image: ImageOutputs, desc: str, preproc: nib.Nifti1Image | None
) -> str:
    """One method's overlays (template space, glass brain, native space) as HTML."""
    meta = read_sidecar(image.relevance.get(desc) or image.native.get(desc))
    parts = [f"<h4>{esc(_method_title(meta, desc))}</h4>"]
    if desc not in image.relevance:
        report.notice(
            "warning", f"no template-space relevance map for {desc}", image.prefix, "missing"
        )
    elif preproc is not None:  # (a missing normalized scan is reported once, elsewhere)
        rel = load_image(image.relevance[desc])
        vmax, threshold = relevance_scale(rel.dataobj)
        stem = f"{image.prefix}_space-{image.template}_desc-{desc}"
        mosaic = slice_mosaic(
            preproc,
            report.figures / f"{stem}_relevance.png",
            overlay=rel,
            vmax=vmax,
            threshold=threshold,
            title=f"{desc}, {image.template}",
        )
        glass = glass_brain(rel, report.figures / f"{stem}_glassbrain.png", title=desc)
        parts.append(figure(report.src(mosaic), checks.OVERLAY_CAPTION))
        parts.append(figure(report.src(glass), checks.GLASS_CAPTION))
    native_sum = _native(report, image, desc, parts)
    row, notices = checks.conservation_row(desc, meta, native_sum)
    report.conservation.setdefault(image.prefix, (image, []))[1].append(row)
    report.extend(notices, image.prefix)
    return "".join(parts)


def relevance_section(
    report: Report, image: ImageOutputs, preproc: nib.Nifti1Image | None
) -> None:
    """Every method's maps of one image, and their rows of the conservation check."""
    report.focus = guarded(report, image, "native-space maps", _native_focus)
    parts = [
        guarded(report, image, f"{desc} relevance", _method, desc, preproc) or ""
        for desc in image.methods
    ]
    report.add("relevance", image, "".join(parts) or alert("error", "No relevance maps found."))


def _native_focus(report: Report, image: ImageOutputs) -> nib.Nifti1Image | None:
    """Where any native-space map of the image holds relevance: the brain on the native grid.

    The maps are 0 outside the template brain mask (moved onto the participant's scan), so
    their union spans the brain: the native mosaics spread their slices over it, not over the
    face, neck and scalp of a whole-head scan.
    """
    union = None
    for path in image.native.values():
        img = load_image(path)
        inside = np.asarray(img.dataobj) != 0
        if union is not None and union.shape != inside.shape:
            return None
        union = inside if union is None else union | inside
    if union is None or not union.any():
        return None
    return nib.Nifti1Image(union.astype(np.float32), img.affine)


def _native(report: Report, image: ImageOutputs, desc: str, parts: list[str]) -> float | None:
    """Native-space overlay; returns the native map's relevance sum (or None)."""
    if desc not in image.native:
        if report.native_space:  # else --no-native-space: nothing is missing
            report.notice(
                "warning", f"no native-space relevance map for {desc}", image.prefix, "missing"
            )
        return None
    rel = load_image(image.native[desc])
    sources = read_sidecar(image.native[desc]).get("Sources") or []
    sources = [sources] if isinstance(sources, str) else list(sources)
    raw = next(
        (p for s in sources if (p := resolve_source(str(s), report.output_dir, report.bids_dir))),
        None,
    )
    if raw is None:
        report.notice(
            "warning",
            f"raw T1w {', '.join(map(str, sources)) or '(no Sources)'} "
            "not found: pass the BIDS folder to show the native-space overlay",
            image.prefix,
            "missing",
        )
        return float(np.asarray(rel.dataobj).sum(dtype=np.float64))
    vmax, threshold = relevance_scale(rel.dataobj)
    path = report.figures / f"{image.prefix}_space-T1w_desc-{desc}_relevance.png"
    slice_mosaic(
        report.raw(raw),
        path,
        overlay=rel,
        vmax=vmax,
        threshold=threshold,
        title=f"{desc}, participant's own T1w",
        focus=report.focus,
    )
    parts.append(figure(report.src(path), checks.NATIVE_CAPTION))
    return float(np.asarray(rel.dataobj).sum(dtype=np.float64))
