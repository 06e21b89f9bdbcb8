"""The group report drawn in a worker process while maps stream equals the one drawn after."""

from __future__ import annotations

import shutil
from pathlib import Path

from bids_lrp.cli.run import main
from bids_lrp.group.run import NoReport
from bids_lrp.reports import background as report


def _run(bids: Path, out: Path) -> int:
    return main([str(bids), str(out), "group", "-w", str(out.parent / "work"), "--nprocs", "2"])


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_report_drawn_beside_the_group_level_is_the_same(
    tmp_path, fake_bids, fake_outputs, monkeypatch
):
    one_go, beside = tmp_path / "one-go", tmp_path / "beside"
    shutil.copytree(fake_outputs, one_go)
    shutil.copytree(fake_outputs, beside)
    assert _run(fake_bids, one_go) == 0  # a small cohort: drawn in the main process

    outcomes: dict[tuple[str, ...], BaseException | None] = {}
    finish = report.GroupReport.finish

    def spy(self):
        assert self.pool is not None, "the report was not drawn in a worker"
        outcomes.update({part: f.exception() for part, f in self.futures.items()})
        finish(self)

    monkeypatch.setattr(report, "BACKGROUND_FROM", 0)
    monkeypatch.setattr(report.GroupReport, "finish", spy)
    assert _run(fake_bids, beside) == 0

    kinds = {part[0] for part in outcomes}
    assert kinds == {"pair", "maps"}, outcomes
    assert all(error is None for error in outcomes.values()), outcomes
    html = "group/group_report.html"
    assert (beside / html).read_bytes() == (one_go / html).read_bytes()
    assert _files(beside / "group" / "figures") == _files(one_go / "group" / "figures")


def test_without_a_report_the_group_level_still_writes_its_data(
    tmp_path, fake_bids, fake_outputs, monkeypatch
):
    """`run_group_level` draws through the report it is given: `NoReport` draws nothing."""
    out = tmp_path / "out"
    shutil.copytree(fake_outputs, out)
    monkeypatch.setattr(report, "GroupReport", NoReport)
    assert _run(fake_bids, out) == 0
    assert (out / "group" / "group_summary.json").is_file()
    assert not (out / "group" / "group_report.html").exists()
