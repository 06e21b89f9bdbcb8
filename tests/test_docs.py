"""The documentation: a short README, pages without history, and a check that can fail."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from tests.e2e.documented import column_pattern, file_pattern, undocumented

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_is_short_and_points_to_the_docs():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 80
    assert "bids_lrp bids_dir out_dir participant" in text and "docs/" in text
    assert (ROOT / "docs" / "_static" / "participant_report.png").is_file()
    assert "../shared" not in text


def test_pages_say_what_the_code_does_not_how_it_was_found():
    rounds = re.compile(r"\b(first|second|third|\w+th) round\b", re.IGNORECASE)
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert not rounds.search(page.read_text(encoding="utf-8")), page.name


def test_the_outputs_check_sees_an_undocumented_file_and_column(tmp_path):
    anat = tmp_path / "sub-01" / "anat"
    anat.mkdir(parents=True)
    table = (
        anat / "sub-01_space-MNI152NLin2009cAsym_atlas-Neuromorphometrics_desc-LRPb0_relevance.tsv"
    )
    pd.DataFrame({"name": ["a"], "relevance_sum": [1.0], "secret_column": [2]}).to_csv(
        table, sep="\t", index=False
    )
    (anat / "sub-01_desc-mystery_T1w.nii.gz").write_bytes(b"")
    missing = undocumented(tmp_path, {"LRPb0"}, "MNI152NLin2009cAsym", "tinytest")
    assert missing == [
        "column secret_column of <prefix>_space-<tpl>_atlas-<A>_desc-<M>_relevance.tsv",
        "file sub-01/anat/sub-01_desc-mystery_T1w.nii.gz (<prefix>_desc-mystery_T1w.nii.gz)",
    ]


def test_names_reduce_to_the_documented_patterns():
    name = "sub-01_ses-2_space-MNI152NLin2009cAsym_desc-LRPb0p5_relevance.nii.gz"
    assert file_pattern(name, {"LRPb0", "LRPb0p5"}, "MNI152NLin2009cAsym", "m") == (
        "<prefix>_space-<tpl>_desc-<M>_relevance.nii.gz"
    )
    assert column_pattern("unstable_gain_TP_HC") == "unstable_gain_<g>_HC"
    assert column_pattern("mean_FN") == "mean_<g>"
    assert column_pattern("probability_HC") == "probability_<class>"
