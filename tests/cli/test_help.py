"""``--help`` names each default once, and only where there is one."""

from __future__ import annotations

import re

import pytest

from bids_lrp.cli.parser import build_parser


def _train_parser():
    from bids_lrp.cli.train import build_parser as train_parser

    return train_parser()


@pytest.mark.parametrize("make", [build_parser, _train_parser], ids=["bids_lrp", "train"])
def test_help_has_no_empty_or_repeated_defaults(make):
    text = " ".join(make().format_help().split())
    assert "(default: None)" not in text and "(default: False)" not in text
    for entry in re.split(r"\s(?=-{1,2}[a-z])", text):
        assert entry.count("default") <= 1 or "defaults:" in entry, entry
    assert "(default: 0.9)" in text or "train" in make.__name__
