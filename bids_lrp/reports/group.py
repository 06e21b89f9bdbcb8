"""The group report: ``<out>/group/group_report.html`` with figures in ``<out>/group/figures/``.

Built from the group-level tables and maps (Böhle et al. 2019, section 2.5 and figures 4-7):
relevance density per area (``mean_group(S_a) / |a|``), relevance gain (``mean_AD(S_a) /
mean_HC(S_a)``, true positives and negatives over all controls), per-image area sums,
mean maps per group and the cosine similarity of per-image area vectors ("fingerprints"), and
the paper's own figures (`bids_lrp.reports.paper_section`). Any of these may be missing (no
labels: no gain, no metrics): the section then says why instead of failing.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from nibabel.filebasedimages import ImageFileError

from bids_lrp import __version__
from bids_lrp.group.cohort import IMAGE_COLUMNS
from bids_lrp.group.tables import GAINS, unstable_areas
from bids_lrp.group.write import METRICS_COLUMNS
from bids_lrp.reports.checks import FOOTER, near_zero_denominators
from bids_lrp.reports.discover import group_files, read_json
from bids_lrp.reports.figures import bar_chart, similarity_heatmap, violin_plot
from bids_lrp.reports.group_maps import method_maps
from bids_lrp.reports.group_summary import summary_blocks
from bids_lrp.reports.html import (
    Section,
    alert,
    definition_list,
    esc,
    figure,
    json_details,
    page,
    table,
)
from bids_lrp.reports.paper_section import paper_blocks
from bids_lrp.safewrite import atomic_write_text

__all__ = ["SECTIONS", "write_group_report"]

LOGGER = logging.getLogger("bids_lrp")

#: Section ids of the group report, in page order.
SECTIONS = {
    "summary": "Summary",
    "metrics": "Classification metrics",
    "density": "Relevance density",
    "gain": "Relevance gain",
    "violins": "Per-image area relevance",
    "maps": "Mean relevance maps",
    "similarity": "Fingerprint similarity",
    "boehle2019": "Böhle et al. 2019",
    "skipped": "Skipped",
    "about": "About",
}
TOP_AREAS = 25
VIOLIN_AREAS = 8
_UNREADABLE = (OSError, ValueError, KeyError, pd.errors.ParserError)
#: Errors a damaged or unexpected file can cause while drawing: said in the report, not raised.
_DAMAGED = (*_UNREADABLE, EOFError, TypeError, IndexError, zlib.error, ImageFileError)


def _tsv(path: Path | None) -> pd.DataFrame | None:
    if path is None:
        return None
    try:
        return pd.read_csv(path, sep="\t", na_values=["n/a"])
    except _UNREADABLE as err:
        LOGGER.warning("group report: cannot read %s (%s)", path, err)
        return None


class _Group:
    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir
        self.group = output_dir / "group"
        self.figures = self.group / "figures"
        self.blocks: dict[str, list[str]] = {key: [] for key in SECTIONS}

    def src(self, path: Path) -> str:
        return path.relative_to(self.group).as_posix()

    def say(self, section: str, level: str, text: str) -> None:
        self.blocks[section].append(alert(level, esc(text)))


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


def _density(rep: _Group, name: str, stem: str, stats: pd.DataFrame) -> None:
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


def _gain(rep: _Group, name: str, stem: str, stats: pd.DataFrame, sidecar: dict) -> None:
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
    rep: _Group, name: str, stem: str, stats: pd.DataFrame | None, sums: pd.DataFrame | None
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
    rep: _Group, name: str, stem: str, path: Path | None, sums: pd.DataFrame | None
) -> None:
    matrix = _tsv(path)
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


def _maps(
    rep: _Group, means: dict[tuple[str, ...], Path], share: tuple[int, int] = (0, 1)
) -> None:
    for method in sorted({k[0] for k in means}):
        paths = {k: p for k, p in means.items() if k[0] == method}
        try:
            method_maps(rep, method, paths, share)
        except _DAMAGED as err:
            LOGGER.exception("group report: mean maps of %s", method)
            rep.say("maps", "error", f"{method}: mean maps could not be shown ({err})")


def _metrics(rep: _Group, files: dict[tuple[str, ...], Path]) -> None:
    for (model,), path in sorted(files.items()):
        data = _tsv(path)
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


def _pair(rep: _Group, files: dict, atlas: str, method: str) -> None:
    """Density, gain, violins and similarity of one (atlas, method)."""
    name, stem = f"{method}, {atlas}", f"atlas-{atlas}_desc-{method}"
    stats = _tsv(files.get("groupstats", {}).get((atlas, method)))
    sums = _tsv(files.get("areasums", {}).get((atlas, method)))
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


#: A part of the report drawn on its own (possibly in another process, while the group level
#: still streams maps): ``("pair", atlas, method)``, ``("maps", method)``, or the k-th of n
#: slices of a method's maps ``("maps", method, k, n)``.
Part = tuple[str | int, ...]
Blocks = dict[str, list[str]]


def draw_part(output_dir: str | Path, part: Part, paths: list[Path] | None = None) -> Blocks:
    """Draw one part's figures and return its HTML blocks per section.

    ``paths``: the group files it is drawn from (default: those found in ``<out>/group``).
    """
    rep = _Group(Path(output_dir))
    rep.figures.mkdir(parents=True, exist_ok=True)
    files = group_files(rep.group, paths)
    if part[0] == "pair":
        atlas, method = part[1:]
        try:
            _pair(rep, files, atlas, method)
        except _DAMAGED as err:
            LOGGER.exception("group report: %s %s", atlas, method)
            rep.say("density", "error", f"{method}, {atlas}: tables could not be shown ({err})")
    else:
        means = {k: p for k, p in files.get("mean", {}).items() if k[0] == part[1]}
        _maps(rep, means, (part[2], part[3]) if len(part) == 4 else (0, 1))
    return rep.blocks


def _drawn(drawn: dict[Part, Blocks], part: Part) -> list[Blocks] | None:
    """The blocks of ``part`` if drawn already, whole or in all of its slices."""
    if part in drawn:
        return [drawn[part]]
    slices = sorted((p for p in drawn if len(p) == 4 and p[:2] == part), key=lambda p: p[2])
    if slices and [p[2] for p in slices] == list(range(slices[0][3])):
        return [drawn[p] for p in slices]
    return None


def _parts(files: dict[str, dict[tuple[str, ...], Path]]) -> list[Part]:
    """The parts of the report, in the order they appear."""
    pairs = sorted(
        {*files.get("areasums", {}), *files.get("groupstats", {}), *files.get("fingerprints", {})}
    )
    methods = sorted({k[0] for k in files.get("mean", {})})
    return [("pair", *p) for p in pairs] + [("maps", m) for m in methods]


def write_group_report(output_dir: str | Path, drawn: dict[Part, Blocks] | None = None) -> Path:
    """Write ``<out>/group/group_report.html`` and its figures under ``<out>/group/figures/``.

    Parameters
    ----------
    output_dir
        The derivatives folder (with the ``group`` folder written by the group level).
    drawn
        Parts already drawn (`draw_part`), e.g. while the group level was still running; the
        others are drawn here.

    Returns
    -------
    Path
        The HTML file (written atomically, like every figure).

    Raises
    ------
    FileNotFoundError
        When ``<out>/group`` does not exist.
    """
    rep = _Group(Path(output_dir))
    if not rep.group.is_dir():
        raise FileNotFoundError(
            f"No group outputs in {output_dir} (no folder 'group'); run the group level first"
        )
    files = group_files(rep.group)
    summary = read_json(rep.group / "group_summary.json")
    summary_blocks(rep, summary)
    _metrics(rep, files.get("metrics", {}))
    parts = _parts(files)
    for part in parts:
        for blocks in _drawn(drawn or {}, part) or [draw_part(output_dir, part)]:
            for key, items in blocks.items():
                rep.blocks[key] += items
    if not any(p[0] == "pair" for p in parts):
        for key in ("density", "gain", "violins", "similarity"):
            rep.say(key, "info", "No area tables were found.")
    if not files.get("mean"):
        rep.say("maps", "info", "No mean maps were found.")
    try:
        rep.blocks["boehle2019"] += paper_blocks(rep.figures, rep.src, files)
    except _DAMAGED as err:
        LOGGER.exception("group report: the Böhle et al. 2019 section")
        rep.say("boehle2019", "error", f"the paper's figures could not be drawn ({err})")
    if not rep.blocks["boehle2019"]:
        rep.say("boehle2019", "info", "No tables of the paper's analyses were found.")
    else:
        rep.blocks["boehle2019"].insert(
            0,
            "<p>The figures and numbers of Böhle et al. (2019) for this run, computed as the "
            "authors' code computes them. S_a(i) is image i's relevance summed over area a, "
            "|a| the area's voxels; rankings keep the top 25 areas.</p>",
        )
    rep.blocks["about"].append(
        "<p>Area metrics after Böhle et al. (2019), Front. Aging Neurosci. 11:194: S_a is the "
        "sum of relevance over area a; density = mean S_a / |a|; gain = mean_AD(S_a) / "
        f"mean_HC(S_a). Report made by bids_lrp {esc(__version__)}.</p>"
    )
    sections = [
        Section(key, title, "\n".join(rep.blocks[key]) or alert("info", "Nothing to show."))
        for key, title in SECTIONS.items()
    ]
    # no time stamp: the same outputs give the same report (reruns, resumed runs)
    subtitle = f"bids_lrp {__version__}"
    html = page("Group report", subtitle, sections, footer=FOOTER)
    path = atomic_write_text(rep.group / "group_report.html", html)
    _remove_unshown_figures(rep, html)
    return path


def _remove_unshown_figures(rep: _Group, html: str) -> None:
    """Delete the figures in ``group/figures/`` that the page does not show: an earlier run's
    drawings of products this run no longer has (a mean map of a group now without readable
    maps, a method or atlas left out), which would otherwise pass for current ones."""
    if not rep.figures.is_dir():
        return
    for path in sorted(rep.figures.iterdir()):
        if path.suffix not in (".png", ".svg") or not path.is_file():
            continue  # an atomic write's temporary ends in .tmp
        if f'src="{esc(rep.src(path))}"' not in html:
            LOGGER.info("removing %s, a figure left from an earlier report", rep.src(path))
            path.unlink(missing_ok=True)
