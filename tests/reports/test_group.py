"""The group report, with and without labels, and with nothing to show."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bids_lrp.reports import write_group_report
from bids_lrp.reports.group_areas import _ranked, _with_relevance
from bids_lrp.reports.group_page import SECTIONS, TOP_AREAS
from tests.reports.browser import scan_html
from tests.reports.conftest import make_group


def test_labelled_group_report(session_group_reports):
    path = session_group_reports["labelled"]
    text = path.read_text(encoding="utf-8")
    page = scan_html(text)
    assert path.name == "group_report.html" and path.parent.name == "group"
    assert page.sections == list(SECTIONS)
    names = [src.rsplit("/", 1)[-1] for src in page.images]
    stem = "atlas-Neuromorphometrics_desc-LRPb0"
    figures = ("density", "gainADHC", "gainTPHC", "gainTNHC", "violins", "similarity")
    for name in (f"{figure}.svg" for figure in figures):
        assert f"{stem}_{name}" in names
    for cohort in ("all", "AD", "HC"):
        assert f"space-MNI152NLin2009cAsym_desc-LRPb0_cohort-{cohort}_mean.png" in names
        assert f"space-MNI152NLin2009cAsym_desc-LRPb0_cohort-{cohort}_glassbrain.png" in names
    for src in page.images:
        assert (path.parent / src).is_file() and src.startswith("figures/")
    assert "balanced_accuracy" in text and "Confusion matrix (overall)" in text
    assert "no predictions file" in text  # the skipped image and its reason
    assert "needs labelled" not in text and "No classification metrics" not in text


def test_gain_says_how_many_control_maps_it_rests_on(session_group_reports):
    text = session_group_reports["labelled"].read_text(encoding="utf-8")
    assert "4 of 4 HC maps hold any relevance; the HC mean rests on them." in text
    assert "maps hold any relevance (the others are empty)" not in text


@pytest.mark.parametrize("live", [0, 1])
def test_gain_on_few_or_no_live_control_maps_is_flagged(tmp_path, live):
    """LRP b0 maps of clear controls are 0: the gain rests on the others, or is undefined."""
    text = write_group_report(make_group(tmp_path, live_controls=live)).read_text("utf-8")
    page = scan_html(text)
    names = [src.rsplit("/", 1)[-1] for src in page.images]
    stem = "atlas-Neuromorphometrics_desc-LRPb0"
    assert "it needs labelled AD and HC images" not in text
    if live == 0:
        assert "no relevance gain AD / HC: none of the 4 HC maps holds any relevance" in text
        assert f"{stem}_gainADHC.svg" not in names
    else:
        assert "only 1 of 4 HC maps hold any relevance (the others are empty)" in text
        assert "gain AD / HC divides by the mean of 1 map(s)" in text
        assert f"{stem}_gainADHC.svg" in names


def test_control_counts_come_from_the_sidecar_and_older_sidecars_have_none():
    sidecar = {"GroupSizes": {"all": 8, "HC": 4}, "ImagesWithRelevance": {"Counts": {"HC": 1}}}
    assert _with_relevance(sidecar) == {"HC": (1, 4)}
    assert _with_relevance({"GroupSizes": {"all": 8, "HC": 4}}) == {}  # before the count
    assert _with_relevance({"ImagesWithRelevance": "?", "GroupSizes": {"HC": 4}}) == {}


def test_unlabelled_group_report_says_what_is_missing(session_group_reports):
    text = session_group_reports["unlabelled"].read_text(encoding="utf-8")
    page = scan_html(text)
    assert page.sections == list(SECTIONS)
    assert "no relevance gain (it needs labelled AD and HC images)" in text
    assert "No classification metrics" in text
    assert "needs labelled AD and HC images" in text  # violins
    assert "relevance density in the all group" in text  # no AD group: all images
    names = [src.rsplit("/", 1)[-1] for src in page.images]
    assert not any("gain" in n or "violins" in n for n in names)
    assert any(n.endswith("_density.svg") for n in names)
    assert any(n.endswith("_similarity.svg") for n in names)


def test_empty_group_folder_gives_a_report(tmp_path):
    (tmp_path / "group").mkdir()
    path = write_group_report(tmp_path)
    text = path.read_text(encoding="utf-8")
    page = scan_html(text)
    assert page.sections == list(SECTIONS)
    assert page.images == []
    assert "group_summary.json is missing" in text
    assert "No mean maps were found" in text


def test_no_group_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the group level first"):
        write_group_report(tmp_path)


def test_ranking_takes_the_largest_finite_values():
    n = TOP_AREAS + 5
    stats = pd.DataFrame({"name": [f"a{i}" for i in range(n)], "gain": np.arange(n, dtype=float)})
    stats.loc[n - 1, "gain"] = np.inf  # mean_HC == 0
    stats.loc[n - 2, "gain"] = np.nan
    top = _ranked(stats, "gain")
    assert len(top) == TOP_AREAS
    assert list(top["gain"]) == sorted(top["gain"], reverse=True)
    assert top["gain"].iloc[0] == n - 3


def test_damaged_mean_map_is_said_not_fatal(tmp_path):
    from tests.reports.conftest import TPL, make_group

    out = make_group(tmp_path / "out")
    (out / "group" / f"space-{TPL}_desc-LRPb0_cohort-AD_mean.nii.gz").write_bytes(b"\x1f\x8b junk")
    (out / "group" / "atlas-Neuromorphometrics_desc-LRPb0_fingerprints.tsv").write_bytes(b"\x00")
    text = write_group_report(out).read_text(encoding="utf-8")
    assert "LRPb0: mean maps could not be shown" in text
    assert "no fingerprint similarity matrix" in text
    assert scan_html(text).sections == list(SECTIONS)
    assert "Relevance gain AD / HC" in text  # the rest is there


def test_figures_the_page_no_longer_shows_are_removed(tmp_path):
    from tests.reports.conftest import TPL, make_group

    out = make_group(tmp_path / "out")
    write_group_report(out)
    figures = out / "group" / "figures"
    stale = f"space-{TPL}_desc-LRPb0_cohort-AD_mean.png"
    assert (figures / stale).is_file()
    (out / "group" / f"space-{TPL}_desc-LRPb0_cohort-AD_mean.nii.gz").unlink()  # as a rerun
    (out / "group" / f"space-{TPL}_desc-LRPb0_cohort-AD_mean.json").unlink(missing_ok=True)
    (figures / "notes.txt").write_text("mine")  # not a figure: kept
    page = scan_html(write_group_report(out).read_text(encoding="utf-8"))
    shown = {src.rsplit("/", 1)[-1] for src in page.images}
    assert stale not in shown and not (figures / stale).exists()
    drawn = {p.name for p in figures.iterdir() if p.suffix in (".png", ".svg")}
    assert drawn == shown and (figures / "notes.txt").read_text() == "mine"


def test_summary_and_skipped_agree(tmp_path):
    """A summary that lists skipped images and notes never says "Nothing was skipped"."""
    import json

    out = make_group(tmp_path / "out", labelled=True)
    summary = out / "group" / "group_summary.json"
    data = json.loads(summary.read_text())
    data["Skipped"] = ["LRPb0, Neuromorphometrics: fingerprints skipped"]
    data["MapsSkipped"] = {"sub-03": "unreadable map"}
    summary.write_text(json.dumps(data))
    text = write_group_report(out).read_text(encoding="utf-8")
    skipped = text.split('id="skipped"', 1)[1].split("</section>", 1)[0]
    assert "Nothing was skipped" not in text
    for item in ("sub-09", "no predictions file", "fingerprints skipped", "unreadable map"):
        assert item in skipped
    assert "1 image(s), 1 relevance map(s) of the mean maps, 1 analysis note(s)" in text
    data.update(ImagesSkipped={}, MapsSkipped={}, Skipped=[])
    summary.write_text(json.dumps(data))
    text = write_group_report(out).read_text(encoding="utf-8")
    assert "Nothing was skipped" in text and "Left out" not in text


def test_violins_say_how_their_areas_were_chosen(tmp_path):
    """Without a gain (every control map empty) the violins follow the AD density, and say so."""
    out = make_group(tmp_path / "out", labelled=True, live_controls=0)
    text = write_group_report(out).read_text(encoding="utf-8")
    violins = text.split('id="violins"', 1)[1].split("</section>", 1)[0]
    assert "highest AD relevance density" in violins and "gain" not in violins
    out = make_group(tmp_path / "out2", labelled=True)
    violins = write_group_report(out).read_text(encoding="utf-8").split('id="violins"', 1)[1]
    assert "highest AD / HC gain" in violins.split("</section>", 1)[0]


def test_gains_over_a_denominator_indistinguishable_from_zero_are_flagged(tmp_path):
    """A control mean smaller than its standard error makes a huge gain: it is said to be noise."""
    area = "Amygdala"
    out = make_group(tmp_path / "out", labelled=True, noisy_control_area=area)
    stats = pd.read_csv(
        out / "group" / "atlas-Neuromorphometrics_desc-LRPb0_groupstats.tsv", sep="\t"
    ).set_index("name")
    assert stats.loc[area, "unstable_gain_AD_HC"] == 1
    assert stats.loc[area, "rank_gain_AD_HC"] == 1  # the noise ranks first
    assert stats.loc["Hippocampus", "unstable_gain_AD_HC"] == 0  # a real difference
    text = write_group_report(out).read_text(encoding="utf-8")
    gain = text.split('id="gain"', 1)[1].split("</section>", 1)[0]
    warnings = [w for w in gain.split('class="alert') if "divide by a mean_HC(S_a) near 0" in w]
    assert warnings and all(area in w for w in warnings)  # AD / HC, TP / HC, TN / HC
    quiet = write_group_report(make_group(tmp_path / "quiet")).read_text(encoding="utf-8")
    flagged = [w for w in quiet.split('class="alert') if "near 0 (below its standard" in w]
    assert not [w for w in flagged if area in w]  # its controls are not noise there


def test_the_summary_shows_settings_by_their_options(tmp_path):
    out = make_group(tmp_path / "out", labelled=True)
    text = write_group_report(out).read_text(encoding="utf-8")
    summary = text.split('id="summary"', 1)[1].split("</section>", 1)[0]
    assert "Settings of this group run" in summary
    assert "<td>--label-column</td><td>diagnosis</td>" in summary
    assert "label_column" not in summary  # no raw keys


def test_faithfulness_section_judges_each_method(tmp_path):
    out = make_group(tmp_path / "out", labelled=True)
    table = (
        "method\tn_images\taopc_morf_mean\taopc_morf_sd\taopc_random_mean\taopc_random_sd\t"
        "aopc_lerf_mean\taopc_lerf_sd\tfaithful_share\n"
        "LRPb0\t4\t0.5\t0.1\t0.2\t0.1\t0.01\t0.01\t1\n"
        "GuidedBackprop\t4\t0.2\t0.1\t0.2\t0.1\t0.1\t0.01\t0.25\n"
    )
    (out / "group" / "atlas-Neuromorphometrics_faithfulness.tsv").write_text(table)
    path = write_group_report(out)
    text = path.read_text()
    section = text[text.index('id="faithfulness"') : text.index('id="boehle2019"')]
    assert "faithful: its areas matter more than random ones" in section
    assert "not told apart from random removal" in section
    bare = make_group(tmp_path / "bare", labelled=True)
    assert "Faithfulness was not measured" in write_group_report(bare).read_text()


def test_randomization_section_per_method_and_cascade(tmp_path):
    out = make_group(tmp_path / "out", labelled=True)
    table = (
        "method\trandomized\tstep\tn_images\tspearman_mean\tspearman_sd\tpassed_share\n"
        "LRPb0\tdense layers\t0\t4\t0.91\t0.02\t0\n"
        "LRPb0\tclassifier.4\t1\t4\t0.95\t0.01\t0\n"
        "LRPb0\tfeatures.0\t2\t4\t0.2\t0.05\t1\n"
        "GuidedBackprop\tdense layers\t0\t4\t0.12\t0.05\t1\n"
    )
    (out / "group" / "space-MNI152NLin2009cAsym_randomization.tsv").write_text(table)
    text = write_group_report(out).read_text()
    section = text[text.index('id="faithfulness"') : text.index('id="boehle2019"')]
    assert "Model randomization (MNI152NLin2009cAsym)" in section
    assert "barely changes without the learned weights" in section  # LRPb0 at 0.91
    assert "depends on the learned weights" in section  # guided backprop at 0.12
    assert "1: classifier.4" in section and "2: features.0" in section  # the cascade's steps
    bare = make_group(tmp_path / "bare", labelled=True)
    assert "Model randomization" not in write_group_report(bare).read_text()
