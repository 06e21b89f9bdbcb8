"""The group report's "Böhle et al. 2019" section: the paper's figures and numbers for this run.

Drawn from the group level's files (`bids_lrp.group.boehle2019`): the top areas of each ranking
with the per-image values behind them, the fingerprints, the volume-relevance correlation and
the beta study. Every figure has one sentence saying what it shows and how it was computed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from bids_lrp.group.tables import unstable_areas
from bids_lrp.methods import label_order
from bids_lrp.reports.checks import near_zero_denominators
from bids_lrp.reports.discover import read_json
from bids_lrp.reports.html import alert, esc, figure, table
from bids_lrp.reports.paper_figures import (
    area_means,
    area_violins,
    beta_curve,
    overlap_heatmaps,
    volume_scatter,
)

__all__ = ["paper_blocks"]

LOGGER = logging.getLogger("bids_lrp")
_RANKING_TITLES = {
    "sum": "Relevance sum",
    "density": "Relevance density",
    "gain_TP_HC": "Gain of relevance",
}


def _read(path: Path | None) -> pd.DataFrame | None:
    if path is None:
        return None
    try:
        return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        LOGGER.warning("group report: cannot read %s (%s)", path, err)
        return None


def _top(top: pd.DataFrame, ranking: str) -> list[str]:
    return top.loc[top["ranking"] == ranking].sort_values("rank")["area"].astype(str).tolist()


def _rows(sums: pd.DataFrame, column: str, value: str, areas: list[str]) -> np.ndarray:
    chosen = sums.loc[sums[column] == value, areas]
    return chosen.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)


def _method_blocks(figures: Path, src: Callable, atlas: str, method: str, files: dict) -> str:
    stem = f"atlas-{atlas}_desc-{method}"
    top = _read(files["topareas"][(atlas, method)])
    sums = _read(files.get("areasums", {}).get((atlas, method)))
    stats = _read(files.get("groupstats", {}).get((atlas, method)))
    if top is None or sums is None or stats is None:
        return alert("info", esc(f"{method}, {atlas}: the group tables are missing."))
    stats = stats.set_index("name")
    html = [f"<h4>{esc(method)}</h4>"]
    labelled = {"AD", "HC"} <= set(sums["label"].dropna().astype(str))
    if not labelled:
        return "".join(html) + alert(
            "info", esc(f"{method}: the paper's figures need labelled AD and HC images.")
        )
    areas = _top(top, "sum")
    if areas:
        path = area_means(
            areas,
            {g: stats.loc[areas, f"mean_{g}"].to_numpy(float) for g in ("AD", "HC")},
            stats.loc[areas, "n_voxels"].to_numpy(float),
            figures / f"{stem}_paper_sum.svg",
            title=f"{_RANKING_TITLES['sum']}: {method}",
            ylabel="mean relevance sum S_a",
        )
        html.append(
            figure(
                src(path),
                f"The {len(areas)} areas with the highest mean AD relevance sum mean_AD(S_a) "
                "(dot size: area size), with the controls' mean beside it (the paper's "
                "absolute-sum figure).",
            )
        )
    areas = _top(top, "density")
    if areas:
        voxels = stats.loc[areas, "n_voxels"].to_numpy(float)
        path = area_violins(
            areas,
            {g: _rows(sums, "label", g, areas) / voxels for g in ("AD", "HC")},
            figures / f"{stem}_paper_density.svg",
            title=f"{_RANKING_TITLES['density']}: {method}",
            ylabel="relevance density S_a / |a|",
        )
        html.append(
            figure(
                src(path),
                f"Per-image relevance density S_a(i) / |a| of AD and HC images in the "
                f"{len(areas)} areas of highest AD density mean_AD(S_a) / |a|; dots are group "
                "means (the paper's density violins).",
            )
        )
    areas = _top(top, "gain_TP_HC")
    groups = set(sums["outcome"].dropna().astype(str))
    if areas and {"TP", "TN"} <= groups:
        mean_hc = stats.loc[areas, "mean_HC"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = {g: _rows(sums, "outcome", g, areas) / mean_hc for g in ("TP", "TN")}
        path = area_violins(
            areas,
            values,
            figures / f"{stem}_paper_gain.svg",
            title=f"{_RANKING_TITLES['gain_TP_HC']}: {method}",
            ylabel="gain S_a(i) / mean_HC(S_a)",
            reference=1.0,
        )
        html.append(
            figure(
                src(path),
                "Per-image gain S_a(i) / mean_HC(S_a) of the true positives and true negatives "
                f"in the {len(areas)} areas of highest TP gain mean_TP(S_a) / mean_HC(S_a), "
                "both over the mean of all controls as in the authors' code; the dashed line is "
                "a control's average (the paper's gain violins).",
            )
        )
        unstable = [a for a in unstable_areas(stats.reset_index(), "TP", "HC") if a in areas]
        if unstable:
            subject = f"{method}: {len(unstable)} of these {len(areas)} areas"
            html.append(alert("warning", esc(near_zero_denominators(subject, unstable, "HC"))))
    elif areas:
        html.append(alert("info", esc(f"{method}: no TP and TN images: no gain violins.")))
    fingerprints = files.get("fingerprints", {}).get((atlas, method))
    side = read_json(fingerprints.with_suffix(".json")) if fingerprints else {}
    pair = side.get("MostDissimilarPair") if isinstance(side, dict) else None
    if isinstance(pair, dict):
        images = " and ".join(map(str, pair.get("Images", [])))
        html.append(
            f"<p>Fingerprints ({esc(side.get('Patients', ''))}, cosine similarity of S_a over "
            f"the {len(side.get('FingerprintAreas', {}).get('Areas', []))} areas of highest "
            f"AD density): the most dissimilar pair is {esc(images)} "
            f"(similarity {float(pair.get('Similarity', np.nan)):.2f}); the whole matrix is "
            "under Fingerprint similarity.</p>"
        )
    return "".join(html)


def _volume_blocks(figures: Path, src: Callable, atlas: str, files: dict) -> list[str]:
    corr = _read(files.get("volumecorrelation", {}).get((atlas,)))
    volumes = _read(files.get("volumes", {}).get((atlas,)))
    sums = {m: _read(p) for (a, m), p in files.get("areasums", {}).items() if a == atlas}
    if corr is None or volumes is None or corr.empty:
        return []
    out = ["<h4>Volume and relevance</h4>"]
    for (source, area), rows in corr.groupby(["volume_source", "area"], sort=False):
        vol = volumes[(volumes["volume_source"] == source) & (volumes["area"] == area)]
        by_image = dict(zip(vol["image"], vol["volume_mm3"], strict=True))
        panels = {}
        for _, row in rows.iterrows():
            frame = sums.get(str(row["method"]))
            if frame is None or area not in frame:
                continue
            tp = frame[frame["outcome"] == "TP"]
            volume = tp["image"].map(by_image).to_numpy(dtype=float)
            panels[str(row["method"])] = (
                volume, tp[area].to_numpy(dtype=float), float(row["r"]), float(row["p"])
            )  # fmt: skip
        if panels:
            path = volume_scatter(
                panels, figures / f"atlas-{atlas}_paper_volume_{source}_{area}.svg", area=area
            )
            out.append(
                figure(
                    src(path),
                    f"{area} volume ({source}) against the relevance summed over {area}, one "
                    "dot per true positive; r is Pearson's, p a two-sided permutation test of "
                    "shuffled volumes against each method's own null distribution (the paper "
                    "reports r = -0.56 for LRP and 0.10 for guided backpropagation).",
                )
            )
        betas = rows.dropna(subset=["beta", "r"])
        betas = betas[betas["method_name"] == "boehle2019"].sort_values("beta")
        if len(betas) >= 2:
            path = beta_curve(
                betas["beta"].tolist(),
                betas["r"].tolist(),
                figures / f"atlas-{atlas}_paper_rbeta_{source}_{area}.svg",
                area=area,
            )
            out.append(
                figure(
                    src(path),
                    f"Correlation r of {area} volume ({source}) and {area} relevance for each "
                    "beta of the LRP beta rule (the paper: -0.56 at beta 0 to -0.36 at 1).",
                )
            )
    shown = corr[["method", "area", "volume_source", "n", "r", "p", "note"]].to_dict("records")
    out.append(table(shown, ["method", "area", "volume_source", "n", "r", "p", "note"]))
    return out


def _beta_blocks(figures: Path, src: Callable, atlas: str, files: dict) -> list[str]:
    out = []
    for (a, desc), path in files.get("overlap", {}).items():
        data = _read(path)
        if a != atlas or data is None or data.empty:
            continue
        betas = sorted(set(data["beta_row"]))
        matrices = {}
        for ranking, rows in data.groupby("ranking", sort=False):
            pivot = rows.pivot(index="beta_row", columns="beta_column", values="overlap_percent")
            matrices[_RANKING_TITLES.get(str(ranking), str(ranking))] = pivot.loc[
                betas, betas
            ].to_numpy(dtype=float)
        fig = overlap_heatmaps(
            matrices,
            betas,
            figures / f"atlas-{atlas}_desc-{desc}_overlap.svg",
            title="Top-10 areas shared between betas",
        )
        out.append(
            figure(
                src(fig),
                "Percentage of the 10 highest-ranked areas two betas share, for the relevance "
                "sum, the density and the TP gain: shared areas / 10 x 100, as the authors "
                "computed it (an atlas of fewer than 10 areas cannot reach 100) (the paper's beta "
                "comparison).",
            )
        )
    return out


def paper_blocks(figures: Path, src: Callable[[Path], str], files: dict) -> list[str]:
    """HTML blocks of the section, per atlas; empty without the group level's paper files."""
    blocks = []
    atlases = sorted({a for a, _ in files.get("topareas", {})})
    for atlas in atlases:
        blocks.append(f"<h3>{esc(atlas)}</h3>")
        methods = label_order(m for a, m in files["topareas"] if a == atlas)
        for method in methods:
            blocks.append(_method_blocks(figures, src, atlas, method, files))
        blocks += _volume_blocks(figures, src, atlas, files)
        blocks += _beta_blocks(figures, src, atlas, files)
    return blocks
