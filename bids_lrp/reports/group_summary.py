"""The group report's Summary and Skipped sections, from ``group_summary.json``."""

from __future__ import annotations

from typing import Any

from bids_lrp.reports.html import definition_list, esc, table

__all__ = ["summary_blocks"]

#: The rows of the summary: label -> key of ``group_summary.json``.
_SUMMARY_ROWS = {
    "Images used": "ImagesUsed",
    "Images per group": "GroupSizes",
    "Template space": "Space",
    "Model": "Model",
    "Methods": "Methods",
    "Atlases": "Atlases",
}


#: The group level's settings as a reader knows them: key -> (option, what it decides).
_SETTINGS = {
    "label_column": ("--label-column", "column of participants.tsv with the diagnosis"),
    "ad_labels": ("--ad-labels", "values of that column that mean AD"),
    "hc_labels": ("--hc-labels", "values of that column that mean HC"),
    "area_grouping": ("--area-grouping", "how atlas labels are merged into areas"),
    "fingerprint_areas": ("--fingerprint-areas", "areas of the relevance fingerprints"),
    "volume_columns": ("--volumes", "area = column of external volumes"),
    "volume_areas": ("--volume-areas", "areas of the volume-relevance correlation"),
    "permutations": ("--permutations", "permutations of the correlation test"),
    "confidence": ("--confidence", "p(AD) above which a true positive is confident"),
    "participant_label": ("--participant-label", "participants included (none: all)"),
    "session_label": ("--session-label", "sessions included (none: all)"),
    "nprocs": ("--nprocs", "processes used"),
}


def _settings_table(settings: dict[str, Any]) -> str:
    rows = [
        {"option": option, "value": _readable(settings[key]), "what it decides": meaning}
        for key, (option, meaning) in _SETTINGS.items()
        if key in settings
    ]
    return table(
        rows, ["option", "value", "what it decides"], caption="Settings of this group run"
    )


def _readable(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


def summary_blocks(rep, summary: dict[str, Any]) -> None:
    """What was used (summary) and what was left out (skipped), from ``group_summary.json``."""
    if not summary:
        rep.say("summary", "warning", "group_summary.json is missing or unreadable.")
        rep.say("skipped", "warning", "group_summary.json is missing or unreadable.")
        return
    rows = [
        (label, _readable(summary[key])) for label, key in _SUMMARY_ROWS.items() if key in summary
    ]
    settings = summary.get("Settings")
    images = summary.get("ImagesSkipped") or {}
    maps = summary.get("MapsSkipped") or {}
    notes = summary.get("Skipped") or []
    if images or maps or notes:
        rows.append(
            (
                "Left out",
                f"{len(images)} image(s), {len(maps)} relevance map(s) of the mean maps, "
                f"{len(notes)} analysis note(s): see Skipped",
            )
        )
    rep.blocks["summary"].append(definition_list(rows))
    if isinstance(settings, dict):
        rep.blocks["summary"].append(_settings_table(settings))
    if isinstance(images, dict) and images:
        rows = [{"image": k, "reason": v} for k, v in images.items()]
        rep.blocks["skipped"].append("<h3>Images</h3>" + table(rows, ["image", "reason"]))
    if isinstance(maps, dict) and maps:
        rows = [{"image": k, "reason": v} for k, v in maps.items()]
        rep.blocks["skipped"].append(
            "<h3>Maps left out of the mean maps</h3>" + table(rows, ["image", "reason"])
        )
    if isinstance(notes, list) and notes:
        items = "".join(f"<li>{esc(str(n))}</li>" for n in notes)
        rep.blocks["skipped"].append(f"<h3>Analyses not computed</h3><ul>{items}</ul>")
    if not rep.blocks["skipped"]:
        rep.say("skipped", "ok", "Nothing was skipped: every image, map and analysis was used.")
