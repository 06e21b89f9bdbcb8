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
from pathlib import Path

from bids_lrp import __version__
from bids_lrp.reports.checks import FOOTER
from bids_lrp.reports.discover import group_files, read_json
from bids_lrp.reports.group_areas import (
    faithfulness_section,
    metrics_section,
    pair_sections,
    randomization_section,
)
from bids_lrp.reports.group_maps import method_maps
from bids_lrp.reports.group_page import DAMAGED, SECTIONS, TOP_AREAS, GroupPage
from bids_lrp.reports.group_summary import summary_blocks
from bids_lrp.reports.html import (
    Section,
    alert,
    esc,
    page,
)
from bids_lrp.reports.paper_section import paper_blocks
from bids_lrp.safewrite import atomic_write_text

__all__ = ["SECTIONS", "TOP_AREAS", "draw_part", "write_group_report"]

LOGGER = logging.getLogger("bids_lrp")


def _maps(
    rep: GroupPage, means: dict[tuple[str, ...], Path], share: tuple[int, int] = (0, 1)
) -> None:
    for method in sorted({k[0] for k in means}):
        paths = {k: p for k, p in means.items() if k[0] == method}
        try:
            method_maps(rep, method, paths, share)
        except DAMAGED as err:
            LOGGER.exception("group report: mean maps of %s", method)
            rep.say("maps", "error", f"{method}: mean maps could not be shown ({err})")


#: A part of the report drawn on its own (possibly in another process, while the group level
#: still streams maps): ``("pair", atlas, method)``, ``("maps", method)``, or the k-th of n
#: slices of a method's maps ``("maps", method, k, n)``.
Part = tuple[str | int, ...]
Blocks = dict[str, list[str]]


def draw_part(output_dir: str | Path, part: Part, paths: list[Path] | None = None) -> Blocks:
    """Draw one part's figures and return its HTML blocks per section.

    ``paths``: the group files it is drawn from (default: those found in ``<out>/group``).
    """
    rep = GroupPage(Path(output_dir))
    rep.figures.mkdir(parents=True, exist_ok=True)
    files = group_files(rep.group, paths)
    if part[0] == "pair":
        atlas, method = part[1:]
        try:
            pair_sections(rep, files, atlas, method)
        except DAMAGED as err:
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
    rep = GroupPage(Path(output_dir))
    if not rep.group.is_dir():
        raise FileNotFoundError(
            f"No group outputs in {output_dir} (no folder 'group'); run the group level first"
        )
    files = group_files(rep.group)
    summary = read_json(rep.group / "group_summary.json")
    summary_blocks(rep, summary)
    metrics_section(rep, files.get("metrics", {}))
    faithfulness_section(rep, files.get("faithfulness", {}))
    randomization_section(rep, files.get("randomization", {}))
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
    except DAMAGED as err:
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


def _remove_unshown_figures(rep: GroupPage, html: str) -> None:
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
