"""Reports open offline and are written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bids_lrp.safewrite
from bids_lrp.reports import write_participant_report
from tests.reports.browser import scan_html


def _reports(participant: Path, groups: dict[str, Path]) -> list[Path]:
    return [participant, *groups.values()]


def test_no_network_resource_and_no_script(session_participant_report, session_group_reports):
    for path in _reports(session_participant_report, session_group_reports):
        text = path.read_text(encoding="utf-8")
        page = scan_html(text)
        assert page.remote == [], path
        assert "<script" not in text.lower()
        assert "@import" not in text and "@font-face" not in text
        for resource in page.resources:
            if not resource.startswith("#"):
                assert (path.parent / resource).is_file(), resource


def test_the_remote_check_can_fail():
    page = scan_html(
        '<img src="https://cdn.example/x.png"><link rel="stylesheet" href="//cdn.example/a.css">'
        '<div style="background: url(http://example.org/b.png)"></div>'
        "<style>@font-face { src: url('https://fonts.example/f.woff2') }</style>"
        '<a href="#prediction">local</a><img src="sub-01/figures/x.png">'
    )
    assert len(page.remote) == 4
    assert "#prediction" in page.resources and "sub-01/figures/x.png" in page.resources


def test_no_temporary_file_left(session_participant_report, session_group_reports):
    for path in _reports(session_participant_report, session_group_reports):
        root = path.parent.parent if path.parent.name == "group" else path.parent
        assert [p for p in root.rglob("*") if p.name.endswith(".tmp")] == []


def test_a_failed_write_keeps_the_previous_report(participant_out, monkeypatch):
    out, bids = participant_out
    html = write_participant_report(out, "01", bids_dir=bids)
    figures = {p: p.read_bytes() for p in (out / "sub-01" / "figures").iterdir()}
    before = html.read_bytes()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    # Every file is flushed to disk before it replaces the old one: fail right there.
    monkeypatch.setattr(bids_lrp.safewrite.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_participant_report(out, "01", bids_dir=bids)
    monkeypatch.undo()
    assert html.read_bytes() == before
    assert {p: p.read_bytes() for p in figures} == figures
    assert [p for p in out.rglob("*") if p.name.endswith(".tmp")] == []
    assert sorted(os.listdir(out / "sub-01" / "figures")) == sorted(p.name for p in figures)
