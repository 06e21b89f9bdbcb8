"""The group report's per-area sections of one (atlas, method): density, gain, per-image area
relevance (violins) and fingerprint similarity; and the classification metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bids_lrp.faithfulness import verdict
from bids_lrp.group.cohort import IMAGE_COLUMNS
from bids_lrp.group.tables import GAINS, unstable_areas
from bids_lrp.group.write import METRICS_COLUMNS
from bids_lrp.randomization import THRESHOLD
from bids_lrp.reports.checks import near_zero_denominators, number
from bids_lrp.reports.discover import read_json
from bids_lrp.reports.figures import bar_chart, similarity_heatmap, violin_plot
from bids_lrp.reports.group_page import TOP_AREAS, VIOLIN_AREAS, GroupPage, read_table
from bids_lrp.reports.html import definition_list, esc, figure, json_details, table

__all__ = ["faithfulness_section", "metrics_section", "pair_sections", "randomization_section"]


def _ranked(stats: pd.DataFrame, column: str) -> pd.DataFrame:
    """The `TOP_AREAS` rows with the largest finite values of ``column``."""
    values = _numeric(stats, column)
    keep = stats[np.isfinite(values)].assign(**{column: values[np.isfinite(values)]})
    return keep.sort_values(column, ascending=False).head(TOP_AREAS)


def _numeric(stats: pd.DataFrame, column: str) -> pd.Series:
    """A column as floats (all NaN when absent)."""
    if column not in stats:
        return pd.Series(np.nan, index=stats.index)
    return pd.to_numeric(stats[column], errors="coerce")


def _density(rep: GroupPage, name: str, stem: str, stats: pd.DataFrame) -> None:
    group = "AD" if np.isfinite(_numeric(stats, "density_AD")).any() else "all"
    if f"density_{group}" not in stats:
        rep.say("density", "info", f"{name}: no density columns in the group table.")
        return
    top = _ranked(stats, f"density_{group}")
    shown = [g for g in (group, "HC") if f"density_{g}" in top and (g == group or group == "AD")]
    series = {g: list(_numeric(top, f"density_{g}")) for g in shown}
    path = bar_chart(
        list(top["name"]),
        series,
        rep.figures / f"{stem}_density.svg",
        title=f"{name}: top {len(top)} areas by relevance density ({group})",
        xlabel="relevance density (mean S_a / voxels)",
    )
    caption = f"Areas ranked by relevance density in the {group} group" + (
        ", with the HC density beside it." if "HC" in shown else "."
    )
    rep.blocks["density"].append(f"<h3>{esc(name)}</h3>{figure(rep.src(path), caption)}")


def _with_relevance(sidecar: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Per group: (images whose map holds any relevance, images), as the group level counted.

    Empty for group tables written before the count existed (no ``ImagesWithRelevance``).
    """
    counts = sidecar.get("ImagesWithRelevance", {})
    sizes = sidecar.get("GroupSizes", {})
    if not isinstance(counts, dict) or not isinstance(sizes, dict):
        return {}
    counts = counts.get("Counts", {})
    if not isinstance(counts, dict):
        return {}
    return {
        g: (int(counts[g]), int(sizes[g]))
        for g in counts
        if isinstance(counts[g], int) and isinstance(sizes.get(g), int)
    }


def _gain(rep: GroupPage, name: str, stem: str, stats: pd.DataFrame, sidecar: dict) -> None:
    made, said = False, False
    counts = _with_relevance(sidecar)
    for num, den in GAINS:
        column, groups = f"gain_{num}_{den}", f"{num} / {den}"
        live, total = counts.get(den, (None, 0))
        if not np.isfinite(_numeric(stats, column)).any():
            if total and live == 0:
                rep.say(
                    "gain",
                    "warning",
                    f"{name}: no relevance gain {groups}: none of the {total} {den} maps holds "
                    f"any relevance, so mean_{den}(S_a) is 0 in every area. Under LRP "
                    "alpha1-beta0 (and guided backpropagation) a map is empty when no unit of "
                    "the network's last layers gives evidence for the explained class: for AD, "
                    "a clear control.",
                )
                said = True
            continue
        top = _ranked(stats, column)
        unstable = unstable_areas(top, num, den)
        path = bar_chart(
            list(top["name"]),
            {groups: list(top[column])},
            rep.figures / f"{stem}_{column.replace('_', '')}.svg",
            title=f"{name}: top {len(top)} areas by relevance gain {groups}",
            xlabel=f"relevance gain (mean S_a {groups})",
            reference=1.0,
            flagged=[n in unstable for n in top["name"]],
            flag_label=f"mean_{den}(S_a) near 0: noise",
            log_if_wide=True,
        )
        caption = f"Relevance gain {groups}: ratio of the mean area relevance of the two groups."
        if unstable:
            caption += f" Hatched grey: areas whose mean_{den}(S_a) is near 0 (see the warning)."
        if total:
            caption += (
                f" {live} of {total} {den} maps hold any relevance; the {den} mean rests on them."
            )
        heading = "" if made else f"<h3>{esc(name)}</h3>"
        rep.blocks["gain"].append(heading + figure(rep.src(path), caption))
        made = True
        if unstable:
            subject = f"{name}: {len(unstable)} of the top {len(top)} areas by gain {groups}"
            rep.say("gain", "warning", near_zero_denominators(subject, unstable, den))
        if total and 2 * live < total:
            rep.say(
                "gain",
                "warning",
                f"{name}: only {live} of {total} {den} maps hold any relevance (the others are "
                f"empty), so gain {groups} divides by the mean of {live} map(s): its ranking "
                f"can change with a few {den} images. See the per-image area relevance.",
            )
    if not made and not said:
        rep.say("gain", "info", f"{name}: no relevance gain (it needs labelled AD and HC images).")


def _violins(
    rep: GroupPage, name: str, stem: str, stats: pd.DataFrame | None, sums: pd.DataFrame | None
) -> None:
    if sums is None or "label" not in sums:
        rep.say("violins", "info", f"{name}: no per-image area table with labels.")
        return
    labels = sums["label"].astype(str)
    if not {"AD", "HC"} <= set(labels):
        rep.say("violins", "info", f"{name}: needs labelled AD and HC images (none or one group).")
        return
    areas = [c for c in sums.columns if c not in IMAGE_COLUMNS]
    chosen, what = [], ""
    for column, words in (("gain_AD_HC", "AD / HC gain"), ("density_AD", "AD relevance density")):
        if stats is not None and np.isfinite(_numeric(stats, column)).any():
            chosen = [a for a in _ranked(stats, column)["name"] if a in areas]
            what = words
            break
    if not chosen:  # no gain, no density: the areas of largest mean |S_a|
        magnitude = sums[areas].apply(pd.to_numeric, errors="coerce").abs().mean()
        chosen = [a for a in magnitude.sort_values(ascending=False).index if magnitude[a] > 0]
        what = "mean absolute relevance"
    if not chosen:
        rep.say("violins", "info", f"{name}: every area sum is 0: nothing to compare.")
        return
    data = {
        area: {
            g: pd.to_numeric(sums.loc[labels == g, area], errors="coerce").tolist()
            for g in ("AD", "HC")
        }
        for area in chosen[:VIOLIN_AREAS]
    }
    path = violin_plot(
        data,
        rep.figures / f"{stem}_violins.svg",
        title=f"{name}: per-image relevance of the top areas by {what}",
        ylabel="relevance sum S_a",
    )
    caption = f"Relevance sum per image in the areas with the highest {what}; one dot per image."
    rep.blocks["violins"].append(f"<h3>{esc(name)}</h3>{figure(rep.src(path), caption)}")


def _similarity(
    rep: GroupPage, name: str, stem: str, path: Path | None, sums: pd.DataFrame | None
) -> None:
    matrix = read_table(path)
    if matrix is None or "image" not in matrix or len(matrix) < 2:
        rep.say("similarity", "info", f"{name}: no fingerprint similarity matrix.")
        return
    images = matrix["image"].astype(str).tolist()
    values = matrix.set_index("image").reindex(columns=images).to_numpy(dtype=float)
    label_of = (
        dict(zip(sums["image"].astype(str), sums["label"].astype(str), strict=False))
        if (sums is not None and {"image", "label"} <= set(sums.columns))
        else {}
    )
    rank = {g: i for i, g in enumerate(("AD", "HC"))}
    order = sorted(range(len(images)), key=lambda i: (rank.get(label_of.get(images[i]), 9), i))
    groups = [label_of.get(images[i], "n/a") for i in order] if label_of else None
    out = similarity_heatmap(
        values[np.ix_(order, order)],
        [images[i] for i in order],
        rep.figures / f"{stem}_similarity.svg",
        groups=groups,
        title=f"{name}: cosine similarity of area relevance",
    )
    caption = "Cosine similarity of the per-image vectors of area relevance sums" + (
        ", sorted by group (strips: AD red, HC blue)." if groups else "."
    )
    side = read_json(path.with_suffix(".json"))
    rep.blocks["similarity"].append(
        f"<h3>{esc(name)}</h3>{figure(rep.src(out), caption)}"
        f"{json_details(side, 'Most dissimilar confident pair and table description')}"
    )


def metrics_section(rep: GroupPage, files: dict[tuple[str, ...], Path]) -> None:
    for (model,), path in sorted(files.items()):
        data = read_table(path)
        if data is None or data.empty:
            continue
        rows = data.to_dict("records")
        rep.blocks["metrics"].append(
            f"<h3>{esc(model)}</h3>"
            + table(
                rows,
                list(data.columns),
                caption="The model's classification of the labelled images (AD positive; a "
                "prediction is AD when p(AD) >= 0.5), overall and per session. What each "
                "column means:",
            )
            + definition_list(
                [(c, METRICS_COLUMNS[c]) for c in data.columns if c in METRICS_COLUMNS]
            )
        )
        overall = next((r for r in rows if r.get("scope") == "overall"), rows[0])
        cells = [
            [f"true {t}"] + [overall.get(c) for c in cs]
            for t, cs in (("AD", ("tp", "fn")), ("HC", ("fp", "tn")))
        ]
        rep.blocks["metrics"].append(
            table(
                cells,
                ["", "AD", "HC"],
                headers=["", "predicted AD", "predicted HC"],
                caption=f"Confusion matrix ({overall.get('scope', 'overall')})",
            )
        )
    if not rep.blocks["metrics"]:
        rep.say("metrics", "info", "No classification metrics (they need labelled images).")


def pair_sections(rep: GroupPage, files: dict, atlas: str, method: str) -> None:
    """Density, gain, violins and similarity of one (atlas, method)."""
    name, stem = f"{method}, {atlas}", f"atlas-{atlas}_desc-{method}"
    stats = read_table(files.get("groupstats", {}).get((atlas, method)))
    sums = read_table(files.get("areasums", {}).get((atlas, method)))
    if stats is None or "name" not in stats:
        rep.say("density", "info", f"{name}: no group statistics table.")
        rep.say("gain", "info", f"{name}: no group statistics table.")
    else:
        sidecar = read_json(files["groupstats"][(atlas, method)].with_suffix(".json"))
        _density(rep, name, stem, stats)
        _gain(rep, name, stem, stats, sidecar)
        rep.blocks["density"].append(json_details(sidecar, "Group sizes and columns"))
    _violins(rep, name, stem, stats, sums)
    _similarity(rep, name, stem, files.get("fingerprints", {}).get((atlas, method)), sums)


def faithfulness_section(rep: GroupPage, files: dict[tuple[str, ...], Path]) -> None:
    """Per method, how its maps fared when their most relevant areas were removed."""
    for (atlas,), path in sorted(files.items()):
        data = read_table(path)
        if data is None or data.empty or "method" not in data:
            continue
        rows = data.to_dict("records")
        for row in rows:
            row["verdict"] = verdict(
                number(row.get("aopc_morf_mean")),
                number(row.get("aopc_lerf_mean")),
                number(row.get("aopc_random_mean")),
            )
        shown = ("method", "n_images", "aopc_morf_mean", "aopc_random_mean", "aopc_lerf_mean")
        columns = [c for c in (*shown, "faithful_share", "verdict") if c in rows[0]]
        rep.blocks["faithfulness"].append(
            f"<h3>{esc(atlas or 'atlas')}</h3>"
            + table(
                rows,
                columns,
                caption="Atlas areas were removed from each image in its map's order (MoRF), "
                "at random and in reverse (LeRF), replaced by the template brain; AOPC is the "
                "mean drop of the probability of the explained class (Samek et al. 2017). A "
                "faithful method's MoRF AOPC lies above the random one. faithful_share: the "
                "images where that holds for the image's own map.",
            )
        )
    if not rep.blocks["faithfulness"]:
        rep.say(
            "faithfulness",
            "info",
            "Faithfulness was not measured (the participant level ran with "
            "--faithfulness-steps 0).",
        )


def randomization_section(rep: GroupPage, files: dict[tuple[str, ...], Path]) -> None:
    """Per method, how much its maps changed with the network's weights randomized."""
    for (space,), path in sorted(files.items()):
        data = read_table(path)
        if data is None or data.empty or "method" not in data:
            continue
        rows = data.to_dict("records")
        dense = [r for r in rows if int(number(r.get("step")) or 0) == 0]
        for row in dense:
            rho = number(row.get("spearman_mean"))
            row["verdict"] = (
                "not measured" if rho is None
                else "depends on the learned weights" if rho < THRESHOLD
                else "barely changes without the learned weights"
            )  # fmt: skip
        columns = ("method", "n_images", "spearman_mean", "spearman_sd", "passed_share", "verdict")
        rep.blocks["faithfulness"].append(
            f"<h3>Model randomization ({esc(space)})</h3>"
            + table(
                dense,
                [c for c in columns if c in dense[0]] if dense else list(columns),
                caption="Spearman's rho of absolute values, inside the template brain, between "
                "each map and the map of the same network with its dense layers randomized "
                f"(Adebayo et al. 2018). A map with rho of {THRESHOLD} or more barely depends "
                "on what the network learned; passed_share: the images where rho is below it.",
            )
        )
        cascade = [r for r in rows if int(number(r.get("step")) or 0) > 0]
        if cascade:
            wide = {}
            for row in cascade:
                entry = wide.setdefault(row["method"], {"method": row["method"]})
                entry[f"{int(row['step'])}: {row['randomized']}"] = row.get("spearman_mean")
            steps = sorted(
                {(int(r["step"]), f"{int(r['step'])}: {r['randomized']}") for r in cascade}
            )
            rep.blocks["faithfulness"].append(
                table(
                    list(wide.values()),
                    ["method", *(name for _, name in steps)],
                    caption="Cascading randomization: mean rho with the weight layers "
                    "randomized from the top down to the named one. Falling towards 0 as "
                    "more layers are randomized is what a map that reads the model should do.",
                )
            )
