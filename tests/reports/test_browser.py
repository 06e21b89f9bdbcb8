"""Reports in a real browser (headless Chromium): images load, no console error, all sections.

These tests fail, never skip, when Chromium cannot start: CI installs it.
"""

from __future__ import annotations

import pytest

from bids_lrp.reports.group import SECTIONS as GROUP_SECTIONS
from bids_lrp.reports.participant import SECTIONS as PARTICIPANT_SECTIONS
from tests.reports.browser import open_page

PNG = b"\x89PNG\r\n\x1a\n"


def _screenshot_ok(check) -> None:
    data = check.screenshot.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000, check.screenshot


def _legible(check) -> None:
    assert check.shrunk_images == []  # figures shown at their own size: text as designed
    assert check.break_all == []  # words are not cut in two
    assert check.overflow_px <= 0  # no sideways scrolling


def test_participant_report_in_chromium(session_participant_report):
    check = open_page(session_participant_report, "participant-report")
    assert check.broken_images == []
    assert check.severe_console == []
    assert check.section_ids == list(PARTICIPANT_SECTIONS)
    assert check.n_images == 20  # 2 sessions x 10 figures (9 + the faithfulness curves)
    _screenshot_ok(check)
    _legible(check)


@pytest.mark.parametrize("kind", ["labelled", "unlabelled"])
def test_group_report_in_chromium(session_group_reports, kind):
    check = open_page(session_group_reports[kind], f"group-report-{kind}")
    assert check.broken_images == []
    assert check.severe_console == []
    assert check.section_ids == list(GROUP_SECTIONS)
    assert check.n_images == (12 if kind == "labelled" else 4)
    _screenshot_ok(check)
    _legible(check)


def test_the_browser_check_sees_a_broken_page(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><section id="a">'
        '<img src="missing.png"><img src="https://example.invalid/remote.png">'
        "<script>console.error('deliberate error')</script></section></body></html>"
    )
    check = open_page(page, "broken-page")
    assert sorted(check.broken_images) == ["https://example.invalid/remote.png", "missing.png"]
    assert any("deliberate error" in message for message in check.severe_console)
    assert check.section_ids == ["a"]


def test_the_browser_check_sees_an_illegible_page(tmp_path):
    from PIL import Image

    Image.new("RGB", (3000, 200), "white").save(tmp_path / "wide.png")
    page = tmp_path / "illegible.html"
    page.write_text(
        '<!DOCTYPE html><html><body><section id="a">'
        '<img src="wide.png" style="max-width: 100%">'
        '<p style="word-break: break-all">IntendedUse: research</p>'
        '<div style="width: 3000px">a table too wide</div></section></body></html>'
    )
    check = open_page(page, "illegible-page")
    assert check.shrunk_images and "wide.png" in check.shrunk_images[0]
    assert check.break_all == ["p: IntendedUse: research"]
    assert check.overflow_px > 0


def test_no_selenium_manager(tmp_path, monkeypatch):
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def refuse(*args, **kwargs):
        raise AssertionError("Selenium Manager must not run (it would use the network)")

    monkeypatch.setattr(SeleniumManager, "binary_paths", refuse)
    page = tmp_path / "ok.html"
    page.write_text('<!DOCTYPE html><html><body><section id="s">ok</section></body></html>')
    check = open_page(page, "no-selenium-manager")
    assert check.section_ids == ["s"] and check.severe_console == []
