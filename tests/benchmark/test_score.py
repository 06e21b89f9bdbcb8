"""Scores of maps against planted atrophy (pure functions) and the benchmark's command line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bids_lrp.benchmark.cli import main
from bids_lrp.benchmark.run import _figures, run_participant_level
from bids_lrp.benchmark.score import (
    dilate,
    image_scores,
    mean_cosine,
    method_summary,
    rank_by_gain,
)


def test_image_scores_count_positive_relevance_inside():
    planted = np.zeros((9, 9, 9), bool)
    planted[4, 4, 4] = True
    widened = dilate(planted, mm=1.0)
    assert widened.sum() == 7  # the centre and its 6 face neighbours
    relevance = np.zeros((9, 9, 9))
    relevance[4, 4, 4] = 2.0  # inside
    relevance[4, 4, 5] = 1.0  # in the widened area only
    relevance[0, 0, 0] = 1.0  # outside
    relevance[8, 8, 8] = -5.0  # negative relevance does not count
    scores = image_scores(relevance, planted, widened)
    assert scores["inside"] == pytest.approx(0.5)
    assert scores["inside_wide"] == pytest.approx(0.75)
    assert scores["pointing"] is True and scores["positive"] == pytest.approx(4.0)
    relevance[0, 0, 0] = 9.0  # the maximum moves outside
    assert image_scores(relevance, planted, widened)["pointing"] is False
    empty = image_scores(-np.abs(relevance), planted, widened)
    assert np.isnan(empty["inside"]) and empty["pointing"] is False


def test_rank_by_gain_and_its_fallback():
    ad = pd.DataFrame({"a": [4.0, 6.0], "b": [2.0, 2.0], "c": [9.0, 9.0]})
    cn = pd.DataFrame({"a": [1.0, 1.0], "b": [2.0, 2.0], "c": [9.0, 9.0]})
    assert rank_by_gain(ad, cn) == (["a", "b", "c"], "gain")  # gains 5, 1, 1 (stable)
    silent = cn * 0.0  # CN maps of ~0: the gain is undefined, the difference ranks
    assert rank_by_gain(ad, silent) == (["c", "a", "b"], "AD-CN difference")


def test_mean_cosine():
    same = pd.DataFrame([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    assert mean_cosine(same) == pytest.approx(1.0)
    assert mean_cosine(pd.DataFrame([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(0.0)
    assert np.isnan(mean_cosine(same.iloc[:1]))


def test_method_summary_over_the_cohort():
    images = pd.DataFrame(
        {
            "image": ["s1", "s2", "s3"],
            "ad": [True, True, False],
            "inside": [0.4, 0.2, 0.1],
            "inside_wide": [0.6, 0.4, 0.2],
            "pointing": [True, False, False],
            "positive": [2.0, 2.0, 1.0],
            "randomization": [0.9, 0.7, 0.1],
            "randomization_all": [0.2, 0.0, 0.0],
            "aopc_morf": [0.3, 0.1, 0.2],
        }
    )
    areas = {
        "s1": pd.Series({"Hippocampus": 4.0, "Cortex": 1.0}),
        "s2": pd.Series({"Hippocampus": 2.0, "Cortex": 1.0}),
        "s3": pd.Series({"Hippocampus": 1.0, "Cortex": 1.0}),
    }
    is_ad = {"s1": True, "s2": True, "s3": False}
    out = method_summary(images, areas, is_ad, ["Hippocampus"])
    assert (out["n_ad"], out["n_cn"]) == (2, 1)
    assert out["inside"] == pytest.approx(0.3) and out["pointing"] == 0.5
    assert out["planted_ranks"] == {"Hippocampus": 1} and out["top3_planted"] == 1
    assert out["randomization"] == pytest.approx(0.8)  # AD maps only
    assert out["aopc_morf"] == pytest.approx(0.2)  # every map
    assert np.isnan(out["aopc_lerf"])  # not measured
    assert out["cn_over_ad_positive"] == pytest.approx(0.5)


def test_figures_from_a_sidecar():
    sidecar = {
        "Faithfulness": {"AOPC": {"morf": 0.4, "random": 0.1, "lerf": 0.0}},
        "Randomization": {
            "Spearman": 0.8,
            "Cascade": [{"RandomizedDownTo": "fc", "Spearman": 0.9}, {"Spearman": None}],
        },
    }
    figures = _figures(sidecar)
    assert figures["aopc_morf"] == 0.4 and figures["randomization"] == 0.8
    assert np.isnan(figures["randomization_all"])  # the last step's rho: None
    assert all(np.isnan(v) for v in _figures({}).values())


def test_the_participant_level_runs_with_the_checks(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr("bids_lrp.cli.run.main", lambda argv: calls.append(argv) or 0)
    run_participant_level(
        tmp_path / "bids", tmp_path / "out", tmp_path / "work", model=tmp_path / "m.safetensors",
        methods=["gradient"], nprocs=2, omp_nthreads=1, faithfulness_steps=5,
        randomization_layers="cascade", validate=False,
    )  # fmt: skip
    [argv] = calls
    assert argv[2] == "participant" and "--skip-bids-validation" in argv
    text = " ".join(argv)
    assert "--faithfulness-steps 5" in text and "--randomization-layers cascade" in text
    assert "--methods gradient" in text and "--no-native-space" in text
    monkeypatch.setattr("bids_lrp.cli.run.main", lambda argv: 66)
    from bids_lrp.benchmark import BenchmarkError

    with pytest.raises(BenchmarkError, match="exit 66") as failed:
        run_participant_level(
            tmp_path / "bids", tmp_path / "out", tmp_path / "work", model=None, methods=None,
            nprocs=1, omp_nthreads=1, faithfulness_steps=5, randomization_layers="dense",
            validate=True,
        )  # fmt: skip
    assert failed.value.code == 66


def test_command_line_mistakes_are_one_line(tmp_path, capsys):
    bids = tmp_path / "bids"
    bids.mkdir()
    (bids / "participants.tsv").write_text("participant_id\tdiagnosis\nsub-01\tAD\n")
    assert main([str(tmp_path / "b"), "--bids", str(bids)]) == 66
    err = capsys.readouterr().err.strip()
    assert err.startswith("bids_lrp-benchmark: error:") and "not a bids_lrp-simulate" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "b").exists()  # nothing written
    with pytest.raises(SystemExit) as exited:
        main([str(tmp_path / "b"), "--methods", "no-such-method"])
    assert exited.value.code == 64
