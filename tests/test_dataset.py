"""The derivatives dataset's own files, written by every job at once."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bids_lrp.dataset import write_citation, write_dataset_files


def _write(args):
    out, bids = args
    for _ in range(20):
        write_dataset_files(out, bids)
    return json.loads((Path(out) / "dataset_description.json").read_text())


def test_dataset_files_concurrent(tmp_path):
    bids = tmp_path / "bids"
    bids.mkdir()
    (bids / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.10.0"}')
    out = tmp_path / "out"
    (out).mkdir()
    (out / ".bidsignore").write_text("mine/\n")
    with ProcessPoolExecutor(4) as pool:
        results = list(pool.map(_write, [(str(out), str(bids))] * 8))
    assert all(r == results[0] for r in results)
    assert results[0]["DatasetType"] == "derivative"
    ignore = (out / ".bidsignore").read_text().splitlines()
    assert "mine/" in ignore and "*_relevance.*" in ignore
    assert sorted(p.name for p in out.iterdir()) == [".bidsignore", "dataset_description.json"]


def test_container_is_recorded_only_where_it_is_known(tmp_path, monkeypatch):
    """/.dockerenv exists in any Docker container (CI, this machine): it is no provenance."""
    for variable in ("SINGULARITY_NAME", "APPTAINER_NAME", "BIDS_LRP_IMAGE"):
        monkeypatch.delenv(variable, raising=False)
    (tmp_path / "bids").mkdir()

    def container():
        write_dataset_files(tmp_path / "out", tmp_path / "bids")
        meta = json.loads((tmp_path / "out" / "dataset_description.json").read_text())
        return meta["GeneratedBy"][0].get("Container")

    assert container() is None  # a native install, whatever the machine
    monkeypatch.setenv("BIDS_LRP_IMAGE", "bids_lrp:0.1.0")  # our image (Dockerfile)
    assert container() == {"Type": "docker", "Tag": "bids_lrp:0.1.0"}
    monkeypatch.setenv("APPTAINER_NAME", "bids_lrp_0.1.0.sif")
    assert container() == {"Type": "apptainer", "Tag": "bids_lrp_0.1.0.sif"}


def test_citation_names_each_method_and_its_target(tmp_path):
    path = write_citation(
        tmp_path,
        template="MNI152NLin2009cAsym",
        registration="syn",
        targets={"boehle2019": "AD", "guided-backprop:start=probability": "predicted"},
        atlases=["Neuromorphometrics"],
    )
    text = path.read_text()
    assert path == tmp_path / "logs" / "CITATION.md"
    assert "(SyN registration" in text
    assert 'boehle2019 (LRPb0; class "AD")' in text
    assert "(GuidedBackpropStartProbability; each image's predicted class)" in text
