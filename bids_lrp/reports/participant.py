"""The participant report: ``<out>/sub-<l>.html`` with its figures in ``<out>/sub-<l>/figures/``.

Built from the derivatives alone (see `bids_lrp.reports.discover`). Top-level sections have
stable ids (`SECTIONS`); inside each, one block per T1w image of the participant (sessions,
runs), with id ``<section>-<prefix>``. A part that cannot be shown (missing or unreadable file)
becomes a notice in the ``warnings`` section instead of an error.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from bids_lrp import __version__
from bids_lrp.outputs import atomic_write_text
from bids_lrp.reports import checks
from bids_lrp.reports.brain import slice_mosaic
from bids_lrp.reports.discover import (
    ImageOutputs,
    bids_root,
    find_images,
    read_sidecar,
    resolve_source,
)
from bids_lrp.reports.figures import bar_chart, relevance_scale
from bids_lrp.reports.glass import glass_brain
from bids_lrp.reports.html import (
    Notice,
    Section,
    alert,
    definition_list,
    esc,
    figure,
    fmt,
    notice_list,
    page,
    probability_bars,
    table,
)

__all__ = ["SECTIONS", "write_participant_report"]

LOGGER = logging.getLogger("bids_lrp")

#: Section ids of the participant report, in page order.
SECTIONS = {
    "prediction": "Prediction",
    "warnings": "Warnings",
    "registration": "Registration check",
    "relevance": "Relevance maps",
    "regions": "Top regions",
    "conservation": "Conservation check",
    "model": "Model",
    "about": "About",
}
TOP_REGIONS = 10
_UNREADABLE = (OSError, ValueError, EOFError, zlib.error, nib.filebasedimages.ImageFileError)
#: What a damaged file or an unexpected sidecar can raise while one image's part is drawn.
_DAMAGED = (*_UNREADABLE, KeyError, TypeError, IndexError, pd.errors.ParserError)


class _Report:
    """What one report accumulates: notices, per-section blocks, models seen, files used."""

    def __init__(
        self,
        output_dir: Path,
        label: str,
        bids_dir: Path | None,
        native_space: bool = True,
        logged: set[str] | None = None,
    ) -> None:
        self.output_dir, self.label, self.bids_dir = output_dir, label, bids_dir
        # notices about the model, logged once for all the reports of a run (each page has them)
        self.logged: set[tuple[str, str]] = logged if logged is not None else set()
        self.native_space = native_space  # whether native-space maps were asked for
        self.figures = output_dir / f"sub-{label}" / "figures"
        self.notices: list[Notice] = []
        self.blocks: dict[str, list[str]] = {key: [] for key in SECTIONS}
        self.models: dict[str, dict[str, Any]] = {}
        self.conservation: dict[str, tuple[ImageOutputs, list[dict[str, Any]]]] = {}
        self._raw: dict[Path, nib.Nifti1Image] = {}
        self.focus: nib.Nifti1Image | None = None  # the brain on the image's native grid

    def notice(self, level: str, text: str, scope: str = "", code: str = "") -> None:
        self.notices.append(Notice(level, text, scope, code))
        level_ = logging.ERROR if level == "error" else logging.WARNING
        if scope.startswith("model"):
            if (scope, text) in self.logged:
                return
            self.logged.add((scope, text))
            LOGGER.log(level_, "reports, %s: %s", scope, text)
            return
        LOGGER.log(level_, "report of sub-%s, %s: %s", self.label, scope or "all images", text)

    def extend(self, notices: list[Notice], scope: str) -> None:
        for notice in notices:
            self.notice(notice.level, notice.text, scope, notice.code)

    def raw(self, path: Path) -> nib.Nifti1Image:
        """The raw T1w, loaded once for all methods."""
        if path not in self._raw:
            self._raw = {path: _load(path)}  # keep one: images come one after the other
        return self._raw[path]

    def src(self, path: Path) -> str:
        """Path of a figure relative to the HTML file (``sub-<l>/figures/<name>``)."""
        return path.relative_to(self.output_dir).as_posix()

    def add(self, section: str, image: ImageOutputs, body: str) -> None:
        block_id = f"{section}-{image.prefix}"
        self.blocks[section].append(
            f'<div class="block" id="{esc(block_id)}"><h3>{esc(image.label)}</h3>{body}</div>'
        )


def _load(path: Path) -> nib.Nifti1Image:
    """Load an image fully (decompressed once, reused by every figure)."""
    img = nib.load(path)
    return nib.Nifti1Image(np.asarray(img.dataobj, dtype=np.float32), img.affine)


def _read_tsv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", na_values=["n/a"])


def _diagnosis(bids_dir: Path | None, label: str) -> dict[str, str]:
    """Diagnosis-like columns of the participant in ``participants.tsv`` (if any)."""
    if bids_dir is None or not (Path(bids_dir) / "participants.tsv").is_file():
        return {}
    try:
        table_ = _read_tsv(Path(bids_dir) / "participants.tsv").astype(str)
    except _UNREADABLE:
        return {}
    if "participant_id" not in table_.columns:
        return {}
    rows = table_[table_["participant_id"] == f"sub-{label}"]
    columns = [c for c in table_.columns if c.lower() in ("diagnosis", "dx", "group", "label")]
    return {c: rows.iloc[0][c] for c in columns} if len(rows) else {}


def _prediction(report: _Report, image: ImageOutputs) -> dict[str, Any]:
    """Prediction block; returns the predictions sidecar (model metadata) or ``{}``."""
    if image.predictions is None:
        report.notice("error", "no predictions file", image.prefix, "missing")
        report.add("prediction", image, alert("error", "No predictions file was found."))
        return {}
    try:
        row = _read_tsv(image.predictions).iloc[0].to_dict()
    except (*_UNREADABLE, IndexError, pd.errors.ParserError) as err:
        report.notice("error", f"unreadable predictions ({err})", image.prefix, "unreadable")
        report.add("prediction", image, alert("error", "The predictions file is unreadable."))
        return {}
    probabilities = {
        k.removeprefix("probability_"): checks.number(v)
        for k, v in row.items()
        if k.startswith("probability_") and checks.number(v) is not None
    }
    report.extend(checks.prediction_notices(probabilities), image.prefix)
    diagnosis = _diagnosis(bids_root(report.output_dir, report.bids_dir), report.label)
    facts = {
        "Predicted class": row.get("predicted_class"),
        "Explained (target) class": row.get("target_class"),
        "Model": row.get("model"),
        **{
            f"logit {k.removeprefix('logit_')}": v
            for k, v in row.items()
            if k.startswith("logit_")
        },
        **{f"{k} (participants.tsv)": v for k, v in diagnosis.items()},
    }
    body = probability_bars(probabilities) + definition_list(facts)
    report.add("prediction", image, body)
    return read_sidecar(image.predictions)


def _registration(report: _Report, image: ImageOutputs, preproc: nib.Nifti1Image | None) -> None:
    if preproc is None:
        report.add("registration", image, alert("error", "No normalized T1w was found."))
        return
    sidecar = read_sidecar(image.preproc)
    meta = sidecar.get("RegistrationQuality")
    meta = meta if isinstance(meta, dict) else {}
    report.extend(checks.registration_notices(meta), image.prefix)
    outlines = checks.template_outlines(image.template or "")
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
    report: _Report, image: ImageOutputs, sidecar: dict[str, Any], preproc: nib.Nifti1Image
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
    report: _Report, image: ImageOutputs, desc: str, preproc: nib.Nifti1Image | None
) -> str:
    """One method's overlays (template space, glass brain, native space) as HTML."""
    meta = read_sidecar(image.relevance.get(desc) or image.native.get(desc))
    parts = [f"<h4>{esc(_method_title(meta, desc))}</h4>"]
    if desc not in image.relevance:
        report.notice(
            "warning", f"no template-space relevance map for {desc}", image.prefix, "missing"
        )
    elif preproc is not None:  # (a missing normalized scan is reported once, elsewhere)
        rel = _load(image.relevance[desc])
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


def _relevance(report: _Report, image: ImageOutputs, preproc: nib.Nifti1Image | None) -> None:
    report.focus = _guarded(report, image, "native-space maps", _native_focus)
    parts = [
        _guarded(report, image, f"{desc} relevance", _method, desc, preproc) or ""
        for desc in image.methods
    ]
    report.add("relevance", image, "".join(parts) or alert("error", "No relevance maps found."))


def _native_focus(report: _Report, image: ImageOutputs) -> nib.Nifti1Image | None:
    """Where any native-space map of the image holds relevance: the brain on the native grid.

    The maps are 0 outside the template brain mask (moved onto the participant's scan), so
    their union spans the brain: the native mosaics spread their slices over it, not over the
    face, neck and scalp of a whole-head scan.
    """
    union = None
    for path in image.native.values():
        img = _load(path)
        inside = np.asarray(img.dataobj) != 0
        if union is not None and union.shape != inside.shape:
            return None
        union = inside if union is None else union | inside
    if union is None or not union.any():
        return None
    return nib.Nifti1Image(union.astype(np.float32), img.affine)


def _native(report: _Report, image: ImageOutputs, desc: str, parts: list[str]) -> float | None:
    """Native-space overlay; returns the native map's relevance sum (or None)."""
    if desc not in image.native:
        if report.native_space:  # else --no-native-space: nothing is missing
            report.notice(
                "warning", f"no native-space relevance map for {desc}", image.prefix, "missing"
            )
        return None
    rel = _load(image.native[desc])
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


def _regions(report: _Report, image: ImageOutputs) -> None:
    parts = []
    for desc, atlases in sorted(image.regions.items()):
        for atlas, path in sorted(atlases.items()):
            try:
                regions = _read_tsv(path)
                positive = regions[regions["relevance_sum"] > 0]
                top = positive.sort_values("relevance_sum", ascending=False).head(TOP_REGIONS)
            except (*_UNREADABLE, KeyError, pd.errors.ParserError) as err:
                report.notice(
                    "error",
                    f"unreadable region table {path.name} ({err})",
                    image.prefix,
                    "missing",
                )
                continue
            columns = [c for c in checks.REGION_COLUMNS if c in top.columns]
            title = f"{desc}, {atlas} atlas: top {len(top)} regions by relevance sum"
            if not len(top):
                parts.append(f"<h4>{esc(desc)}, {esc(atlas)} atlas: no region to rank</h4>")
                parts.append(
                    alert(
                        "info",
                        f"No region of {esc(atlas)} holds positive relevance in this map, so "
                        "there is nothing to rank (an empty map: see the conservation check).",
                    )
                )
                continue
            parts.append(f"<h4>{esc(title)}</h4>")
            chart = report.figures / f"{path.name.split('.')[0]}.svg"
            bar_chart(
                list(top["name"]),
                {"relevance sum": list(top["relevance_sum"])},
                chart,
                title=title,
                xlabel="relevance sum (S_a)",
            )
            parts.append(
                figure(
                    report.src(chart),
                    f"Relevance summed over each region of the {atlas} atlas (S_a), for the "
                    f"{len(top)} regions of highest sum among those with positive relevance; "
                    "the table gives the region's other measures.",
                )
            )
            parts.append(table(top.to_dict("records"), columns))
    if not parts:
        report.notice("warning", "no region tables", image.prefix, "missing")
    report.add("regions", image, "".join(parts) or alert("warning", "No region tables found."))


def _conservation(report: _Report) -> None:
    for image, rows in report.conservation.values():
        caption = checks.CONSERVATION_CAPTION
        report.add("conservation", image, table(rows, list(rows[0]), caption=caption))


def _model(report: _Report, image: ImageOutputs, sidecar: dict[str, Any]) -> None:
    """Remember the image's model (from the predictions sidecar, else a relevance sidecar)."""
    candidates = [sidecar, *(read_sidecar(p) for p in [*image.relevance.values()])]
    model = next((c["Model"] for c in candidates if isinstance(c.get("Model"), dict)), None)
    if not model:
        return
    key = str(model.get("SHA256") or model.get("Name"))
    if key not in report.models:
        template = sidecar.get("Template")
        template = template if isinstance(template, dict) else {}
        report.models[key] = {**model, "_template": template}
        report.extend(checks.model_notices(model), "model")


def _guarded(report: _Report, image: ImageOutputs, part: str, draw, *args) -> Any:
    """Run one part of an image's report; a damaged file becomes a notice, not a crash."""
    try:
        return draw(report, image, *args)
    except _DAMAGED as err:
        LOGGER.exception("report: %s, %s", image.prefix, part)
        report.notice("error", f"{part} could not be shown: {err}", image.prefix, "unreadable")
        return None


def _image(report: _Report, image: ImageOutputs) -> None:
    sidecar = _guarded(report, image, "prediction", _prediction) or {}
    _model(report, image, sidecar)
    preproc = None
    if image.preproc is None:
        report.notice("error", "no normalized T1w (desc-preproc)", image.prefix, "missing")
    else:
        preproc = _guarded(report, image, "normalized T1w", lambda r, i: _load(i.preproc))
    _guarded(report, image, "registration check", _registration, preproc)
    _guarded(report, image, "relevance maps", _relevance, preproc)
    _guarded(report, image, "top regions", _regions)


def write_participant_report(
    output_dir: str | Path,
    subject: str,
    *,
    bids_dir: str | Path | None = None,
    native_space: bool = True,
    logged: set | None = None,
) -> Path:
    """Write ``<out>/sub-<label>.html`` and its figures under ``<out>/sub-<label>/figures/``.

    Parameters
    ----------
    output_dir
        The derivatives folder of the participant level.
    subject
        Participant label, with or without ``sub-``.
    bids_dir
        The input BIDS dataset: gives the raw T1w behind the native-space overlays and the
        diagnosis in ``participants.tsv``. Without it, the local ``SourceDatasets`` recorded in
        the derivatives' ``dataset_description.json`` is tried.
    native_space
        Whether the run asked for native-space maps (``--no-native-space`` did not): only
        then is a missing one warned about.
    logged
        Notices about the model already logged by an earlier report of the run (shared by
        the caller so that a warning about the model is logged once, not per participant).

    Returns
    -------
    Path
        The HTML file (written atomically, like every figure).

    Raises
    ------
    FileNotFoundError
        When ``<out>/sub-<label>`` does not exist.
    """
    output_dir = Path(output_dir)
    label = subject.removeprefix("sub-")
    if not (output_dir / f"sub-{label}").is_dir():
        raise FileNotFoundError(
            f"No outputs for participant {label} in {output_dir} (no folder sub-{label}); "
            "run the participant level first"
        )
    report = _Report(output_dir, label, Path(bids_dir) if bids_dir else None, native_space, logged)
    images = find_images(output_dir, label)
    if not images:
        report.notice("error", f"no derivatives found under sub-{label}", code="missing")
    for image in images:
        _image(report, image)
    _conservation(report)
    report.blocks["warnings"] = [notice_list(report.notices)]
    report.blocks["model"] = [checks.model_html(report.models)]
    report.blocks["about"] = [checks.about_html(output_dir, images)]
    sections = [
        Section(key, title, "\n".join(report.blocks[key]) or alert("info", "Nothing to show."))
        for key, title in SECTIONS.items()
    ]
    # no time stamp: the same outputs give the same report (reruns, resumed runs)
    subtitle = f"bids_lrp {__version__} · {len(images)} image(s)"
    html = page(f"sub-{label}", subtitle, sections, footer=checks.FOOTER)
    return atomic_write_text(output_dir / f"sub-{label}.html", html)
