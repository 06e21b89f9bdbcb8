"""A small, self-contained HTML page builder (inline CSS, no scripts, no external resources).

Reports must open offline, years later, from a copied folder: every style is inline in the page,
images are referenced by relative path, and nothing is fetched from a CDN or a font service.
Every piece of text passes through `esc`; functions return HTML fragments as strings.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Notice",
    "Section",
    "alert",
    "definition_list",
    "esc",
    "figure",
    "flatten",
    "fmt",
    "json_details",
    "notice_list",
    "page",
    "probability_bars",
    "table",
]

CSS = """
:root { --fg: #1d2430; --muted: #5b6472; --line: #d9dde3; --accent: #2456a6;
        --warn: #8a5a00; --warn-bg: #fff4dc; --err: #a01818; --err-bg: #fde8e8;
        --ok: #1f6b35; --ok-bg: #e6f4ea; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); background: #fff; }
header.top { background: #1d2430; color: #fff; padding: 14px 24px; }
header.top h1 { margin: 0; font-size: 22px; }
header.top p { margin: 2px 0 0; color: #c9d1dc; font-size: 13px; }
nav { position: sticky; top: 0; background: #f4f6f9; border-bottom: 1px solid var(--line);
      padding: 6px 24px; z-index: 2; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; font-size: 14px; }
main { max-width: 1280px; margin: 0 auto; padding: 8px 24px 40px; }
section.report { border-bottom: 1px solid var(--line); padding: 10px 0 18px; }
section.report > h2 { font-size: 20px; margin: 12px 0 8px; }
div.block { margin: 10px 0 18px; }
div.block > h3 { font-size: 16px; margin: 10px 0 6px; color: var(--muted); }
figure { margin: 8px 0 16px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
figcaption { font-size: 13px; color: var(--muted); max-width: 1100px; }
table.data { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; }
table.data th, table.data td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; }
table.data th { background: #f4f6f9; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.data caption { caption-side: top; text-align: left; font-size: 13px;
                     color: var(--muted); padding-bottom: 4px; }
dl.kv { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 16px;
        margin: 6px 0; }
dl.kv dt { font-weight: 600; } dl.kv dd { margin: 0; overflow-wrap: anywhere; }
code { overflow-wrap: anywhere; }
div.alert { border-left: 4px solid; padding: 6px 12px; margin: 6px 0; border-radius: 2px; }
div.alert.warning { border-color: var(--warn); background: var(--warn-bg); }
div.alert.error { border-color: var(--err); background: var(--err-bg); }
div.alert.ok { border-color: var(--ok); background: var(--ok-bg); }
div.alert.info { border-color: var(--accent); background: #eaf0fb; }
span.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
             font-weight: 600; background: var(--err-bg); color: var(--err);
             border: 1px solid var(--err); }
div.probs { display: grid; grid-template-columns: 60px 320px 70px; gap: 4px 8px;
            align-items: center; margin: 6px 0; }
div.probs div.bar { background: #eceff3; height: 14px; border-radius: 2px; }
div.probs div.bar span { display: block; height: 14px; background: var(--accent);
                         border-radius: 2px; }
p.muted, span.muted { color: var(--muted); }
footer { color: var(--muted); font-size: 12px; padding: 12px 24px 24px; max-width: 1280px;
         margin: 0 auto; }
"""


@dataclass(frozen=True)
class Section:
    """One top-level section of a report: a stable ``id`` (anchor), a title and its HTML body."""

    id: str
    title: str
    body: str


@dataclass(frozen=True)
class Notice:
    """A warning or an error shown in a report.

    Attributes
    ----------
    level : str
        ``"warning"`` or ``"error"``.
    text : str
        What is wrong and what it means for the reader.
    scope : str
        Which image (or part) it concerns; empty for the whole report.
    code : str
        A stable short name of the check (``registration``, ``conservation``, ...), written as
        the box's ``data-code`` so tests and scripts can find it.
    """

    level: str
    text: str
    scope: str = ""
    code: str = ""


def esc(value: Any) -> str:
    """Escape any value for HTML text or attribute content."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 4) -> str:
    """Format a number compactly (significant digits); other values as text; None as ``n/a``."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}g}"
    try:
        return fmt(float(value), digits) if _is_number_like(value) else str(value)
    except (TypeError, ValueError):
        return str(value)


def _is_number_like(value: Any) -> bool:
    return hasattr(value, "__float__") and not isinstance(value, str)


def alert(level: str, text_html: str, *, code: str = "") -> str:
    """A coloured box; ``level`` is ``ok``, ``info``, ``warning`` or ``error``."""
    data = f' data-code="{esc(code)}"' if code else ""
    return f'<div class="alert {esc(level)}"{data}>{text_html}</div>'


def notice_list(notices: Sequence[Notice], *, empty: str = "No warnings.") -> str:
    """Render notices as alert boxes (errors first), or an ``ok`` box when there are none."""
    if not notices:
        return alert("ok", esc(empty))
    ordered = sorted(notices, key=lambda n: n.level != "error")
    parts = []
    for notice in ordered:
        scope = f"<strong>{esc(notice.scope)}</strong>: " if notice.scope else ""
        parts.append(alert(notice.level, f"{scope}{esc(notice.text)}", code=notice.code))
    return "\n".join(parts)


def definition_list(items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """A two-column key/value list; values are escaped and formatted with `fmt`."""
    pairs = items.items() if isinstance(items, Mapping) else items
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(fmt(v))}</dd>" for k, v in pairs)
    return f'<dl class="kv">{rows}</dl>'


def table(
    rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]],
    columns: Sequence[str],
    *,
    headers: Sequence[str] | None = None,
    caption: str | None = None,
    digits: int = 4,
) -> str:
    """An HTML table; numbers are right-aligned and formatted with `fmt`.

    Parameters
    ----------
    rows
        Mappings (looked up by ``columns``) or sequences (in ``columns`` order).
    columns
        Keys of the values to show.
    headers
        Column titles (default: ``columns``).
    caption
        Optional caption above the table.
    digits
        Significant digits for floats.
    """
    headers = list(headers or columns)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        values = [row.get(c) for c in columns] if isinstance(row, Mapping) else list(row)
        cells = []
        for value in values:
            numeric = _is_number_like(value) or isinstance(value, int | float)
            css = ' class="num"' if numeric and not isinstance(value, bool) else ""
            cells.append(f"<td{css}>{esc(fmt(value, digits))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (
        f'<table class="data">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def figure(src: str, caption: str, *, alt: str | None = None) -> str:
    """An image (relative path) with its caption."""
    return (
        f'<figure><img src="{esc(src)}" alt="{esc(alt or caption)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def probability_bars(probabilities: Mapping[str, float]) -> str:
    """Class probabilities as horizontal CSS bars (no image needed)."""
    rows = []
    for name, p in probabilities.items():
        width = 0.0 if p is None or math.isnan(p) else max(0.0, min(1.0, float(p))) * 100
        rows.append(
            f"<div>{esc(name)}</div>"
            f'<div class="bar"><span style="width:{width:.1f}%"></span></div>'
            f"<div>{esc(fmt(p, 3))}</div>"
        )
    return f'<div class="probs">{"".join(rows)}</div>'


def page(title: str, subtitle: str, sections: Sequence[Section], *, footer: str = "") -> str:
    """A complete HTML5 document: header, navigation to each section, the sections, a footer.

    The page has no scripts and no external resources (styles are inline).
    """
    ids = [s.id for s in sections]
    if len(set(ids)) != len(ids):
        raise ValueError(f"section ids must be unique, got {ids}")
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    body = "\n".join(
        f'<section class="report" id="{esc(s.id)}"><h2>{esc(s.title)}</h2>\n{s.body}\n</section>'
        for s in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n"
        f'<header class="top"><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>\n'
        f"<nav>{nav}</nav>\n<main>\n{body}\n</main>\n"
        f"<footer>{footer}</footer>\n</body></html>\n"
    )


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested JSON as (dotted key, value) pairs; lists of scalars joined."""
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in flatten(v, f"{prefix}{k}.")]
    if isinstance(data, list) and all(not isinstance(v, dict | list) for v in data):
        return [(prefix.rstrip("."), ", ".join(map(str, data)) or "none")]
    if isinstance(data, list):
        return [(prefix.rstrip("."), f"{len(data)} entries")]
    return [(prefix.rstrip("."), data)]


def json_details(data: dict[str, Any], title: str) -> str:
    """A JSON object as a collapsed key/value list (nothing when empty)."""
    if not data:
        return ""
    return f"<details><summary>{esc(title)}</summary>{definition_list(flatten(data))}</details>"
