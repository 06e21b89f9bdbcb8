"""Run the benchmark: simulate (or take) a cohort, run the real participant level, score the maps.

Everything goes into one folder: ``bids/`` (the simulated cohort, unless one is given),
``out/`` (the participant level's derivatives), ``work/`` (its working files) and the results:
``benchmark.tsv`` (one row per method), ``benchmark_images.tsv`` (one row per image and method),
``benchmark_summary.json`` and ``benchmark.html``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from bids_lrp.benchmark.score import WIDEN_MM, dilate, image_scores, method_summary
from bids_lrp.benchmark.truth import SPACE, GroundTruth, read_truth
from bids_lrp.exitcodes import EX_NOINPUT, CommandError
from bids_lrp.group.write import write_tsv
from bids_lrp.layout import ImageOutputs, find_images
from bids_lrp.methods import label_order
from bids_lrp.regions import merge_hemispheres
from bids_lrp.safewrite import atomic_write_json, writable_folder

__all__ = ["ATLAS", "COLUMNS", "BenchmarkError", "BenchmarkResult", "run_benchmark"]

LOGGER = logging.getLogger("bids_lrp")
#: The atlas the planted areas come from (and the areas are ranked on).
ATLAS = "Neuromorphometrics"
#: The columns of ``benchmark.tsv``.
COLUMNS = {
    "method": "output label of the method (desc-<label>)",
    "n_ad": "AD scans scored",
    "n_cn": "CN scans",
    "inside": "mean share of an AD map's positive relevance inside the planted areas",
    "inside_wide": f"the same, inside the planted areas dilated by {WIDEN_MM:g} mm",
    "pointing": f"share of AD maps whose maximum lies in the planted areas + {WIDEN_MM:g} mm",
    "ranking": "how the areas were ranked: 'gain' (mean AD / mean CN area sum) or, when the "
    "CN sums are ~0 for half the areas, 'AD-CN difference'",
    "n_areas": "areas ranked (hemispheres merged)",
    "best_planted_rank": "the best rank of a planted area (1 = first)",
    "planted_ranks": "rank of each planted area",
    "top3": "the three first areas",
    "top3_planted": "planted areas among the three first",
    "randomization": "mean Spearman rho (AD maps) with the dense layers randomized; below 0.5: "
    "the map depends on the learned weights",
    "randomization_all": "mean rho with every weight layer randomized (cascade's last step)",
    "aopc_morf": "mean AOPC, most relevant areas removed first (faithfulness)",
    "aopc_random": "mean AOPC, areas removed at random",
    "aopc_lerf": "mean AOPC, least relevant areas removed first",
    "ad_cosine": "mean pairwise cosine similarity of AD area vectors (1: every map alike)",
    "cn_over_ad_positive": "mean positive relevance of CN maps / that of AD maps",
}


class BenchmarkError(CommandError):
    """The benchmark cannot run or score (one line; ``code`` is the exit status)."""


@dataclass
class BenchmarkResult:
    """Scores per method (``methods``), per image and method (``images``), and the rest."""

    methods: pd.DataFrame
    images: pd.DataFrame
    summary: dict[str, Any]
    files: list[Path] = field(default_factory=list)


def run_participant_level(
    bids: Path,
    out: Path,
    work: Path,
    *,
    model: Path | None,
    methods: Sequence[str] | None,
    nprocs: int,
    omp_nthreads: int,
    faithfulness_steps: int,
    randomization_layers: str,
    validate: bool,
) -> None:
    """The real participant level over ``bids`` (maps in template space only)."""
    from bids_lrp.cli.run import main  # deferred: the whole participant stack

    argv = [str(bids), str(out), "participant", "-w", str(work), "--no-native-space",
            "--nprocs", str(nprocs), "--omp-nthreads", str(omp_nthreads),
            "--faithfulness-steps", str(faithfulness_steps),
            "--randomization-check", "--randomization-layers", randomization_layers]  # fmt: skip
    if model is not None:
        argv += ["--model", str(model)]
    if methods:
        argv += ["--methods", *methods]
    if not validate:
        argv.append("--skip-bids-validation")
    code = main(argv)
    if code != 0:
        raise BenchmarkError(
            f"the participant level failed (exit {code}); its logs are in {out / 'logs'}", code
        )


def _sidecar(path: Path) -> dict:
    name = path.name.removesuffix(".nii.gz").removesuffix(".nii") + ".json"
    try:
        data = json.loads((path.parent / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _figures(sidecar: dict) -> dict[str, float]:
    """The faithfulness and randomization figures a map's sidecar records."""
    out: dict[str, float] = {}
    aopc = (sidecar.get("Faithfulness") or {}).get("AOPC") or {}
    for order in ("morf", "random", "lerf"):
        out[f"aopc_{order}"] = aopc.get(order, np.nan)
    check = sidecar.get("Randomization") or {}
    out["randomization"] = check.get("Spearman", np.nan)
    cascade = check.get("Cascade") or []
    out["randomization_all"] = cascade[-1].get("Spearman", np.nan) if cascade else np.nan
    return {k: np.nan if v is None else float(v) for k, v in out.items()}


def _area_sums(image: ImageOutputs, label: str) -> pd.DataFrame | None:
    path = image.regions.get(label, {}).get(ATLAS)
    if path is None:
        return None
    return merge_hemispheres(pd.read_csv(path, sep="\t", na_values="n/a"))


def _predicted_ad(image: ImageOutputs) -> bool | None:
    if image.prediction is None:
        return None
    row = pd.read_csv(image.prediction, sep="\t", dtype=str).iloc[0]
    return str(row["predicted_class"]) == "AD"


def score_outputs(out: Path, truth: GroundTruth) -> BenchmarkResult:
    """Score the participant level's maps in ``out`` against ``truth``."""
    images = [im for im in find_images(out) if im.prefix in truth.masks]
    if not images:
        raise BenchmarkError(f"{out} holds no outputs of the cohort's scans", EX_NOINPUT)
    other = sorted({im.template for im in images} - {SPACE})
    if other:
        raise BenchmarkError(
            f"the maps are in {', '.join(map(str, other))}; the planted areas are known in "
            f"{SPACE} only (use a model whose card names that template)"
        )
    rows, areas, planted_names, is_ad, calls = [], {}, set(), {}, []
    for image in images:
        ad = truth.is_ad(image.prefix)
        is_ad[image.prefix] = ad
        calls.append((ad, _predicted_ad(image)))
        planted = truth.mask(image.prefix)
        widened = dilate(planted)
        for label, path in sorted(image.relevance.items()):
            relevance = np.asarray(nib.load(path).dataobj, dtype=np.float64)
            if relevance.shape != planted.shape:
                raise BenchmarkError(f"{path.name}: grid {relevance.shape} is not the truth's")
            sums = _area_sums(image, label)
            if sums is not None:
                areas.setdefault(label, {})[image.prefix] = sums.set_index("name")["relevance_sum"]
                for name, indices in zip(sums["name"], sums["indices"], strict=True):
                    if {int(i) for i in str(indices).split("+")} & set(truth.planted_indices):
                        planted_names.add(name)
            rows.append(
                {
                    "image": image.prefix,
                    "ad": ad,
                    "method": label,
                    **image_scores(relevance, planted, widened),
                    **_figures(_sidecar(path)),
                }
            )
    frame = pd.DataFrame(rows)
    summaries = []
    for label in label_order(frame["method"].unique()):
        part = frame[frame["method"] == label]
        summary = method_summary(part, areas.get(label, {}), is_ad, sorted(planted_names))
        summaries.append({"method": label, **summary})
    methods = pd.DataFrame(summaries)
    methods["planted_ranks"] = [
        ", ".join(f"{n} {r}" for n, r in sorted(ranks.items(), key=lambda t: t[1]))
        for ranks in methods["planted_ranks"]
    ]
    methods["top3"] = [", ".join(top) for top in methods["top3"]]
    methods = methods[list(COLUMNS)]
    return BenchmarkResult(methods, frame, _cohort_summary(calls, truth, sorted(planted_names)))


def _cohort_summary(calls, truth: GroundTruth, planted: list[str]) -> dict[str, Any]:
    """Classification against the truth and the planted areas' share of the brain."""
    from bids_lrp.templates import get_template

    known = [(t, p) for t, p in calls if p is not None]
    truth_arr = np.array([t for t, _ in known], bool)
    pred_arr = np.array([p for _, p in known], bool)
    sens = float((pred_arr & truth_arr).sum() / truth_arr.sum()) if truth_arr.any() else None
    spec = (
        float((~pred_arr & ~truth_arr).sum() / (~truth_arr).sum()) if (~truth_arr).any() else None
    )
    brain = get_template(SPACE).brain_mask() > 0
    ad_masks = [k for k in truth.masks if truth.is_ad(k)]
    share = wide = None
    if ad_masks:
        mask = truth.mask(ad_masks[0])
        share = float((mask & brain).sum() / brain.sum())
        wide = float((dilate(mask) & brain).sum() / brain.sum())
    return {
        "scans": len(calls),
        "ad_scans": int(sum(t for t, _ in calls)),
        "sensitivity": sens,
        "specificity": spec,
        "balanced_accuracy": None if sens is None or spec is None else (sens + spec) / 2,
        "planted_areas": planted,
        "planted_brain_share": share,
        "planted_wide_brain_share": wide,
    }


def write_results(folder: Path, result: BenchmarkResult, about: dict[str, Any]) -> list[Path]:
    """Write the tables, their sidecars, ``benchmark_summary.json`` and the HTML page."""
    from bids_lrp.benchmark.page import write_page

    files = [
        write_tsv(folder / "benchmark.tsv", result.methods, {"Description": "scores per "
                  "method against the planted atrophy", **COLUMNS}),
        write_tsv(folder / "benchmark_images.tsv", result.images, {"Description": "scores "
                  "per image and method (image_scores, and the map's sidecar figures)"}),
    ]  # fmt: skip
    summary = {**about, **result.summary, "methods": result.methods.to_dict("records")}
    files.append(atomic_write_json(folder / "benchmark_summary.json", _plain(summary)))
    files.append(write_page(folder / "benchmark.html", result, about))
    return files


def _plain(value: Any) -> Any:
    """JSON-ready: NaN -> None, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def run_benchmark(
    folder: Path,
    *,
    bids: Path | None = None,
    n_subjects: int = 20,
    seed: int = 7002,
    severity: float = 0.3,
    model: Path | None = None,
    methods: Sequence[str] | None = None,
    nprocs: int = 2,
    omp_nthreads: int = 1,
    faithfulness_steps: int = 20,
    randomization_layers: str = "cascade",
    reuse: bool = False,
) -> BenchmarkResult:
    """Simulate (or take) a cohort, run the participant level on it and score its maps.

    With ``reuse``, the participant level's outputs already in ``folder/out`` are scored as
    they are (nothing is run again); a cohort simulated earlier in ``folder/bids`` is always
    reused.
    """
    simulated = bids is None
    if not simulated:  # a cohort without ground truth is refused before anything is written
        read_truth(Path(bids))
    folder = writable_folder(Path(folder).resolve())
    bids = (folder / "bids") if bids is None else Path(bids).resolve()
    if simulated and not (bids / "participants.tsv").is_file():
        from bids_lrp.simulate import simulate_cohort

        LOGGER.info("simulating %d participants (seed %d) into %s", n_subjects, seed, bids)
        simulate_cohort(bids, n_subjects=n_subjects, seed=seed, severity=severity)
    truth = read_truth(bids)
    out = folder / "out"
    if not (reuse and out.is_dir()):
        run_participant_level(
            bids, out, folder / "work", model=model, methods=methods, nprocs=nprocs,
            omp_nthreads=omp_nthreads, faithfulness_steps=faithfulness_steps,
            randomization_layers=randomization_layers, validate=not simulated,
        )  # fmt: skip
    result = score_outputs(out, truth)
    about = {
        "bids": str(bids),
        "simulated": simulated,
        "seed": seed if simulated else None,
        "severity": severity if simulated else None,
        "model": str(model) if model is not None else "the shipped model",
        "atlas": ATLAS,
        "space": SPACE,
        "widen_mm": WIDEN_MM,
    }
    result.files = write_results(folder, result, about)
    return result
