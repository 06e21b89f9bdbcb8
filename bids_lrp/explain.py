"""Classify template-space images and explain them with every method, in batches.

The model is loaded once per process (cached by path, checksum and device) and the images go
through it in batches of the network grid; each relevance map is restricted to the template
brain (`bids_lrp.lrp.brain`), mapped back onto the template grid keeping its sum, and written
with what its sidecar records. The participant level runs this in its model node
(`bids_lrp.interfaces.explain.ExplainImages`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch

from bids_lrp.areas import faithfulness_rows, network_areas
from bids_lrp.faithfulness import summary, write_faithfulness
from bids_lrp.fastgz import save_sparse_nifti
from bids_lrp.grid import Grid
from bids_lrp.lrp import attribute
from bids_lrp.lrp.brain import restrict_to_brain
from bids_lrp.methods import PREDICTED, get_info, parse_method_spec
from bids_lrp.model import load_checkpoint
from bids_lrp.model.network_input import load_network_input, network_input
from bids_lrp.model.randomize import randomized_models
from bids_lrp.normalize.grids import relevance_to_grid
from bids_lrp.randomization import spearman
from bids_lrp.randomization import summary as randomization_summary
from bids_lrp.templates import template_images

__all__ = ["explain_image", "explain_images", "resolve_device"]


@functools.lru_cache(maxsize=2)
def _load_model(path: str, sha256: str, device: str):
    return load_checkpoint(path, device=device, expected_sha256=sha256 or None)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is usable, else ``cpu``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _brain_masks(template: str, card) -> tuple[np.ndarray, np.ndarray]:
    """The template brain mask (bool, template grid) and its brain fraction on the network grid.

    The fraction is `network_input` of the mask with the card's resampling: what part of each
    network voxel's input comes from brain voxels (below 1e-3 counts as none).
    """
    grid = Grid.of_card(card)
    key = (tuple(grid.shape), tuple(np.asarray(grid.affine).ravel()), card.input_resampling)
    return _masks_on(template, key)


@functools.lru_cache(maxsize=2)
def _masks_on(template: str, key: tuple) -> tuple[np.ndarray, np.ndarray]:
    shape, affine, resampling = key
    _, mask_img, _ = template_images(template)
    mask = np.asarray(mask_img.dataobj) > 0
    image = nib.Nifti1Image(mask.astype(np.float32), mask_img.affine)
    grid = Grid(shape, np.reshape(affine, (4, 4)))
    fraction = np.asarray(network_input(image, grid, resampling).dataobj, dtype=np.float32)
    return mask, np.where(fraction > 1e-3, np.minimum(fraction, 1.0), 0.0)


def _save_relevance(
    relevance: np.ndarray, img, net_img, path: Path, inside: np.ndarray | None
) -> nib.Nifti1Image:
    """Write one relevance map on the template grid (mapped back keeping its sum)."""
    rel_img = nib.Nifti1Image(relevance.astype(np.float32), net_img.affine)
    if net_img is not img:
        rel_img = relevance_to_grid(rel_img, img.shape[:3], img.affine, inside=inside)
    rel_img.header.set_data_dtype(np.float32)
    rel_img.header.set_xyzt_units("mm")
    save_sparse_nifti(rel_img, path)  # the group level reads thousands: fast to inflate
    return rel_img


def _metadata(result, b: int, spec, target: str, card, rel_img, resampled: bool, brain):
    total, outside = brain
    start = float(result.start[b])
    absorbed = start - total
    error = abs(absorbed) / max(abs(start), np.finfo(np.float32).tiny)
    return {
        "Method": spec.name,
        "MethodSpec": spec.text,
        "MethodLabel": spec.label,
        "MethodParameters": result.params,
        "MethodKind": result.kind,
        "TargetClass": card.class_names[int(result.target[b])],
        "TargetSelection": "predicted class" if target == PREDICTED else "given class",
        "StartRelevance": start,
        "RelevanceSum": total,
        "RelevanceSumTemplateGrid": float(np.asarray(rel_img.dataobj).sum(dtype=float)),
        "RelevanceOutsideBrain": outside,
        "Absorbed": absorbed if result.kind == "relevance" else None,
        "ConservationError": error if result.kind == "relevance" else None,
        "NetworkGrid": {
            "shape": list(card.input_shape),
            "voxel_size": list(card.voxel_size),
            "resampled": resampled,
        },
    }


def _write_predictions(path: Path, card, target_class: str, probabilities, logits) -> str:
    rows = {
        "model": card.name,
        "target_class": target_class,
        "predicted_class": card.class_names[int(np.argmax(probabilities))],
        **{
            f"probability_{c}": f"{p:.6f}"
            for c, p in zip(card.class_names, probabilities, strict=True)
        },
        **{f"logit_{c}": f"{v:.6f}" for c, v in zip(card.class_names, logits, strict=True)},
    }
    path.write_text("\t".join(rows) + "\n" + "\t".join(str(v) for v in rows.values()) + "\n")
    return str(path)


def _target_index(target: str, card) -> int | str:
    """A class name -> its index; ``--target-class predicted`` -> the engine's token for it."""
    if target == PREDICTED:
        return PREDICTED
    if target not in card.class_names:
        raise ValueError(f"class {target!r} is not one of the model's {card.class_names}")
    return card.class_names.index(target)


def explain_images(
    in_files: list[str],
    model_path: str,
    model_sha256: str,
    methods: list[str],
    target_class: str,
    *,
    method_targets: Mapping[str, str] | None = None,
    device: str = "cpu",
    threads: int = 1,
    batch_size: int = 2,
    out_dir: str = ".",
    template: str | None = None,
    atlas: str | None = None,
    faithfulness_steps: int = 0,
    randomization: bool = False,
    randomization_layers: str = "dense",
) -> dict[str, Any]:
    """Classify preprocessed template-space images and explain the ``target_class`` score.

    Parameters
    ----------
    in_files : list of str
        Masked, scaled T1w images in template space (`init_normalize_wf` outputs).
    model_path, model_sha256 : str
        Checkpoint and its expected checksum (loaded once per process).
    methods : list of str
        Method specs (`bids_lrp.methods.parse_method_spec`), e.g. ``boehle2019:beta=0.5``.
    target_class : str
        The class explained: a class name of the model card or ``"predicted"`` (each image's
        predicted class). Böhle et al. (2019) explained "AD" for every scan with LRP.
    method_targets : mapping, optional
        Method spec -> another class for that method (the paper explained guided
        backpropagation for the predicted class).
    device, threads : str, int
        Torch device and CPU threads.
    batch_size : int
        Images per forward/backward pass (CPU throughput grows up to about 4; memory too).
    out_dir : str
        Where image ``i``'s relevance maps (template grid) and predictions go (``img<i>/``).
    template : str, optional
        The images' template (default: the model card's). Relevance outside its brain mask is
        removed (`bids_lrp.lrp.brain`) when the card's scaling masks the input with it; the
        share outside is recorded per map as ``RelevanceOutsideBrain`` (removed or not:
        ``RelevanceOutsideBrainRemoved``), and ``RelevanceSum``, ``Absorbed`` and
        ``ConservationError`` describe the map as written.
    atlas : str, optional
        The atlas whose areas occlusion removes and faithfulness is measured over.
    faithfulness_steps : int
        Areas removed per order to measure each map's faithfulness (`bids_lrp.faithfulness`;
        0: not measured). The curves go into ``faithfulness.tsv`` per image, the AOPC into
        each map's sidecar (``Faithfulness``).
    randomization : bool
        Also explain every image with the network's dense layers randomized and record the
        Spearman correlation of the two maps in the sidecar (``Randomization``;
        `bids_lrp.randomization`).
    randomization_layers : str
        ``"dense"``: only the dense layers are randomized; ``"cascade"``: also the weight
        layers from the top down, one more at each step (one explanation per layer and map).

    Returns
    -------
    dict
        Per image, in the order of ``in_files``: ``relevance`` (a list of files, one per
        method), ``predictions`` (a TSV), ``metadata`` (one dict per method: parameters,
        model, conservation check, faithfulness) and ``faithfulness`` (a list: the curves'
        TSV, or empty when not measured).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    torch.set_num_threads(max(1, int(threads)))
    device = resolve_device(device)
    model, card = _load_model(str(model_path), model_sha256, device)
    targets = {m: (method_targets or {}).get(m, target_class) for m in methods}
    indices = {m: _target_index(t, card) for m, t in targets.items()}
    general = _target_index(target_class, card)
    on_template, on_network = _brain_masks(template or card.template, card)
    brain_only = card.intensity_scaling == "minmax-in-brain-mask"  # inputs 0 outside the brain
    needs = faithfulness_steps > 0 or any(
        "regions" in get_info(parse_method_spec(m).name).needs for m in methods
    )
    if needs and not atlas:
        raise ValueError("occlusion and the faithfulness measure need an atlas")
    areas = network_areas(template or card.template, atlas, card) if needs else None
    context = areas.context(device) if areas is not None else None
    shuffled_models = randomized_models(model, randomization_layers) if randomization else []
    out = {"relevance": [], "predictions": [], "metadata": [], "faithfulness": []}
    for start in range(0, len(in_files), batch_size):
        chunk = list(range(start, min(start + batch_size, len(in_files))))
        images = [load_network_input(in_files[i], card) for i in chunk]
        x = torch.from_numpy(
            np.stack([np.asarray(net.dataobj, dtype=np.float32) for _, net in images])
        )[:, None].to(device)
        folders = [Path(out_dir) / f"img{i}" for i in chunk]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        files = [[] for _ in chunk]
        metadata = [[] for _ in chunk]
        curves = [[] for _ in chunk]
        scored = [{} for _ in chunk]  # per image: perturbed inputs already scored
        result = None
        for method in methods:
            spec = parse_method_spec(method)
            result = attribute(
                model, x, indices[method], spec.name, context=context, **dict(spec.params)
            )
            selection = targets[method]
            relevance = result.relevance[:, 0].detach().cpu().numpy()
            shuffled = [  # the same class, the network's weights randomized
                (layer, attribute(
                    other, x, result.target, spec.name, context=context, **dict(spec.params)
                ).relevance[:, 0].detach().cpu().numpy())
                for layer, other in shuffled_models
            ]  # fmt: skip
            for b, (img, net_img) in enumerate(images):
                if on_network.shape != relevance[b].shape or on_template.shape != img.shape[:3]:
                    raise ValueError(
                        f"{in_files[chunk[b]]}: its grid {img.shape[:3]} or the network's "
                        f"{relevance[b].shape} is not that of template "
                        f"{template or card.template}'s brain mask"
                    )
                masked, outside = restrict_to_brain(relevance[b], on_network)
                if not brain_only:  # the network sees the whole head: nothing to remove
                    masked = relevance[b]
                path = folders[b] / f"relevance_{spec.label}.nii.gz"
                keep = on_template if brain_only else None
                rel_img = _save_relevance(masked, img, net_img, path, keep)
                files[b].append(str(path))
                brain = (float(masked.sum(dtype=np.float64)), outside)
                metadata[b].append(
                    _metadata(result, b, spec, selection, card, rel_img, net_img is not img, brain)
                )
                metadata[b][-1]["RelevanceOutsideBrainRemoved"] = brain_only
                if faithfulness_steps > 0:
                    rows, aopc = faithfulness_rows(
                        model, x[b : b + 1], int(result.target[b]), masked, areas,
                        label=spec.label, steps=faithfulness_steps, cache=scored[b],
                    )  # fmt: skip
                    curves[b] += rows
                    metadata[b][-1]["Faithfulness"] = summary(aopc, atlas, faithfulness_steps)
                if shuffled:
                    rhos = [(layer, spearman(np.abs(masked), np.abs(maps[b]), on_network > 0))
                            for layer, maps in shuffled]  # fmt: skip
                    metadata[b][-1]["Randomization"] = randomization_summary(
                        rhos[0][1], rhos[1:] if randomization_layers == "cascade" else None
                    )
        for b in range(len(chunk)):
            probabilities = result.probabilities[b].cpu().numpy().astype(float)
            logits = result.logits[b].cpu().numpy().astype(float)
            explained = general if isinstance(general, int) else int(np.argmax(logits))
            out["predictions"].append(
                _write_predictions(
                    folders[b] / "predictions.tsv",
                    card,
                    card.class_names[explained],
                    probabilities,
                    logits,
                )
            )
            out["faithfulness"].append(
                [write_faithfulness(folders[b] / "faithfulness.tsv", curves[b])]
                if faithfulness_steps > 0
                else []
            )
        out["relevance"] += files
        out["metadata"] += metadata
    return out


def explain_image(in_file: str, *args, **kwargs) -> dict[str, Any]:
    """`explain_images` for one image: ``relevance``, ``predictions``, ``metadata`` of it."""
    result = explain_images([in_file], *args, **kwargs)
    return {key: value[0] for key, value in result.items()}
