"""Every figure of both reports is legible at 100 % zoom: no tiny text, no offset exponents,
nothing drawn outside the figure (a clipped title or tick label)."""

from __future__ import annotations

import matplotlib
import matplotlib.text
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bids_lrp.reports import write_participant_report
from bids_lrp.reports.figures import _RC
from bids_lrp.reports.group import write_group_report
from tests.reports.conftest import make_group, make_participant

#: Smallest text size (points; 100 dpi: 9.7 px, the size of the report's small print).
MIN_POINTS = 7.0


@pytest.fixture
def figures(monkeypatch) -> list[Figure]:
    """The figures the reports render, as they are saved."""
    seen: list[Figure] = []
    savefig = Figure.savefig

    def record(fig, *args, **kwargs):
        result = savefig(fig, *args, **kwargs)
        seen.append(fig)
        return result

    monkeypatch.setattr(Figure, "savefig", record)
    return seen


def problems(fig: Figure) -> list[str]:
    """What a reader could not read in ``fig``, drawn as the reports save it (Agg, 100 dpi)."""
    canvas = FigureCanvasAgg(fig)
    with matplotlib.rc_context(_RC):
        canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    found = []
    hidden = _ticks_not_drawn(fig)
    for text in fig.findobj(matplotlib.text.Text):
        if not text.get_visible() or not text.get_text().strip() or id(text) in hidden:
            continue
        if text.get_fontsize() < MIN_POINTS:
            found.append(f"{text.get_text()!r} at {text.get_fontsize():g} pt")
        extent = text.get_window_extent(renderer)
        if (
            extent.x0 < box.x0 - 1
            or extent.x1 > box.x1 + 1
            or extent.y0 < box.y0 - 1
            or extent.y1 > box.y1 + 1
        ):
            found.append(f"{text.get_text()!r} outside the figure")
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            offset = axis.get_offset_text()
            if offset.get_visible() and offset.get_text():
                found.append(f"offset text {offset.get_text()!r}")
    return found


def _ticks_not_drawn(fig: Figure) -> set[int]:
    """Tick labels outside their axis' view limits: matplotlib keeps them but never draws them."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            margin = 1e-9 * max(abs(low), abs(high), 1e-300)
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                if not low - margin <= tick.get_loc() <= high + margin:
                    hidden |= {id(tick.label1), id(tick.label2)}
    return hidden


def test_participant_report_figures_are_legible(tmp_path, figures):
    out = make_participant(tmp_path / "out", tmp_path / "bids")
    write_participant_report(out, "01", bids_dir=tmp_path / "bids")
    assert len(figures) >= 9
    assert [p for f in figures for p in problems(f)] == []


def test_group_report_figures_are_legible(tmp_path, figures):
    out = make_group(tmp_path / "out", labelled=True, noisy_control_area="Amygdala")
    write_group_report(out)
    assert len(figures) >= 8
    assert [p for f in figures for p in problems(f)] == []


def test_the_check_sees_tiny_text_an_offset_and_a_clipped_title():
    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.plot([0, 1], [1e-6, 2e-6])
    ax.set_title("a title far too long to fit into a figure only three inches wide, clipped")
    ax.tick_params(labelsize=5)
    found = problems(fig)
    assert any("outside the figure" in p for p in found)
    assert any("at 5 pt" in p for p in found)
    assert any(p.startswith("offset text") for p in found)
