"""Model checkpoints: safetensors weights plus a JSON model card beside them.

A checkpoint is two files::

    model.safetensors   the state_dict (safetensors: plain tensors, no code, never unpickled)
    model.json          the `ModelCard` plus ``"sha256"`` of the weights file

Loading verifies the checksum, rebuilds the architecture named by the card with
`bids_lrp.model.build_model` and loads the weights strictly, so a checkpoint can never run code
and can never silently half-load. A ``.pt`` state_dict is accepted only through
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from bids_lrp.model.network import build_model

__all__ = [
    "REGISTRATIONS",
    "CheckpointError",
    "ModelCard",
    "card_path",
    "check_card_compatible",
    "load_checkpoint",
    "read_card",
    "save_checkpoint",
    "sha256_file",
]

#: Registration kinds a model may have been trained with (see `bids_lrp.normalize`).
REGISTRATIONS = ("affine", "syn")
#: Keys the card JSON carries besides the `ModelCard` fields.
_META_KEYS = frozenset({"sha256", "weights", "format"})


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (missing file, bad checksum, bad card, bad weights)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_shape(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    )


def _check_voxel(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 3
        and all(_is_number(v) and v > 0 for v in value)
    )


def _check_affine(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 4
        and all(isinstance(r, list | tuple) and len(r) == 4 for r in value)
        and all(_is_number(v) for r in value for v in r)
    )


def _check_names(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) >= 2
        and all(isinstance(v, str) and v for v in value)
    )


# Card field -> (validator, description used in the error message).
_VALIDATORS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "name": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "architecture": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "architecture_params": (lambda v: isinstance(v, dict), "an object"),
    "input_shape": (_check_shape, "3 positive integers"),
    "voxel_size": (_check_voxel, "3 positive numbers"),
    "affine": (_check_affine, "a 4x4 array of finite numbers"),
    "template": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "registration": (lambda v: v in REGISTRATIONS, f"one of {', '.join(REGISTRATIONS)}"),
    "intensity_scaling": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "class_names": (_check_names, "at least 2 non-empty strings"),
    "training_data": (lambda v: isinstance(v, str), "a string"),
    "intended_use": (lambda v: isinstance(v, str), "a string"),
    "training_fingerprint": (lambda v: isinstance(v, dict), "an object"),
    "split": (lambda v: isinstance(v, dict), "an object"),
    "metrics": (lambda v: isinstance(v, dict), "an object"),
    "training": (lambda v: isinstance(v, dict), "an object"),
    "software": (lambda v: isinstance(v, dict), "an object"),
    "command": (lambda v: isinstance(v, str), "a string"),
    "extra": (lambda v: isinstance(v, dict), "an object"),
}
#: Optional provenance fields (written by ``bids_lrp-train``; empty on hand-made cards).
_PROVENANCE = ("training_fingerprint", "split", "metrics", "training", "software")


@dataclass(frozen=True)
class ModelCard:
    """What a trained model is, what it expects as input and what it may be used for.

    Attributes
    ----------
    name : str
        Model name, e.g. ``"boehle2019-sim-demo"``.
    architecture : str
        Registry name for `bids_lrp.model.build_model`, e.g. ``"boehle2019"``.
    architecture_params : dict
        Keyword arguments for `build_model` besides ``input_shape`` (may be empty).
    input_shape : tuple of int
        Spatial grid (X, Y, Z) the network sees.
    voxel_size : tuple of float
        Voxel size (mm) of that grid.
    affine : tuple of tuple of float
        4x4 voxel-to-world (mm) affine of that grid.
    template : str
        Template space of the input, e.g. ``"MNI152NLin2009cAsym"``.
    registration : str
        ``"affine"`` or ``"syn"``: how the training images were registered.
    intensity_scaling : str
        E.g. ``"minmax-in-brain-mask"`` (Böhle et al. 2019, section 2.1).
    class_names : tuple of str
        Output classes in logit order, e.g. ``("HC", "AD")``.
    training_data, intended_use : str
        Free text.
    training_fingerprint : dict
        What the model was trained on: sorted participants and sessions with their labels, scan
        and class counts, and the SHA-256 of that list (`bids_lrp.model.data.fingerprint`).
    split : dict
        How participants were split (method, seed, fractions or folds, the sets).
    metrics : dict
        Per set (``train``, ``validation``, ``test``): loss, balanced accuracy, sensitivity,
        specificity, ROC AUC, ... (`bids_lrp.model.train.evaluate`).
    training : dict
        The recipe (optimizer, learning rate, weight decay, batch size, augmentation, early
        stopping) and what happened (epochs run, best epoch, device, time).
    software : dict
        Versions of Python, bids_lrp, torch, numpy, ... used for training.
    command : str
        The exact command that trained the model.
    extra : dict
        Anything else; JSON-serializable.
    """

    name: str
    architecture: str
    architecture_params: dict
    input_shape: tuple[int, int, int]
    voxel_size: tuple[float, float, float]
    affine: tuple[tuple[float, ...], ...]
    template: str
    registration: str
    intensity_scaling: str
    class_names: tuple[str, ...]
    training_data: str = ""
    intended_use: str = ""
    training_fingerprint: dict = field(default_factory=dict)
    split: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    software: dict = field(default_factory=dict)
    command: str = ""
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """Return a JSON-serializable dict (tuples become lists)."""
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["voxel_size"] = list(self.voxel_size)
        data["affine"] = [list(row) for row in self.affine]
        data["class_names"] = list(self.class_names)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelCard:
        """Validate and build a card from `to_json` output (extra checkpoint keys are ignored).

        Raises
        ------
        ValueError
            Naming the first missing key or the first key with a wrong type.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"model card must be a JSON object, got {type(data).__name__}")
        required = [f.name for f in fields(cls) if _has_no_default(f)]
        missing = [k for k in required if k not in data]
        if missing:
            raise ValueError(f"model card is missing key(s): {', '.join(missing)}")
        unknown = sorted(set(data) - set(_VALIDATORS) - _META_KEYS)
        if unknown:
            warnings.warn(
                f"model card has unknown key(s), ignored: {', '.join(unknown)}", stacklevel=2
            )
        for key, (valid, description) in _VALIDATORS.items():
            if key in data and not valid(data[key]):
                raise ValueError(
                    f"model card key {key!r} must be {description}, got {data[key]!r}"
                )
        return cls(
            name=data["name"],
            architecture=data["architecture"],
            architecture_params=dict(data["architecture_params"]),
            input_shape=tuple(int(v) for v in data["input_shape"]),
            voxel_size=tuple(float(v) for v in data["voxel_size"]),
            affine=tuple(tuple(float(v) for v in row) for row in data["affine"]),
            template=data["template"],
            registration=data["registration"],
            intensity_scaling=data["intensity_scaling"],
            class_names=tuple(data["class_names"]),
            training_data=data.get("training_data", ""),
            intended_use=data.get("intended_use", ""),
            **{key: dict(data.get(key, {})) for key in _PROVENANCE},
            command=data.get("command", ""),
            extra=dict(data.get("extra", {})),
        )


def _has_no_default(f: Any) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def card_path(path: str | Path) -> Path:
    """Path of the card JSON beside a weights file (``model.safetensors`` -> ``model.json``)."""
    return Path(path).with_suffix(".json")


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then ``os.replace`` it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; others must be able to read a model
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _safetensors_bytes(state: Mapping[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """safetensors bytes with the metadata keys in sorted order.

    The library stores the metadata in a hash map, so its key order (and thus the file's bytes
    and checksum) changes from call to call; identical weights must give identical files.
    """
    data = save(dict(state), metadata=metadata)
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    ordered = {"__metadata__": header.pop("__metadata__"), **header}
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
    if len(text) > length:  # cannot happen for the same keys; keep the library's bytes then
        return data
    return data[:8] + text.ljust(length, b" ") + data[8 + length :]


def save_checkpoint(model: nn.Module, card: ModelCard, path: str | Path) -> str:
    """Write ``model``'s weights (safetensors) to ``path`` and the card JSON beside it.

    Parameters
    ----------
    model : torch.nn.Module
        Its ``state_dict`` is saved (tensors moved to CPU, made contiguous).
    card : ModelCard
        Saved as ``<path without suffix>.json`` with ``"sha256"`` of the weights file added.
    path : str or Path
        Weights file, e.g. ``model.safetensors``.

    Returns
    -------
    str
        Hex SHA-256 of the weights file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ModelCard.from_json(card.to_json())  # refuse to write a card that could not be read back
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": "pt", "architecture": card.architecture, "name": card.name}
    data = _safetensors_bytes(state, metadata)
    _atomic_write(path, lambda tmp: tmp.write_bytes(data))
    digest = sha256_file(path)
    payload = {**card.to_json(), "weights": path.name, "sha256": digest}
    text = json.dumps(payload, indent=2, sort_keys=False) + "\n"
    _atomic_write(card_path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return digest


def read_card(path: str | Path) -> tuple[ModelCard, str | None]:
    """Read the card beside weights file ``path``; return it and its recorded sha256."""
    json_path = card_path(path)
    if not json_path.is_file():
        raise CheckpointError(f"model card not found: {json_path} (expected beside {path})")
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
        card = ModelCard.from_json(data)
    except ValueError as err:  # json.JSONDecodeError is a ValueError
        raise CheckpointError(f"invalid model card {json_path}: {err}") from None
    return card, data.get("sha256")


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError) as err:
            raise CheckpointError(f"cannot read weights {path}: {err}") from None
    if path.suffix in (".pt", ".pth"):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # UnpicklingError, RuntimeError, EOFError, ...
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(
                f"refusing to load {path}: not a plain weights-only state_dict ({first})"
            ) from None
        if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()
        ):
            raise CheckpointError(f"{path} does not hold a state_dict of tensors")
        return state
    raise CheckpointError(
        f"unsupported weights file {path}: use .safetensors (or a .pt state_dict)"
    )


def _describe_mismatch(model: nn.Module, state: Mapping[str, torch.Tensor]) -> str | None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
    if unexpected:
        more = " ..." if len(unexpected) > 3 else ""
        parts.append(f"unexpected {', '.join(unexpected[:3])}{more}")
    if shapes:
        parts.append(f"shape {', '.join(shapes[:3])}{' ...' if len(shapes) > 3 else ''}")
    return "; ".join(parts) or None


def load_checkpoint(
    path: str | Path, *, device: str | torch.device = "cpu", expected_sha256: str | None = None
) -> tuple[nn.Module, ModelCard]:
    """Load a checkpoint written by `save_checkpoint`, verified, in eval mode.

    Parameters
    ----------
    path : str or Path
        Weights file (``.safetensors``; a ``.pt`` state_dict is read with
        ``torch.load(weights_only=True)``); its card JSON must lie beside it.
    device : str or torch.device
        Where the returned model lives.
    expected_sha256 : str, optional
        Checksum the weights file must have (e.g. from a model registry), checked in addition to
        the card's.

    Returns
    -------
    model, card : torch.nn.Module, ModelCard

    Raises
    ------
    CheckpointError
        One line: missing file, checksum mismatch, invalid card, weights that do not fit the
        card's architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint weights not found: {path}")
    card, recorded = read_card(path)
    actual = sha256_file(path)
    for expected in (recorded, expected_sha256):
        if expected is not None and expected.lower() != actual:
            raise CheckpointError(
                f"checksum mismatch for {path}: expected {expected.lower()}, file has {actual}"
            )
    try:
        model = build_model(
            card.architecture, input_shape=card.input_shape, **card.architecture_params
        )
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"cannot build the model of {card_path(path)}: {err}") from None
    state = _read_state(path)
    problem = _describe_mismatch(model, state)
    if problem is not None:
        raise CheckpointError(
            f"weights in {path} do not match architecture {card.architecture!r} with input_shape "
            f"{card.input_shape}: {problem}"
        )
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), card


def check_card_compatible(
    card: ModelCard, *, template: str, registration: str | None
) -> list[str]:
    """Raise `CheckpointError` unless the run's template matches the card's; return warnings.

    Parameters
    ----------
    card : ModelCard
        The model's card.
    template : str
        Template space the run normalizes to (must be the card's: the network only knows its
        own grid).
    registration : str or None
        Registration kind of the run; ``None`` means the card's. A different kind is allowed
        (the inputs are still on the model's grid) but worth a warning: the network was trained
        on images registered the card's way.

    Returns
    -------
    list of str
        Warnings for the user (empty when the run matches the card).
    """
    if template != card.template:
        raise CheckpointError(
            f"model {card.name!r} expects inputs in template {card.template!r}, but the run uses "
            f"{template!r}"
        )
    if registration is not None and registration != card.registration:
        return [
            f"model {card.name!r} was trained on {card.registration!r}-registered scans; this "
            f"run uses {registration!r} registration (--registration), so its predictions may "
            "be less accurate"
        ]
    return []
