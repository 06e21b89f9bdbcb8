"""The group report's "Böhle et al. 2019" section, drawn from a real group-level run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from bids_lrp.cli.run import main
from bids_lrp.reports.group import SECTIONS
from tests.group.conftest import write_bids, write_outputs
from tests.reports.browser import open_page, scan_html

BETAS = {"LRPb0": 0.0, "LRPb0p5": 0.5, "LRPb1": 1.0}
VOLUMES = {"sub-01": 5200, "sub-02": 6100, "sub-03": 4300, "sub-04": 7000, "sub-05": 6900,
           "sub-06": 7100, "sub-07": 6400}  # fmt: skip


def _add_betas(out):
    """Copy every LRPb0 output to LRPb0p5 and LRPb1, with other area values, as a beta study."""
    rng = np.random.default_rng(5)
    for path in sorted(out.glob("sub-*/**/anat/*desc-LRPb0_relevance.*")):
        for label, beta in BETAS.items():
            if label == "LRPb0":
                if path.suffix == ".json":
                    meta = json.loads(path.read_text())
                    meta["MethodParameters"] = {"beta": 0.0, "start": "probability"}
                    path.write_text(json.dumps(meta))
                continue
            target = path.with_name(path.name.replace("desc-LRPb0_", f"desc-{label}_"))
            if path.name.endswith(".tsv"):
                table = pd.read_csv(path, sep="\t")
                table["relevance_sum"] *= rng.uniform(0.2, 2.0, len(table))
                table.to_csv(target, sep="\t", index=False, na_rep="n/a")
            elif path.name.endswith(".json"):
                meta = json.loads(path.read_text())
                meta["MethodParameters"] = {"beta": beta, "start": "probability"}
                target.write_text(json.dumps(meta))
            else:
                shutil.copyfile(path, target)


@pytest.fixture(scope="module")
def paper_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper-report")
    bids, out = write_bids(root / "bids"), write_outputs(root / "out")
    _add_betas(out)
    volumes = root / "volumes.tsv"
    volumes.write_text("participant_id\thv\n" + "".join(f"{p}\t{v}\n" for p, v in VOLUMES.items()))
    code = main(
        [str(bids), str(out), "group", "-w", str(root / "work"), "--preset", "boehle2019",
         "--volumes", "Hippocampus=hv", "--volumes-file", str(volumes), "--permutations", "100"]
    )  # fmt: skip
    assert code == 0
    return out / "group" / "group_report.html"


def test_the_section_shows_each_figure_of_the_paper(paper_report):
    text = paper_report.read_text(encoding="utf-8")
    page = scan_html(text)
    assert page.sections == list(SECTIONS) and "boehle2019" in page.sections
    names = {src.rsplit("/", 1)[-1] for src in page.images}
    for label in (*BETAS, "GuidedBackprop"):
        stem = f"atlas-Neuromorphometrics_desc-{label}"
        for kind in ("sum", "density", "gain"):
            assert f"{stem}_paper_{kind}.svg" in names
    assert "atlas-Neuromorphometrics_paper_volume_external_Hippocampus.svg" in names
    assert "atlas-Neuromorphometrics_paper_rbeta_external_Hippocampus.svg" in names
    assert "atlas-Neuromorphometrics_desc-betastudy_overlap.svg" in names
    section = text.split('id="boehle2019"', 1)[1].split("</section>", 1)[0]
    for phrase in ("mean_TP(S_a) / mean_HC(S_a)", "two-sided permutation test", "Fingerprints",
                   "10 highest-ranked areas"):  # fmt: skip
        assert phrase in section
    for src in page.images:
        assert (paper_report.parent / src).is_file()


def test_the_section_in_chromium(paper_report):
    check = open_page(paper_report, "group-report-paper")
    assert check.broken_images == [] and check.severe_console == []
    assert check.section_ids == list(SECTIONS)


def test_the_figures_hold_the_numbers_of_the_tables(paper_report):
    group = paper_report.parent
    corr = pd.read_csv(group / "atlas-Neuromorphometrics_volumecorrelation.tsv", sep="\t")
    rows = corr[corr["method_name"] == "boehle2019"].sort_values("beta")
    assert rows["beta"].tolist() == [0.0, 0.5, 1.0]
    section = paper_report.read_text(encoding="utf-8").split('id="boehle2019"', 1)[1]
    for r in rows["r"]:
        assert f"{r:.4g}"[:5] in section  # the table shows each r
    overlap = pd.read_csv(group / "atlas-Neuromorphometrics_desc-betastudy_overlap.tsv", sep="\t")
    diagonal = overlap[overlap["beta_row"] == overlap["beta_column"]]
    # the authors divide by 10 whatever the number of areas: 3 areas share 30% with themselves
    assert (diagonal["overlap_percent"] == 30).all()
