"""The tools' logging follows ``sys.stderr`` and each tool sets its own level, so one process
that runs several of them (a notebook, the test suite) gets neither "--- Logging error ---"
tracebacks nor another tool's INFO lines."""

from __future__ import annotations

import io
import logging
import sys

from bids_lrp.exitcodes import EX_CANTCREAT
from bids_lrp.process.logs import setup_logging
from bids_lrp.simulate.cli import main as simulate


def test_records_follow_a_replaced_stderr(monkeypatch):
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging("prog", logging.INFO)
    first.close()  # e.g. the capture of an earlier notebook cell or test
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("bids_lrp.somewhere").info("hello")
    assert second.getvalue().endswith(" prog hello\n")
    assert "Logging error" not in second.getvalue()


def test_write_function_gets_each_line(monkeypatch):
    lines: list[str] = []
    setup_logging("prog", logging.WARNING, write=lines.append)
    log = logging.getLogger("bids_lrp.somewhere")
    log.info("quiet")
    log.warning("loud")
    assert len(lines) == 1 and lines[0].endswith(" prog loud")
    assert len(logging.getLogger("bids_lrp").handlers) == 1


def test_simulator_after_the_participant_level_prints_one_line(tmp_path, capsys):
    setup_logging("bids_lrp", logging.INFO)  # what `bids_lrp ... participant` leaves in-process
    (tmp_path / "file").write_text("")
    assert simulate([str(tmp_path / "file" / "out"), "--n-subjects", "1"]) == EX_CANTCREAT
    err = capsys.readouterr().err
    assert err.startswith("bids_lrp-simulate: error: cannot write")
    assert len(err.strip().splitlines()) == 1, err
