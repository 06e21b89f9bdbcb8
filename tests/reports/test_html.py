"""The page builder: escaping, number formatting, unique section ids."""

from __future__ import annotations

import math

import pytest

from bids_lrp.reports.html import Notice, Section, fmt, notice_list, page, table


def test_text_from_files_is_escaped():
    html = table([{"name": "<img src=x onerror=alert(1)>", "v": 1.5}], ["name", "v"])
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    notices = notice_list([Notice("warning", 'a "quoted" <b>text</b>', scope="sub-01")])
    assert "<b>" not in notices and "&lt;b&gt;" in notices


def test_numbers_are_formatted_compactly():
    assert fmt(0.123456789) == "0.1235"
    assert fmt(1.5e-7) == "1.5e-07"
    assert fmt(None) == "n/a" and fmt(math.nan) == "n/a" and fmt(math.inf) == "inf"
    assert fmt(3) == "3" and fmt("AD") == "AD"


def test_errors_come_first_and_no_notice_is_ok():
    html = notice_list([Notice("warning", "w"), Notice("error", "e", code="missing")])
    assert html.index("e</div>") < html.index("w</div>")
    assert 'data-code="missing"' in html
    assert 'class="alert ok"' in notice_list([])


def test_section_ids_must_be_unique():
    with pytest.raises(ValueError, match="unique"):
        page("t", "s", [Section("a", "A", ""), Section("a", "B", "")])
    html = page("t", "s", [Section("a", "A", "<p>x</p>")])
    assert html.startswith("<!DOCTYPE html>") and '<section class="report" id="a">' in html
