"""Explain the participant level's network inputs with several models and measure agreement.

The images are the template-space network inputs (``desc-preproc``) a participant-level run
wrote; each model explains them with the same methods and class as the participant level would
(`bids_lrp.explain.explain_images`: brain restriction, maps on the template grid). Per image and
method the output folder gets the mean map, the agreement map and the area stability table;
``stability.tsv`` lists every image's findings and those that do not replicate.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from bids_lrp import __version__
from bids_lrp.exitcodes import EX_NOINPUT, CommandError
from bids_lrp.group.write import write_nifti, write_tsv
from bids_lrp.layout import find_images
from bids_lrp.methods import parse_method_spec
from bids_lrp.model.checkpoint import read_card
from bids_lrp.randomization import spearman
from bids_lrp.regions import merge_hemispheres, region_table
from bids_lrp.safewrite import atomic_write_json, atomic_write_text, writable_folder
from bids_lrp.stability.measure import (
    AGREEMENT_TOP,
    COLUMNS,
    REPLICATION,
    TOP_AREAS,
    agreement_map,
    area_stability,
    mean_map,
)
from bids_lrp.templates import get_atlas, template_images

__all__ = ["SUMMARY_COLUMNS", "StabilityError", "StabilitySettings", "run_stability"]

LOGGER = logging.getLogger("bids_lrp")
#: What the BIDS validator must not judge: maps and tables BIDS has no suffix for.
BIDSIGNORE = "".join(
    f"{pattern}\n" for pattern in ("*_relevance.*", "*_stability.*", "stability.*")
)
#: The columns of ``stability.tsv``.
SUMMARY_COLUMNS = {
    "image": "the image (its BIDS prefix)",
    "method": "output label of the method",
    "n_models": "models that explained it",
    "map_spearman": "mean Spearman rho, inside the brain, between the maps of each pair of models",
    "findings": f"the first {TOP_AREAS} areas by mean relevance sum",
    "not_replicated": f"findings that fewer than {REPLICATION:.0%} of the models rank among "
    f"their own first {TOP_AREAS}",
}


class StabilityError(CommandError):
    """A request ``bids_lrp-stability`` refuses (one line, exit 64 unless said otherwise)."""


@dataclass(frozen=True)
class StabilitySettings:
    """What ``bids_lrp-stability`` explains and how (defaults as the participant level)."""

    derivatives: Path
    output: Path
    models: tuple[Path, ...]
    methods: tuple[str, ...] = ("boehle2019",)
    target_class: str = "AD"
    participants: tuple[str, ...] = ()
    atlas: str = "Neuromorphometrics"
    device: str = "cpu"
    threads: int = 1
    n_boot: int = 1000


def _check_models(models: Sequence[Path]) -> str:
    """Refuse fewer than two models or models of different templates or classes; the template."""
    if len(models) < 2:
        raise StabilityError(
            "give two models or more (e.g. the fold models of bids_lrp-train --folds)"
        )
    cards = []
    for path in models:
        try:
            cards.append(read_card(path)[0])
        except (OSError, ValueError) as err:
            raise StabilityError(f"{path}: not a model with its card ({err})") from None
    first = cards[0]
    for path, card in zip(models[1:], cards[1:], strict=True):
        if (card.template, tuple(card.class_names)) != (first.template, tuple(first.class_names)):
            raise StabilityError(
                f"{path.name} explains {card.class_names} in {card.template}, "
                f"{models[0].name} {first.class_names} in {first.template}: not the same task"
            )
    return first.template


def _area_sums(maps: np.ndarray, atlas) -> pd.DataFrame:
    """Relevance sum per merged atlas area, one row per model."""
    rows = []
    for relevance in maps:
        table = merge_hemispheres(region_table(relevance, atlas.labels, atlas.table, 1.0))
        rows.append(table.set_index("name")["relevance_sum"])
    return pd.DataFrame(rows).reset_index(drop=True)


def _pairwise_spearman(maps: np.ndarray, inside: np.ndarray) -> float | None:
    rhos = [spearman(a, b, inside) for a, b in itertools.combinations(maps, 2)]
    rhos = [r for r in rhos if r is not None]
    return float(np.mean(rhos)) if rhos else None


def _write_image(settings, image, label, maps, inside, atlas, affine) -> dict:
    """The three outputs of one image and method; its row of ``stability.tsv``."""
    anat = settings.output / image.folder.relative_to(settings.derivatives)
    stem = f"{image.prefix}_space-{atlas.template}"
    models = [p.name for p in settings.models]
    common = {"MethodLabel": label, "Models": models, "Sources": [str(image.network_input)]}
    mean = mean_map(maps).astype(np.float32)
    write_nifti(
        anat / f"{stem}_desc-{label}Mean_relevance.nii.gz",
        nib.Nifti1Image(mean, affine),
        {**common, "Description": "voxel-wise mean of the models' relevance maps"},
    )
    write_nifti(
        anat / f"{stem}_desc-{label}Agreement_relevance.nii.gz",
        nib.Nifti1Image(agreement_map(maps, inside), affine),
        {**common, "Description": "share of models that put the voxel among their most "
         f"relevant {AGREEMENT_TOP:.0%} of the brain", "Top": AGREEMENT_TOP},
    )  # fmt: skip
    table = area_stability(_area_sums(maps, atlas), n_boot=settings.n_boot)
    write_tsv(
        anat / f"{stem}_atlas-{atlas.name}_desc-{label}_stability.tsv",
        table,
        {**common, "Description": "how stable each area's rank is across models",
         "Bootstrap": settings.n_boot, **COLUMNS},
    )  # fmt: skip
    findings = table[table["finding"]]
    failing = list(findings.loc[~findings["replicated"].astype(bool), "name"])
    if failing:
        LOGGER.warning(
            "%s %s: %d of %d findings do not replicate across the %d models: %s",
            image.prefix, label, len(failing), len(findings), len(maps), ", ".join(failing),
        )  # fmt: skip
    return {
        "image": image.prefix,
        "method": label,
        "n_models": len(maps),
        "map_spearman": _pairwise_spearman(maps, inside),
        "findings": ", ".join(findings["name"]),
        "not_replicated": ", ".join(failing),
    }


def run_stability(settings: StabilitySettings) -> list[Path]:
    """Explain every image with every model and write the agreement; return the files."""
    from bids_lrp.explain import explain_images  # deferred: torch

    models = tuple(Path(m).resolve() for m in settings.models)
    settings = StabilitySettings(**{**settings.__dict__, "models": models})
    template = _check_models(models)
    labels = [parse_method_spec(m).label for m in settings.methods]
    derivatives = Path(settings.derivatives).resolve()
    images = [
        im for im in find_images(derivatives, settings.participants) if template in im.preproc
    ]
    if not images:
        raise StabilityError(
            f"{derivatives} holds no network input in {template} (a bids_lrp participant-level "
            "output is needed)",
            EX_NOINPUT,
        )
    output = Path(settings.output).resolve()
    if output == derivatives or derivatives in output.parents:
        raise StabilityError("write the stability outputs outside the participant level's folder")
    settings = StabilitySettings(**{**settings.__dict__, "derivatives": derivatives,
                                    "output": writable_folder(output)})  # fmt: skip
    atlas = get_atlas(settings.atlas, template)
    _, mask_img, _ = template_images(template)
    inside = np.asarray(mask_img.dataobj) > 0
    files = [str(im.preproc[template]) for im in images]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bids_lrp-stability-") as tmp:
        per_model = [
            explain_images(files, str(model), "", list(settings.methods),
                           settings.target_class, device=settings.device,
                           threads=settings.threads, out_dir=str(Path(tmp) / f"m{k}"),
                           faithfulness_steps=0)["relevance"]
            for k, model in enumerate(models)
        ]  # fmt: skip
        for i, image in enumerate(images):
            for j, label in enumerate(labels):
                loaded = [nib.load(per_model[k][i][j]) for k in range(len(models))]
                maps = np.stack([np.asarray(img.dataobj, dtype=np.float32) for img in loaded])
                rows.append(
                    _write_image(settings, image, label, maps, inside, atlas, loaded[0].affine)
                )
    written = [
        write_tsv(settings.output / "stability.tsv", pd.DataFrame(rows), SUMMARY_COLUMNS),
        atomic_write_json(settings.output / "dataset_description.json", _description(settings)),
        atomic_write_text(settings.output / ".bidsignore", BIDSIGNORE),
    ]
    return written


def _description(settings: StabilitySettings) -> dict:
    return {
        "Name": "bids_lrp stability across models",
        "BIDSVersion": "1.10.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "bids_lrp-stability", "Version": __version__}],
        "SourceDatasets": [{"URL": settings.derivatives.as_uri()}],
        "Models": [str(m) for m in settings.models],
        "Methods": list(settings.methods),
        "TargetClass": settings.target_class,
    }
