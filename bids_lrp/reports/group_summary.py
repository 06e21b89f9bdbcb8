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


def _readable(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


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
    if isinstance(settings, dict):
        shown = {k: v for k, v in settings.items() if v not in (None, [], {}, "")}
        rows.append(("Settings", "; ".join(f"{k} = {_readable(v)}" for k, v in shown.items())))
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
