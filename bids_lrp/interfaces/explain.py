"""Thin interfaces around the model, the explanation methods and the region tables.

``explain_image`` classifies one template-space image and explains it with each method; the
model is loaded once per process (cached by path, checksum and device) and kept in eval mode.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    SimpleInterface,
    TraitedSpec,
    traits,
)

from bids_lrp.outputs import method_desc


@functools.lru_cache(maxsize=2)
def _load_model(path: str, sha256: str, device: str):
    from bids_lrp.model import load_checkpoint

    return load_checkpoint(path, device=device, expected_sha256=sha256 or None)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is usable, else ``cpu``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _same_grid(img: nib.Nifti1Image, shape, affine) -> bool:
    return tuple(img.shape[:3]) == tuple(shape) and np.allclose(img.affine, affine, atol=1e-4)


def explain_image(
    in_file: str,
    model_path: str,
    model_sha256: str,
    methods: list[str],
    target_class: str,
    *,
    device: str = "cpu",
    threads: int = 1,
    out_dir: str = ".",
) -> dict[str, Any]:
    """Classify a preprocessed template-space image and explain the ``target_class`` score.

    Parameters
    ----------
    in_file : str
        Masked, scaled T1w in template space (`init_normalize_wf` output).
    model_path, model_sha256 : str
        Checkpoint and its expected checksum.
    methods : list of str
        Registered explanation methods (`bids_lrp.lrp.METHODS`).
    target_class : str
        A class name of the model card (Böhle et al. 2019 explain "AD" for every scan).
    device, threads : str, int
        Torch device and CPU threads.
    out_dir : str
        Where the relevance maps (on ``in_file``'s grid) and the predictions TSV are written.

    Returns
    -------
    dict
        ``relevance`` (files, one per method), ``predictions`` (TSV), ``metadata`` (one dict
        per method: parameters, model, conservation check).
    """
    import torch

    from bids_lrp.lrp import attribute
    from bids_lrp.normalize import relevance_to_grid, resample_to_grid

    torch.set_num_threads(max(1, int(threads)))
    device = resolve_device(device)
    model, card = _load_model(str(model_path), model_sha256, device)
    if target_class not in card.class_names:
        raise ValueError(f"class {target_class!r} is not one of the model's {card.class_names}")
    target = card.class_names.index(target_class)
    img = nib.load(in_file)
    affine = np.asarray(card.affine, dtype=float)
    net_img = img
    if not _same_grid(img, card.input_shape, affine):
        net_img = resample_to_grid(img, card.input_shape, affine)
    data = np.asarray(net_img.dataobj, dtype=np.float32)
    x = torch.from_numpy(data)[None, None].to(device)
    out = Path(out_dir)
    files, metadata, probabilities, logits = [], [], None, None
    for method in methods:
        result = attribute(model, x, target, method)
        relevance = result.relevance[0, 0].detach().cpu().numpy().astype(np.float32)
        rel_img = nib.Nifti1Image(relevance, net_img.affine)
        if net_img is not img:  # map back onto the template grid, keeping the sum
            rel_img = relevance_to_grid(rel_img, img.shape[:3], img.affine)
        rel_img.header.set_data_dtype(np.float32)
        rel_img.header.set_xyzt_units("mm")
        path = out / f"relevance_{method_desc(method)}.nii.gz"
        nib.save(rel_img, path)
        files.append(str(path))
        probabilities = result.probabilities[0].cpu().numpy().astype(float)
        logits = result.logits[0].cpu().numpy().astype(float)
        metadata.append(
            {
                "Method": method,
                "MethodParameters": result.params,
                "MethodKind": result.kind,
                "TargetClass": target_class,
                "StartRelevance": float(result.start[0]),
                "RelevanceSum": float(result.relevance_sum[0]),
                "RelevanceSumTemplateGrid": float(np.asarray(rel_img.dataobj).sum(dtype=float)),
                "Absorbed": float(result.absorbed[0]),
                "ConservationError": float(result.conservation_error[0])
                if result.kind == "relevance"
                else None,
                "NetworkGrid": {
                    "shape": list(card.input_shape),
                    "voxel_size": list(card.voxel_size),
                    "resampled": net_img is not img,
                },
            }
        )
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
    predictions = out / "predictions.tsv"
    predictions.write_text(
        "\t".join(rows) + "\n" + "\t".join(str(v) for v in rows.values()) + "\n"
    )
    return {"relevance": files, "predictions": str(predictions), "metadata": metadata}


class _ExplainInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="preprocessed template-space T1w")
    model_path = File(exists=True, mandatory=True)
    model_sha256 = traits.Str("", usedefault=True)
    methods = traits.List(traits.Str, mandatory=True)
    target_class = traits.Str(mandatory=True)
    device = traits.Str("cpu", usedefault=True)
    threads = traits.Int(1, usedefault=True)


class _ExplainOutputSpec(TraitedSpec):
    relevance = traits.List(File(exists=True))
    predictions = File(exists=True)
    metadata = traits.List(traits.Dict)


class ExplainImage(SimpleInterface):
    """Classify and explain one image (`explain_image`)."""

    input_spec = _ExplainInputSpec
    output_spec = _ExplainOutputSpec

    def _run_interface(self, runtime):
        i = self.inputs
        self._results.update(
            explain_image(
                i.in_file,
                i.model_path,
                i.model_sha256,
                list(i.methods),
                i.target_class,
                device=i.device,
                threads=i.threads,
                out_dir=runtime.cwd,
            )
        )
        return runtime


def region_tables(
    relevance: list[str], atlases: list[str], template: str, out_dir: str = "."
) -> dict[str, Any]:
    """One region TSV per (atlas, relevance map), atlas-major order; see `bids_lrp.regions`."""
    from bids_lrp.regions import region_table
    from bids_lrp.templates import get_atlas

    out, files, names, descs = Path(out_dir), [], [], []
    images = [nib.load(rel_file) for rel_file in relevance]
    maps = [np.asarray(img.dataobj, dtype=np.float64) for img in images]  # read each map once
    for atlas_name in atlases:
        atlas = get_atlas(atlas_name, template)
        for rel_file, img, data in zip(relevance, images, maps, strict=True):
            if not np.allclose(img.affine, atlas.affine, atol=1e-4):
                raise ValueError(f"{rel_file} is not on the grid of atlas {atlas_name}")
            voxel = float(abs(np.linalg.det(img.affine[:3, :3])))
            table = region_table(data, atlas.labels, atlas.table, voxel)
            desc = Path(rel_file).name.split("_", 1)[1].split(".", 1)[0]
            path = out / f"regions_{atlas_name}_{desc}.tsv"
            table.to_csv(path, sep="\t", index=False, na_rep="n/a", float_format="%.8g")
            files.append(str(path))
            names.append(atlas_name)
            descs.append(desc)
    return {"tables": files, "atlas": names, "desc": descs}


class _RegionsInputSpec(BaseInterfaceInputSpec):
    relevance = InputMultiObject(File(exists=True), mandatory=True)
    atlases = traits.List(traits.Str, mandatory=True)
    template = traits.Str(mandatory=True)


class _RegionsOutputSpec(TraitedSpec):
    tables = traits.List(File(exists=True))
    atlas = traits.List(traits.Str)
    desc = traits.List(traits.Str)


class RegionTables(SimpleInterface):
    """Region tables per atlas and method (`region_tables`)."""

    input_spec = _RegionsInputSpec
    output_spec = _RegionsOutputSpec

    def _run_interface(self, runtime):
        i = self.inputs
        self._results.update(
            region_tables(list(i.relevance), list(i.atlases), i.template, runtime.cwd)
        )
        return runtime


def dumps(data: Any) -> str:
    """Deterministic JSON (for hashing settings into node inputs)."""
    return json.dumps(data, sort_keys=True)
