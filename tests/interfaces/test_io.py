"""Writing derivatives with BIDS names and sidecars (`bids_lrp.interfaces.io`)."""

from __future__ import annotations

import json

import pytest

from bids_lrp.interfaces.io import DerivativesSink, write_derivatives


def test_files_get_their_names_and_sidecars(tmp_path):
    sources = []
    for k in range(2):
        path = tmp_path / f"work{k}.tsv"
        path.write_text(f"table {k}\n")
        sources.append(str(path))
    outs = write_derivatives(
        sources,
        str(tmp_path / "out"),
        {"sub": "01", "ses": "1", "space": "X"},
        "relevance",
        varying={"atlas": "A", "desc": ["LRPb0", "GuidedBackprop"]},
        meta=[{"Method": "boehle2019"}, {"Method": "guided-backprop"}],
        common_meta={"Atlas": "A", "Method": "overridden"},
    )
    anat = tmp_path / "out" / "sub-01" / "ses-1" / "anat"
    assert outs == [
        str(anat / "sub-01_ses-1_space-X_atlas-A_desc-LRPb0_relevance.tsv"),
        str(anat / "sub-01_ses-1_space-X_atlas-A_desc-GuidedBackprop_relevance.tsv"),
    ]
    assert (anat / "sub-01_ses-1_space-X_atlas-A_desc-LRPb0_relevance.tsv").read_text() == (
        "table 0\n"
    )
    sidecar = json.loads(
        (anat / "sub-01_ses-1_space-X_atlas-A_desc-LRPb0_relevance.json").read_text()
    )
    assert sidecar == {"Atlas": "A", "Method": "boehle2019"}


def test_two_files_with_one_name_are_refused(tmp_path):
    (tmp_path / "a.tsv").write_text("a")
    with pytest.raises(ValueError, match="same name"):
        write_derivatives(
            [str(tmp_path / "a.tsv")] * 2, str(tmp_path / "out"), {"sub": "01"}, "predictions"
        )
    with pytest.raises(ValueError, match="1 entries for 2 files"):
        write_derivatives(
            [str(tmp_path / "a.tsv")] * 2,
            str(tmp_path / "out"),
            {"sub": "01"},
            "predictions",
            varying={"desc": ["x"]},
        )
    assert not (tmp_path / "out").exists()


def test_the_sink_interface_writes_through_write_derivatives(tmp_path):
    (tmp_path / "p.tsv").write_text("p")
    result = DerivativesSink(
        in_file=[str(tmp_path / "p.tsv")],
        base_directory=str(tmp_path / "out"),
        entities={"sub": "01"},
        suffix="predictions",
        desc="m",
    ).run()
    assert result.outputs.out_file == [
        str(tmp_path / "out/sub-01/anat/sub-01_desc-m_predictions.tsv")
    ]
