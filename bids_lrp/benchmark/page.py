"""``benchmark.html``: the benchmark's scores on one self-contained page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bids_lrp import __version__
from bids_lrp.reports.figures import bar_chart
from bids_lrp.reports.html import Section, definition_list, esc, figure, page, table
from bids_lrp.safewrite import atomic_write_text

__all__ = ["write_page"]

SHOWN = {
    "method": "method",
    "inside": "in planted",
    "inside_wide": "in planted +3 mm",
    "pointing": "pointing game",
    "best_planted_rank": "best planted rank",
    "top3_planted": "planted in top 3",
    "randomization": "rho, dense randomized",
    "randomization_all": "rho, all randomized",
    "aopc_morf": "AOPC MoRF",
    "aopc_random": "AOPC random",
    "aopc_lerf": "AOPC LeRF",
    "ad_cosine": "AD cosine",
}


def _percent(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if number != number else f"{number:.1%}"


def _scores(result) -> str:
    rows = []
    for row in result.methods.to_dict("records"):
        shown = {key: row.get(key) for key in SHOWN}
        for key in ("inside", "inside_wide", "pointing"):
            shown[key] = _percent(row.get(key))
        rows.append(shown)
    intro = (
        "<p>Each method's maps of the AD scans, scored against the atrophy the simulator "
        "planted. A map that finds the disease puts its positive relevance in the planted "
        "areas (far above their share of the brain), ranks them first by relevance gain, "
        "changes when the network's weights are randomized (rho below 0.5) and is faithful "
        "(AOPC MoRF above random).</p>"
    )
    return intro + table(rows, list(SHOWN), headers=list(SHOWN.values()), digits=3)


def _ranks(result) -> str:
    columns = ("method", "ranking", "n_areas", "planted_ranks", "top3")
    return table(
        result.methods.to_dict("records"),
        list(columns),
        headers=["method", "ranked by", "areas", "planted areas' ranks", "three first"],
        caption="Areas (hemispheres merged) ranked by relevance gain, mean AD / mean CN area "
        "sum (Böhle et al. 2019); by the AD-CN difference when the CN sums are ~0.",
    )


def _figure(folder: Path, result, share: float | None) -> str:
    methods = list(result.methods["method"])
    path = bar_chart(
        methods,
        {
            "in planted": list(result.methods["inside"].fillna(0.0)),
            "+3 mm": list(result.methods["inside_wide"].fillna(0.0)),
        },
        folder / "benchmark_inside.svg",
        title="Share of the AD maps' positive relevance in the planted areas",
        xlabel="share of positive relevance",
        reference=share,
    )
    caption = "The dashed line: the planted areas' share of the brain (+3 mm), what a map "
    caption += "spread evenly over the brain would score."
    return figure(path.name, caption, alt="bar chart of the share in the planted areas")


def _terms() -> str:
    from bids_lrp.benchmark.run import COLUMNS

    return "<details><summary>What each column means</summary>" + definition_list(
        COLUMNS
    ) + "</details>"  # fmt: skip


def write_page(path: Path, result, about: dict[str, Any]) -> Path:
    """Write the page (and its figure beside it); return its path."""
    summary = result.summary
    cohort = {
        "dataset": about.get("bids"),
        "simulated here": "yes" if about.get("simulated") else "no (given)",
        "seed, severity": f"{about.get('seed')}, {about.get('severity')}"
        if about.get("simulated")
        else "n/a",
        "model": about.get("model"),
        "scans (AD)": f"{summary['scans']} ({summary['ad_scans']})",
        "balanced accuracy": summary.get("balanced_accuracy"),
        "sensitivity, specificity": f"{summary.get('sensitivity')}, {summary.get('specificity')}",
        "planted areas": ", ".join(summary.get("planted_areas") or []),
        "their share of the brain": _percent(summary.get("planted_brain_share")),
        "dilated by 3 mm": _percent(summary.get("planted_wide_brain_share")),
    }
    share = summary.get("planted_wide_brain_share")
    sections = [
        Section("cohort", "Cohort and classification", definition_list(cohort)),
        Section("scores", "Scores per method", _scores(result) + _terms()),
        Section("figure", "Relevance in the planted areas", _figure(path.parent, result, share)),
        Section("ranks", "Ranking of the areas", _ranks(result)),
    ]
    html = page(
        "bids_lrp benchmark",
        "Do the explanations find the planted atrophy?",
        sections,
        footer=f"bids_lrp {esc(__version__)}",
    )
    return atomic_write_text(path, html)
