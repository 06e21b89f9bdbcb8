"""Do the explanations point where the disease is? Ground truth from the simulator.

A fresh simulated cohort (a seed used neither for training nor for choosing the model: the
demo model was chosen on seed 7001, see ``model_screen.py``) goes through the real participant
level (N4, affine registration, the model, every method); the planted atrophy masks in template
space (``derivatives/simulation``) are the ground truth:

    .venv/bin/python benchmarks/localization.py --n-subjects 40 --seed 7002 --work /tmp/loc7002

(severity 0.3 and the shipped model by default: ``make model`` trained it with seed 200).

Reported per method (``boehle2019`` with beta 0 and 1, alpha-beta, epsilon, composite, guided
backprop, gradient, gradient x input):

- share of the AD scans' positive relevance inside the planted areas (and inside them dilated by
  3 mm), next to the share of brain volume they occupy;
- rank of the planted areas by relevance gain (mean AD area sum / mean CN area sum, left and
  right merged); pointing game (is the maximum inside a planted area, dilated by 3 mm);
- model randomization (Adebayo et al. 2018): Spearman correlation of each AD heatmap with the
  heatmap of the same network whose layers are re-initialized from the top, one more each step;
- the paper's claims on this ground truth: inter-patient variability (mean pairwise cosine
  similarity of AD area vectors), positive relevance of CN relative to AD, planted areas on top.

Also the classification: balanced accuracy of the pipeline's predictions against the truth.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

os.environ.setdefault("NIPYPE_NO_ET", "1")
TPL = "MNI152NLin2009cAsym"
#: (label, registry method, parameters, explained class): the rows of the report. The
#: participant level's (and the paper's) targets: AD, and each scan's predicted class for guided
#: backprop; "guided-backprop AD" is the row earlier rounds called guided-backprop.
METHODS = (
    ("boehle2019 b0", "boehle2019", {"beta": 0.0}, "AD"),
    ("boehle2019 b1", "boehle2019", {"beta": 1.0}, "AD"),
    ("alpha-beta", "alpha-beta", {}, "AD"),
    ("epsilon", "epsilon", {}, "AD"),
    ("composite", "composite", {}, "AD"),
    ("guided-backprop", "guided-backprop", {}, "predicted"),
    ("guided-backprop AD", "guided-backprop", {}, "AD"),
    ("gradient", "gradient", {}, "AD"),
    ("gradient-x-input", "gradient-x-input", {}, "AD"),
)


def _target(card, target: str):
    """A row's class for the engine: a class index, or its token for each image's prediction."""
    from bids_lrp.lrp import PREDICTED

    return PREDICTED if target == "predicted" else card.class_names.index(target)


def run_pipeline(bids: Path, out: Path, work: Path, model: Path, nprocs: int) -> float:
    """The real participant level (default methods); returns its wall time."""
    exe = Path(sys.executable).parent / "bids_lrp"
    start = time.perf_counter()
    subprocess.run(
        [
            str(exe),
            str(bids),
            str(out),
            "participant",
            "-w",
            str(work),
            "--model",
            str(model),
            "--nprocs",
            str(nprocs),
            "--omp-nthreads",
            "1",
            "--skip-bids-validation",
        ],
        check=True,
    )
    return time.perf_counter() - start


def truth_tables(bids: Path) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Diagnosis per participant and each scan's template-space planted-area mask."""
    participants = pd.read_csv(bids / "participants.tsv", sep="\t")
    masks = {
        p.name.split("_space-")[0]: p
        for p in (bids / "derivatives" / "simulation").glob(
            f"sub-*/**/anat/*_space-{TPL}_desc-atrophy_dseg.nii.gz"
        )
    }
    return participants, masks


def dilate(mask: np.ndarray, mm: float, voxel_mm: float = 1.0) -> np.ndarray:
    """Binary dilation by a ball of radius ``mm``."""
    from scipy import ndimage

    r = int(np.floor(mm / voxel_mm))
    grid = np.mgrid[-r : r + 1, -r : r + 1, -r : r + 1]
    ball = (grid**2).sum(axis=0) <= r * r
    return ndimage.binary_dilation(mask, structure=ball)


@functools.lru_cache(maxsize=2)
def load_model(model_path: Path):
    """The model and its card (verified checkpoint, eval mode, CPU), loaded once per file."""
    from bids_lrp.model import load_checkpoint

    return load_checkpoint(model_path)


def explain_all(model_path: Path, preproc: Path) -> tuple[dict, np.ndarray]:
    """Template-grid relevance of every method (same resampling as the participant level)."""
    import torch

    from bids_lrp.lrp import attribute
    from bids_lrp.model.network_input import load_network_input
    from bids_lrp.normalize import relevance_to_grid

    model, card = load_model(Path(model_path))
    img, net = load_network_input(preproc, card)
    x = torch.from_numpy(np.asarray(net.dataobj, dtype=np.float32))[None, None]
    maps = {}
    for label, method, params, target in METHODS:
        rel = attribute(model, x, _target(card, target), method, **params).relevance[0, 0].numpy()
        rel_img = nib.Nifti1Image(rel.astype(np.float32), net.affine)
        if net is not img:
            rel_img = relevance_to_grid(rel_img, img.shape[:3], img.affine)
        maps[label] = np.asarray(rel_img.dataobj, dtype=np.float64)
    return maps, x


def randomization(model_path: Path, x) -> dict:
    """Spearman(|trained heatmap|, |heatmap with the top k weight layers re-initialized|).

    As Adebayo et al. (2018): absolute values (a sign flip is no difference in what a heatmap
    shows), and only over the brain (the input's non-zero voxels: the zero background would tie
    and inflate the correlation).
    """
    import copy

    import torch
    from scipy.stats import spearmanr

    from bids_lrp.lrp import attribute

    model, card = load_model(Path(model_path))
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv3d, torch.nn.Linear))]
    out: dict[str, list[float]] = {label: [] for label, *_ in METHODS}
    work = copy.deepcopy(model)
    work_layers = [m for m in work.modules() if isinstance(m, (torch.nn.Conv3d, torch.nn.Linear))]
    torch.manual_seed(0)
    # net-grid heatmaps of the trained model, for a like-for-like comparison; the randomized
    # networks explain the classes the trained one explained (its prediction, for those rows)
    brain = x[0, 0].numpy().ravel() > 0
    trained, targets = {}, {}
    for label, method, params, target in METHODS:
        result = attribute(model, x, _target(card, target), method, **params)
        trained[label] = np.abs(result.relevance[0, 0].numpy()).ravel()[brain]
        targets[label] = result.target
    for k in range(1, len(layers) + 1):
        work_layers[-k].reset_parameters()
        for label, method, params, _ in METHODS:
            rel = attribute(work, x, targets[label], method, **params).relevance[0, 0].numpy()
            rho = spearmanr(trained[label], np.abs(rel).ravel()[brain]).statistic
            out[label].append(float(0.0 if np.isnan(rho) else rho))
    return out


def area_vectors(maps: dict, atlas) -> dict[str, pd.Series]:
    """Relevance sum per merged Neuromorphometrics area, per method."""
    from bids_lrp.regions import merge_hemispheres, region_table

    vectors = {}
    for label, rel in maps.items():
        table = merge_hemispheres(region_table(rel, atlas.labels, atlas.table, 1.0))
        vectors[label] = table.set_index("name")["relevance_sum"]
    return vectors


def group_means(vectors: dict, diagnosis: dict, label: str) -> tuple[pd.Series, pd.Series]:
    """Mean area sums of the AD and of the CN scans, for one method."""
    groups: dict[bool, list[pd.Series]] = {True: [], False: []}
    for key, vector in vectors.items():
        groups[diagnosis[key.split("_")[0]] == "AD"].append(vector[label])
    return tuple(pd.concat(groups[ad], axis=1).mean(axis=1) for ad in (True, False))


def gain_by_area(mean_ad: pd.Series, mean_cn: pd.Series) -> pd.Series:
    """Relevance gain mean AD / mean CN; NaN where the CN mean is ~0 (1e-6 of the AD maximum)."""
    floor = 1e-6 * float(mean_ad.abs().max() or 1.0)
    return mean_ad / mean_cn.where(mean_cn.abs() > floor)


def rank_by_gain(vectors: dict, diagnosis: dict, label: str) -> tuple[list[str], str]:
    """Areas by relevance gain (mean AD / mean CN area sum), best first, and the ranking used.

    When the CN relevance is ~0 almost everywhere (an over-confident model with relevance
    starting from p(AD)) the gain is undefined; the AD-CN difference ranks them instead.
    """
    mean_ad, mean_cn = group_means(vectors, diagnosis, label)
    gain, ranking = gain_by_area(mean_ad, mean_cn).dropna(), "gain"
    if len(gain) < len(mean_ad) / 2:
        gain, ranking = (mean_ad - mean_cn), "AD-CN difference"
    return list(gain.sort_values(ascending=False).index), ranking


def planted_area_names(atlas, planted_indices: list[int]) -> list[str]:
    from bids_lrp.regions import merge_hemispheres, region_table

    table = merge_hemispheres(
        region_table(np.zeros(atlas.labels.shape), atlas.labels, atlas.table, 1.0)
    )
    names = []
    for _, row in table.iterrows():
        indices = {int(i) for i in str(row["indices"]).split("+")}
        if indices & set(planted_indices):
            names.append(row["name"])
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--n-subjects", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7002)
    parser.add_argument(
        "--severity", type=float, default=0.3, help="as the shipped model's training (make model)"
    )
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--nprocs", type=int, default=2)
    parser.add_argument("--randomization-scans", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="use the outputs already in --work")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bids_lrp.cli.parser import default_model
    from bids_lrp.simulate import simulate_cohort
    from bids_lrp.templates import get_atlas, get_template

    model = (args.model or default_model()).resolve()
    bids, out = args.work / "bids", args.work / "out"
    if not (bids / "participants.tsv").is_file():
        simulate_cohort(bids, n_subjects=args.n_subjects, seed=args.seed, severity=args.severity)
    seconds = float("nan")
    if not (args.reuse and out.is_dir()):
        seconds = run_pipeline(bids, out, args.work / "work", model, args.nprocs)
    participants, masks = truth_tables(bids)
    diagnosis = dict(zip(participants["participant_id"], participants["diagnosis"], strict=True))
    brain = get_template(TPL).brain_mask()
    atlas = get_atlas("Neuromorphometrics", TPL)
    atrophy = pd.read_csv(bids / "derivatives" / "simulation" / "atrophy.tsv", sep="\t")
    planted_idx = sorted(
        {int(i) for v in atrophy["atlas_indices"].drop_duplicates() for i in str(v).split()}
    )
    planted_names = planted_area_names(atlas, planted_idx)

    rows, vectors, truth, predicted, rand = [], {}, [], [], {}
    n_rand = 0
    for key, mask_file in sorted(masks.items()):
        sub = key.split("_")[0]
        anat = next((out / sub).rglob(f"{key}_space-{TPL}_desc-preproc_T1w.nii.gz"), None)
        if anat is None:
            continue
        pred = pd.read_csv(next((out / sub).rglob(f"{key}_desc-*_predictions.tsv")), sep="\t")
        truth.append(diagnosis[sub] == "AD")
        predicted.append(pred["predicted_class"].iloc[0] == "AD")
        planted = np.asarray(nib.load(mask_file).dataobj) > 0
        wide = dilate(planted, 3.0)
        maps, x = explain_all(model, anat)
        vectors[key] = area_vectors(maps, atlas)
        for label, rel in maps.items():
            pos = np.where(rel > 0, rel, 0.0)
            total = pos.sum()
            rows.append(
                {
                    "scan": key,
                    "group": diagnosis[sub],
                    "method": label,
                    "inside": pos[planted].sum() / total if total > 0 else np.nan,
                    "inside_3mm": pos[wide].sum() / total if total > 0 else np.nan,
                    "pointing": bool(wide.flat[int(np.argmax(rel))]) if total > 0 else False,
                    "positive": total,
                }
            )
        if diagnosis[sub] == "AD" and n_rand < args.randomization_scans:
            for label, values in randomization(model, x).items():
                rand.setdefault(label, []).append(values)
            n_rand += 1
    frame = pd.DataFrame(rows)
    truth_arr, pred_arr = np.array(truth), np.array(predicted)
    sens = (pred_arr & truth_arr).sum() / max(truth_arr.sum(), 1)
    spec = (~pred_arr & ~truth_arr).sum() / max((~truth_arr).sum(), 1)
    volume_share = {
        "planted": float((np.asarray(nib.load(next(iter(masks.values()))).dataobj) > 0).sum())
        / brain.sum(),
        "planted_3mm": float(
            dilate(np.asarray(nib.load(next(iter(masks.values()))).dataobj) > 0, 3.0).sum()
        )
        / brain.sum(),
    }
    print(f"pipeline: {len(truth)} scans in {seconds:.0f} s; model {model.name}")
    print(
        f"balanced accuracy {(sens + spec) / 2:.3f} (sensitivity {sens:.3f}, "
        f"specificity {spec:.3f})"
    )
    print(
        f"planted areas: {', '.join(planted_names)}; brain volume share "
        f"{volume_share['planted']:.3%} ({volume_share['planted_3mm']:.3%} dilated by 3 mm)"
    )
    print()
    print(
        "| method | AD pos. relevance in planted | in planted +3 mm | pointing game (AD) | "
        "planted ranks by gain (of N) | top-3 by gain | randomization Spearman (top layer / "
        "all layers) | AD cosine similarity | CN/AD positive relevance |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for label, *_ in METHODS:
        sub = frame[frame["method"] == label]
        ad, cn = sub[sub["group"] == "AD"], sub[sub["group"] != "AD"]
        ad_keys = [k for k in vectors if diagnosis[k.split("_")[0]] == "AD"]
        order, ranking = rank_by_gain(vectors, diagnosis, label)
        ranks = {n: order.index(n) + 1 for n in planted_names if n in order}
        top3 = order[:3]
        ad_matrix = np.stack([vectors[k][label].to_numpy() for k in ad_keys])
        norms = np.linalg.norm(ad_matrix, axis=1)
        cos = (ad_matrix @ ad_matrix.T) / np.outer(norms, norms)
        iu = np.triu_indices(len(ad_keys), 1)
        rho = np.array(rand.get(label, [[np.nan]]))
        summary[label] = {
            "inside": float(ad["inside"].mean()),
            "inside_3mm": float(ad["inside_3mm"].mean()),
            "pointing": float(ad["pointing"].mean()),
            "ranks": ranks,
            "ranking": ranking,
            "top3": top3,
            "top3_planted": sum(n in planted_names for n in top3),
            "randomization_top": float(np.nanmean(rho[:, 0])),
            "randomization_all": float(np.nanmean(rho[:, -1])),
            "randomization_curve": np.nanmean(rho, axis=0).tolist(),
            "ad_cosine": float(np.nanmean(cos[iu])),
            "cn_over_ad_positive": float(cn["positive"].mean() / ad["positive"].mean()),
        }
        s = summary[label]
        rank_text = ", ".join(f"{n} {r}" for n, r in sorted(ranks.items(), key=lambda t: t[1]))
        print(
            f"| {label} | {s['inside']:.1%} | {s['inside_3mm']:.1%} | {s['pointing']:.0%} | "
            f"{rank_text} (of {len(order)}, by {ranking}) | {s['top3_planted']}/3 planted | "
            f"{s['randomization_top']:.2f} / {s['randomization_all']:.2f} | "
            f"{s['ad_cosine']:.2f} | {s['cn_over_ad_positive']:.2f} |"
        )
    result = {
        "scans": len(truth),
        "balanced_accuracy": float((sens + spec) / 2),
        "sensitivity": float(sens),
        "specificity": float(spec),
        "volume_share": volume_share,
        "planted_areas": planted_names,
        "methods": summary,
        "pipeline_seconds": seconds,
    }
    (args.work / "localization.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
