"""``DerivativesSink``: write one kind of derivative (and its JSON sidecars) atomically.

A small DerivativesDataSink in the niworkflows manner: names come from entities
(`bids_lrp.names.derivative_path`), every file is copied through a temporary file and renamed,
and the JSON sidecar is written after its data file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    SimpleInterface,
    TraitedSpec,
    isdefined,
    traits,
)

from bids_lrp.names import derivative_path
from bids_lrp.safewrite import atomic_copy, atomic_write_json

_EXTENSIONS = (".nii.gz", ".nii", ".tsv", ".json", ".h5", ".mat")


def _extension(path: str) -> str:
    for ext in _EXTENSIONS:
        if path.endswith(ext):
            return ext
    return Path(path).suffix


def _as_list(value: Any, n: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} has {len(value)} entries for {n} files")
        return list(value)
    return [value] * n


def write_derivatives(
    in_files: list[str],
    base_directory: str,
    entities: dict[str, str],
    suffix: str,
    *,
    varying: dict[str, Any] | None = None,
    meta: dict | list[dict] | None = None,
    common_meta: dict | None = None,
) -> list[str]:
    """Copy ``in_files`` into the derivatives tree with BIDS names and sidecars; return paths.

    Parameters
    ----------
    in_files : list of str
        Files to write, in order.
    base_directory : str
        Derivatives root.
    entities : dict
        Source entities (``sub``, ``ses``, ...) and entities common to every file.
    suffix : str
        BIDS suffix, e.g. ``"relevance"``.
    varying : dict, optional
        Entity -> value or list of values (one per file), e.g. ``{"desc": ["LRPb0", ...]}``.
    meta : dict or list of dict, optional
        Sidecar content (one dict for all files, or one per file); no sidecar when empty.
    common_meta : dict, optional
        Sidecar content added to every file's (``meta`` wins on a clash).

    Raises
    ------
    ValueError
        When two files would get the same name.
    """
    n = len(in_files)
    per_file = {k: _as_list(v, n, k) for k, v in (varying or {}).items()}
    metas = [{**(common_meta or {}), **m} for m in _as_list(meta or {}, n, "meta")]
    targets = []
    for i, in_file in enumerate(in_files):
        names = {**entities, **{k: v[i] for k, v in per_file.items()}}
        ext = _extension(str(in_file))
        targets.append((in_file, derivative_path(base_directory, names, suffix, ext), ext))
    outs = [str(out) for _, out, _ in targets]
    if len(set(outs)) != len(outs):
        raise ValueError(f"several files would be written as the same name: {outs}")
    for (in_file, out, ext), sidecar_meta in zip(targets, metas, strict=True):
        atomic_copy(in_file, out)
        if sidecar_meta:
            sidecar = out.with_name(out.name[: -len(ext)] + ".json")
            atomic_write_json(sidecar, sidecar_meta)
    return outs


class _DerivativesSinkInputSpec(BaseInterfaceInputSpec):
    in_file = InputMultiObject(File(exists=True), mandatory=True, desc="files to write")
    base_directory = traits.Str(mandatory=True, desc="derivatives root")
    entities = traits.Dict(mandatory=True, desc="source and common entities")
    suffix = traits.Str(mandatory=True)
    space = traits.Either(traits.Str, traits.List(traits.Str), desc="one value or one per file")
    desc = traits.Either(traits.Str, traits.List(traits.Str), desc="one value or one per file")
    atlas = traits.Either(traits.Str, traits.List(traits.Str), desc="one value or one per file")
    meta = traits.Either(traits.Dict, traits.List(traits.Dict), desc="sidecar content")
    common_meta = traits.Dict(desc="sidecar content shared by every file")
    ready = traits.Any(
        desc="connect the last computing step here, so that nothing is "
        "written before the whole image is done"
    )


class _DerivativesSinkOutputSpec(TraitedSpec):
    out_file = traits.List(traits.Str, desc="written files")


class DerivativesSink(SimpleInterface):
    """Write derivatives atomically (see `write_derivatives`)."""

    input_spec = _DerivativesSinkInputSpec
    output_spec = _DerivativesSinkOutputSpec
    # Rewrite on every run (cheap): a rerun restores outputs deleted since the last one.
    _always_run = True

    def _run_interface(self, runtime):
        inputs = self.inputs
        self._results["out_file"] = write_derivatives(
            list(inputs.in_file),
            inputs.base_directory,
            dict(inputs.entities),
            inputs.suffix,
            varying={
                k: getattr(inputs, k)
                for k in ("space", "desc", "atlas")
                if isdefined(getattr(inputs, k))
            },
            meta=inputs.meta if isdefined(inputs.meta) else None,
            common_meta=dict(inputs.common_meta) if isdefined(inputs.common_meta) else None,
        )
        return runtime
