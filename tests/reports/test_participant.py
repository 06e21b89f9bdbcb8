"""The participant report: sections, figures, warnings, model card, missing and damaged files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bids_lrp.reports import write_participant_report
from bids_lrp.reports.participant import SECTIONS
from tests.reports.browser import StaticPage, scan_html
from tests.reports.conftest import TPL, make_participant

QUALITY_CODES = {"registration", "conservation", "uncertain", "missing", "resampling"}


def report(out: Path, bids: Path | None, label: str = "01") -> tuple[Path, StaticPage]:
    path = write_participant_report(out, label, bids_dir=bids)
    return path, scan_html(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> tuple[Path, StaticPage]:
    """A sound participant (no BIDS folder given: found through SourceDatasets)."""
    root = tmp_path_factory.mktemp("good")
    out = make_participant(root / "out", root / "bids")
    path, page = report(out, None, label="sub-01")
    return path, page


@pytest.fixture(scope="module")
def poor(tmp_path_factory) -> tuple[Path, StaticPage]:
    """Poor registration, large LRP conservation error, near-chance prediction."""
    root = tmp_path_factory.mktemp("poor")
    out = make_participant(root / "out", root / "bids", quality=0.45, conservation=0.3, p_ad=0.55)
    return report(out, root / "bids")


def test_sections_blocks_and_figures(good):
    path, page = good
    out = path.parent
    assert path.name == "sub-01.html"
    assert page.sections == list(SECTIONS)
    for section in ("prediction", "registration", "relevance", "regions", "conservation"):
        assert f"{section}-sub-01" in page.ids
    # registration + 2 methods x (template mosaic, glass brain, native mosaic, region chart)
    assert len(page.images) == 10  # 9 + the faithfulness curves
    assert sum("space-T1w" in src for src in page.images) == 2  # native, via SourceDatasets
    for src in page.images:
        figure = out / src
        assert figure.parent == out / "sub-01" / "figures", src
        assert figure.stat().st_size > 1000
    text = path.read_text(encoding="utf-8")
    assert "Left_Hippocampus" in text  # region table
    assert "diagnosis (participants.tsv)" in text
    assert "0.91" in text  # probability of AD


def test_figures_are_complete_files(good):
    path, page = good
    for src in page.images:
        data = (path.parent / src).read_bytes()
        if src.endswith(".png"):
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")
        else:
            assert data.rstrip().endswith(b"</svg>")


def test_good_outputs_raise_no_quality_warning(good):
    _, page = good
    assert not QUALITY_CODES & set(page.codes), page.codes


def test_quality_warnings(poor):
    path, page = poor
    assert {"registration", "conservation", "uncertain"} <= set(page.codes)
    text = path.read_text(encoding="utf-8")
    assert "registration check failed: the scan fits the template better after a" in text
    assert "uncertain prediction: p(AD) = 0.550" in text


def test_registration_without_a_recorded_verdict_is_judged_by_its_correlation():
    from bids_lrp.normalize.quality import FLOOR
    from bids_lrp.reports.checks import registration_notices

    assert registration_notices({"Value": FLOOR + 0.01}) == []
    assert registration_notices({"Value": 0.63}) == []  # Colin27's: a good registration
    [notice] = registration_notices({"Value": 0.2})
    assert "correlates 0.200 with the template" in notice.text
    [notice] = registration_notices({"Value": 0.8, "Passed": False, "Verdict": "failed: flipped"})
    assert "registration check failed: flipped" in notice.text


def test_conservation_is_checked_for_lrp_only(poor):
    path, page = poor
    assert page.codes.count("conservation") == 1
    text = path.read_text(encoding="utf-8")
    assert "LRPb0: 30.0% of the start relevance" in text
    assert "n/a (not an LRP method)" in text


def test_test_model_is_flagged_not_for_clinical_use(good):
    path, page = good
    text = path.read_text(encoding="utf-8")
    assert {"model", "not-clinical"} <= set(page.codes)
    assert "Not for clinical use</span>" in text
    assert "not recorded in the outputs" in text


def test_model_card_fields_from_the_sidecar(tmp_path):
    model = {
        "Name": "boehle2019-adni",
        "TrainingData": "ADNI 1.5T MPRAGE, 969 scans of 344 subjects",
        "IntendedUse": "validated decision support in memory clinics",
    }
    out = make_participant(tmp_path / "out", tmp_path / "bids", model=model)
    path, page = report(out, tmp_path / "bids")
    text = path.read_text(encoding="utf-8")
    assert "ADNI 1.5T MPRAGE, 969 scans of 344 subjects" in text
    assert "validated decision support in memory clinics" in text
    assert "Not for clinical use</span>" not in text
    assert not {"model", "not-clinical"} & set(page.codes)


def test_each_map_names_the_class_it_explains(tmp_path):
    out = make_participant(tmp_path / "out", tmp_path / "bids")
    path, _ = report(out, tmp_path / "bids")
    text = path.read_text(encoding="utf-8")
    assert "LRPb0: boehle2019 (beta=0.0), explaining class AD<" in text
    assert "explaining class HC (the predicted class)<" in text


def test_one_block_per_session(session_participant_report):
    page = scan_html(session_participant_report.read_text(encoding="utf-8"))
    for session in ("1", "2"):
        assert f"prediction-sub-01_ses-{session}" in page.ids
        assert f"relevance-sub-01_ses-{session}" in page.ids
    assert len(page.images) == 20
    assert len(set(page.images)) == 20  # no figure overwrites another


def test_native_overlay_without_raw_scan_is_said(participant_out):
    out, _ = participant_out
    description = out / "dataset_description.json"
    description.write_text(
        json.dumps({**json.loads(description.read_text()), "SourceDatasets": []})
    )
    path, page = report(out, None)
    assert sum("space-T1w" in src for src in page.images) == 0
    assert "missing" in page.codes
    assert "pass the BIDS folder" in path.read_text(encoding="utf-8")


def test_missing_files_are_reported_not_fatal(participant_out):
    out, bids = participant_out
    anat = out / "sub-01" / "anat"
    (anat / f"sub-01_space-{TPL}_desc-preproc_T1w.nii.gz").unlink()
    (anat / "sub-01_desc-tinytest_predictions.tsv").unlink()
    (anat / "sub-01_space-T1w_desc-GuidedBackprop_relevance.nii.gz").unlink()
    path, page = report(out, bids)
    assert page.sections == list(SECTIONS)
    text = path.read_text(encoding="utf-8")
    assert "no normalized T1w" in text
    assert "no predictions file" in text
    assert "no native-space relevance map for GuidedBackprop" in text


def test_no_native_space_maps_asked_for_none_missing(participant_out):
    out, bids = participant_out
    for native in (out / "sub-01" / "anat").glob("*_space-T1w_*_relevance.*"):
        native.unlink()
    path = write_participant_report(out, "01", bids_dir=bids, native_space=False)
    text = path.read_text(encoding="utf-8")
    assert "native-space relevance map" not in text
    assert "space-T1w" not in text  # and no native overlay either
    path = write_participant_report(out, "01", bids_dir=bids)  # asked for but missing: warned
    assert "no native-space relevance map for LRPb0" in path.read_text(encoding="utf-8")


def test_damaged_image_is_reported_not_fatal(participant_out):
    out, bids = participant_out
    damaged = out / "sub-01" / "anat" / f"sub-01_space-{TPL}_desc-LRPb0_relevance.nii.gz"
    damaged.write_bytes(b"\x1f\x8b not really gzip")
    path, page = report(out, bids)
    assert "unreadable" in page.codes
    assert "LRPb0 relevance could not be shown" in path.read_text(encoding="utf-8")
    assert page.sections == list(SECTIONS)
    # the other method and the region tables are still shown
    assert any(src.endswith("desc-GuidedBackprop_glassbrain.png") for src in page.images)
    assert any(src.endswith("desc-LRPb0_relevance.svg") for src in page.images)


def test_unknown_participant_is_an_error(participant_out):
    out, _ = participant_out
    with pytest.raises(FileNotFoundError, match="run the participant level first"):
        write_participant_report(out, "99")


def test_conservation_warning_needs_a_score_worth_losing():
    from bids_lrp.reports.checks import conservation_row

    base = {"MethodKind": "relevance", "RelevanceSum": 0.0, "RelevanceSumTemplateGrid": 0.0}
    _, notices = conservation_row(
        "LRPb0", {**base, "ConservationError": 1.0, "StartRelevance": 4e-5}, None
    )
    assert not [n for n in notices if n.code == "conservation"]
    meta = {**base, "ConservationError": 0.3, "StartRelevance": 0.6, "RelevanceSum": 0.42}
    row, notices = conservation_row("LRPb0", meta, None)
    [notice] = [n for n in notices if n.code == "conservation"]
    assert row["check"] == "large" and "30.0% of the start relevance" in notice.text


def test_an_empty_lrp_map_is_named_as_such():
    """A control's alpha1-beta0 map with none of p(AD) in it says why, not "understated"."""
    from bids_lrp.reports.checks import conservation_row

    meta = {
        "MethodKind": "relevance",
        "TargetClass": "AD",
        "ConservationError": 1.0,
        "StartRelevance": 0.0037,
        "RelevanceSum": 0.0,
        "RelevanceSumTemplateGrid": 0.0,
    }
    row, notices = conservation_row("LRPb0", meta, None)
    [notice] = [n for n in notices if n.code == "conservation"]
    assert row["check"] == "empty map"
    assert "map is empty" in notice.text and "positive evidence for AD" in notice.text
    # a map that kept a little of its score is not empty
    row, _ = conservation_row("LRPb0", {**meta, "RelevanceSum": 0.0005}, None)
    assert row["check"] == "large"


def test_a_warning_about_the_model_is_logged_once_per_run(tmp_path, caplog, monkeypatch):
    import logging

    from bids_lrp.workflows.execution import write_reports
    from tests.reports.conftest import make_participant

    out, bids = tmp_path / "out", tmp_path / "bids"
    for label in ("01", "02", "03"):
        make_participant(out, bids, label)
    monkeypatch.setattr(logging.getLogger("bids_lrp"), "propagate", True)
    with caplog.at_level(logging.WARNING, logger="bids_lrp"):
        write_reports(out, {"01": [], "02": [], "03": []}, bids)
    about_model = [r.getMessage() for r in caplog.records if "clinical use" in r.getMessage()]
    # two notices about this test model, each once (not once per participant's report)
    assert len(about_model) == len(set(about_model)) == 2, about_model
    for label in ("01", "02", "03"):  # each page still says it
        assert "not for clinical use" in (out / f"sub-{label}.html").read_text().lower()


def test_an_empty_map_gets_no_chart_of_zero_areas(tmp_path):
    """A map without positive region sums is said to be empty instead of ranking zeros."""
    out = make_participant(tmp_path / "out", tmp_path / "bids")
    anat = out / "sub-01" / "anat"
    table = anat / f"sub-01_space-{TPL}_atlas-Neuromorphometrics_desc-LRPb0_relevance.tsv"
    regions = pd.read_csv(table, sep="\t")
    regions[["relevance_sum", "relevance_positive", "relevance_density"]] = 0.0
    regions.to_csv(table, sep="\t", index=False)
    path, page = report(out, tmp_path / "bids")
    charts = [src for src in page.images if src.endswith(".svg")]
    assert not [src for src in charts if "desc-LRPb0" in src]  # no chart of zeros
    assert [src for src in charts if "desc-GuidedBackprop" in src]
    text = path.read_text(encoding="utf-8")
    assert "LRPb0, Neuromorphometrics atlas: no region to rank" in text
    assert "holds positive relevance in this map, so there is nothing to rank" in text


def test_the_conservation_table_explains_absorbed_and_outside_brain():
    from bids_lrp.reports.checks import CONSERVATION_CAPTION, conservation_row

    gradient = {
        "MethodKind": "gradient",
        "StartRelevance": 1.2,
        "RelevanceSum": -214.6,
        "Absorbed": 215.8,
        "RelevanceOutsideBrain": 0.1834,
    }
    row, _ = conservation_row("GuidedBackprop", gradient, None)
    assert row["absorbed"] is None  # start - sum means nothing for a gradient
    assert row["outside brain"] == "18.3%"
    assert "'absorbed' = start relevance - sum" in CONSERVATION_CAPTION
    assert "'outside brain'" in CONSERVATION_CAPTION
    lrp = {"MethodKind": "relevance", "StartRelevance": 0.9, "Absorbed": 0.01}
    row, _ = conservation_row("LRPb0", {**lrp, "RelevanceSum": 0.89}, None)
    assert row["absorbed"] == 0.01 and row["outside brain"] is None
    # a model that sees the whole head keeps that relevance, and the table says so
    whole_head = {**gradient, "RelevanceOutsideBrainRemoved": False}
    assert conservation_row("GuidedBackprop", whole_head, None)[0]["outside brain"] == "18.3% kept"
    assert "marked 'kept'" in CONSERVATION_CAPTION


def test_the_registration_figure_shows_the_unmasked_scan_moved_by_the_saved_transforms(good):
    """The figure draws the participant's own scan (skull included), not the masked input."""
    from bids_lrp.layout import find_images

    path, page = good
    out = path.parent
    [image] = find_images(out, ["01"])
    assert [t.name for t in image.transforms] == [f"sub-01_from-T1w_to-{TPL}_mode-image_xfm.mat"]
    [src] = [s for s in page.images if "desc-registration" in s]
    assert "moved into MNI152NLin2009cAsym space by the transforms saved" in path.read_text()
    assert (out / src).stat().st_size > 1000


def test_without_transforms_the_registration_figure_says_what_it_cannot_show(tmp_path):
    out = make_participant(tmp_path / "out", tmp_path / "bids")
    (out / "sub-01" / "anat" / f"sub-01_from-T1w_to-{TPL}_mode-image_xfm.mat").unlink()
    path, page = report(out, tmp_path / "bids")
    assert "missing" in page.codes
    text = path.read_text(encoding="utf-8")
    assert "forward transforms not found: the registration figure shows the masked" in text
    assert "masked by the template, so the fit outside the brain cannot be judged" in text


def test_faithfulness_table_says_which_maps_beat_random_removal(tmp_path):
    from bids_lrp.faithfulness import verdict

    out = make_participant(tmp_path / "out", tmp_path / "bids")
    path, page = report(out, tmp_path / "bids")
    text = path.read_text(encoding="utf-8")
    section = text[text.index('id="faithfulness"') :]
    assert section.count("faithful: its areas matter more than random ones") == 2
    assert any("atlas-Neuromorphometrics_faithfulness.png" in src for src in page.images)
    assert verdict(0.30, 0.05, 0.295) == "not told apart from random removal"
    assert verdict(0.10, 0.05, 0.30) == "worse than random removal"
    assert verdict(None, None, None) == "not measured"
    unmeasured = make_participant(tmp_path / "o2", tmp_path / "b2", faithfulness=False)
    path, _ = report(unmeasured, tmp_path / "b2")
    assert "Faithfulness was not measured (--faithfulness-steps 0)" in path.read_text()


def test_randomization_in_words():
    from bids_lrp.reports.participant_faithfulness import randomization_text

    assert randomization_text(None) == "not checked"
    assert randomization_text({"Spearman": 0.12, "Passed": True}).endswith("learned weights")
    assert "barely changes" in randomization_text({"Spearman": 0.83, "Passed": False})
    assert "constant map" in randomization_text({"Spearman": None, "Passed": None})
