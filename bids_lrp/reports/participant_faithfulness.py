"""The participant report's faithfulness section: does removing what a map calls relevant
lower the network's score more than removing areas at random?"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bids_lrp.faithfulness import verdict
from bids_lrp.layout import ImageOutputs
from bids_lrp.reports.checks import number
from bids_lrp.reports.discover import read_sidecar
from bids_lrp.reports.figures import perturbation_curves
from bids_lrp.reports.html import alert, figure, table
from bids_lrp.reports.participant_state import Report

__all__ = ["faithfulness_section"]

CAPTION = (
    "Areas of the atlas are removed one by one (replaced by the template brain) in the map's "
    "order, most relevant first (MoRF), in the reverse order (LeRF) and at random. AOPC is the "
    "mean drop of the probability of the explained class over the steps (Samek et al. 2017): "
    "a faithful map has a MoRF AOPC above the random one and above LeRF. Randomization (with "
    "--randomization-check): Spearman's rho of absolute values between the map and the map of "
    "the same network with its dense layers randomized (Adebayo et al. 2018); a map that "
    "barely changes does not show what the network learned."
)


def randomization_text(randomized: Any) -> str:
    """The randomization check of one map in words (Adebayo et al. 2018)."""
    if not isinstance(randomized, dict):
        return "not checked"
    rho = number(randomized.get("Spearman"))
    if rho is None:
        return "no rank correlation (a constant map)"
    if randomized.get("Passed"):
        return f"rho {rho:.2f}: depends on the learned weights"
    return f"rho {rho:.2f}: barely changes without them"


def faithfulness_section(report: Report, image: ImageOutputs) -> None:
    """The AOPC table of every map of ``image`` and the curves of its TSV."""
    rows: list[dict[str, Any]] = []
    for desc in image.methods:
        sidecar = read_sidecar(image.relevance.get(desc))
        measured = sidecar.get("Faithfulness")
        randomized = sidecar.get("Randomization")
        if not isinstance(measured, dict) and not isinstance(randomized, dict):
            continue
        measured = measured if isinstance(measured, dict) else {}
        aopc = measured.get("AOPC") if isinstance(measured.get("AOPC"), dict) else {}
        morf, lerf, rnd = (number(aopc.get(k)) for k in ("morf", "lerf", "random"))
        rows.append(
            {
                "method": desc,
                "AOPC MoRF": morf,
                "AOPC random": rnd,
                "AOPC LeRF": lerf,
                "verdict": verdict(morf, lerf, rnd),
                "atlas": measured.get("Atlas"),
                "randomization": randomization_text(randomized),
            }
        )
    if not rows:
        report.add(
            "faithfulness",
            image,
            alert("info", "Faithfulness was not measured (--faithfulness-steps 0)."),
        )
        return
    if not any(row["randomization"] != "not checked" for row in rows):
        for row in rows:
            del row["randomization"]
    body = table(rows, list(rows[0]), caption=CAPTION)
    for (space, atlas), path in sorted(image.faithfulness.items()):
        curves = pd.read_csv(path, sep="\t", na_values="n/a")
        by_method = {
            label: {order: list(g.sort_values("step")["score"]) for order, g in rows_of}
            for label, rows_of in (
                (label, group.groupby("order")) for label, group in curves.groupby("method")
            )
        }
        out = report.figures / f"{image.prefix}_space-{space}_atlas-{atlas}_faithfulness.png"
        perturbation_curves(by_method, out, title=f"{image.prefix}: areas of {atlas} removed")
        caption = "The probability of the explained class as areas are removed, per method."
        body += figure(report.src(out), caption, alt=f"faithfulness curves of {image.prefix}")
    report.add("faithfulness", image, body)
