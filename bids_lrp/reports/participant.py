"""The participant report: ``<out>/sub-<l>.html`` with its figures in ``<out>/sub-<l>/figures/``.

Built from the derivatives alone (see `bids_lrp.reports.discover`). Top-level sections have
stable ids (`SECTIONS`); inside each, one block per T1w image of the participant (sessions,
runs), with id ``<section>-<prefix>``. A part that cannot be shown (missing or unreadable file)
becomes a notice in the ``warnings`` section instead of an error.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from bids_lrp import __version__
from bids_lrp.layout import ImageOutputs, find_images
from bids_lrp.reports import checks
from bids_lrp.reports.discover import bids_root, read_sidecar
from bids_lrp.reports.figures import bar_chart
from bids_lrp.reports.html import (
    Section,
    alert,
    definition_list,
    esc,
    figure,
    notice_list,
    page,
    probability_bars,
    table,
)
from bids_lrp.reports.participant_faithfulness import faithfulness_section
from bids_lrp.reports.participant_maps import relevance_section
from bids_lrp.reports.participant_registration import registration_section
from bids_lrp.reports.participant_state import (
    SECTIONS,
    UNREADABLE,
    Report,
    guarded,
    load_image,
    read_tsv,
)
from bids_lrp.safewrite import atomic_write_text

__all__ = ["SECTIONS", "write_participant_report"]

LOGGER = logging.getLogger("bids_lrp")

TOP_REGIONS = 10


def _diagnosis(bids_dir: Path | None, label: str) -> dict[str, str]:
    """Diagnosis-like columns of the participant in ``participants.tsv`` (if any)."""
    if bids_dir is None or not (Path(bids_dir) / "participants.tsv").is_file():
        return {}
    try:
        table_ = read_tsv(Path(bids_dir) / "participants.tsv").astype(str)
    except UNREADABLE:
        return {}
    if "participant_id" not in table_.columns:
        return {}
    rows = table_[table_["participant_id"] == f"sub-{label}"]
    columns = [c for c in table_.columns if c.lower() in ("diagnosis", "dx", "group", "label")]
    return {c: rows.iloc[0][c] for c in columns} if len(rows) else {}


def _prediction(report: Report, image: ImageOutputs) -> dict[str, Any]:
    """Prediction block; returns the predictions sidecar (model metadata) or ``{}``."""
    if image.prediction is None:
        report.notice("error", "no predictions file", image.prefix, "missing")
        report.add("prediction", image, alert("error", "No predictions file was found."))
        return {}
    try:
        row = read_tsv(image.prediction).iloc[0].to_dict()
    except (*UNREADABLE, IndexError, pd.errors.ParserError) as err:
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
    return read_sidecar(image.prediction)


def _regions(report: Report, image: ImageOutputs) -> None:
    parts = []
    for desc, atlases in sorted(image.regions.items()):
        for atlas, path in sorted(atlases.items()):
            try:
                regions = read_tsv(path)
                positive = regions[regions["relevance_sum"] > 0]
                top = positive.sort_values("relevance_sum", ascending=False).head(TOP_REGIONS)
            except (*UNREADABLE, KeyError, pd.errors.ParserError) as err:
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


def _conservation(report: Report) -> None:
    for image, rows in report.conservation.values():
        caption = checks.CONSERVATION_CAPTION
        report.add("conservation", image, table(rows, list(rows[0]), caption=caption))


def _model(report: Report, image: ImageOutputs, sidecar: dict[str, Any]) -> None:
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


def _image(report: Report, image: ImageOutputs) -> None:
    sidecar = guarded(report, image, "prediction", _prediction) or {}
    _model(report, image, sidecar)
    preproc = None
    if image.network_input is None:
        report.notice("error", "no normalized T1w (desc-preproc)", image.prefix, "missing")
    else:
        preproc = guarded(
            report, image, "normalized T1w", lambda r, i: load_image(i.network_input)
        )
    guarded(report, image, "registration check", registration_section, preproc)
    guarded(report, image, "relevance maps", relevance_section, preproc)
    guarded(report, image, "top regions", _regions)
    guarded(report, image, "faithfulness", faithfulness_section)


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
    report = Report(output_dir, label, Path(bids_dir) if bids_dir else None, native_space, logged)
    images = find_images(output_dir, [label])
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
