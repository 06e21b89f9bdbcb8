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
import struct
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from bids_lrp.model.card import REGISTRATIONS, CheckpointError, ModelCard, check_card_compatible
from bids_lrp.model.network import build_model, n_outputs
from bids_lrp.safewrite import StagedOutputs, atomic_write_bytes, atomic_write_text

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


def _check_outputs(model: nn.Module, card: ModelCard, path: Path) -> None:
    """Refuse a card whose class names do not name the network's outputs one to one."""
    outputs = n_outputs(model)
    if outputs is not None and outputs != len(card.class_names):
        raise CheckpointError(
            f"model card {card_path(path)} names {len(card.class_names)} classes "
            f"({', '.join(card.class_names)}), but its network has {outputs} outputs"
        )


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

    Raises
    ------
    CheckpointError
        When the card's class names do not match the network's outputs.
    OSError
        When a file cannot be written (a full disk): then neither new file is left, and an
        earlier checkpoint at ``path`` is left as it was (both files are complete before
        either is renamed into place).
    """
    path = Path(path)
    ModelCard.from_json(card.to_json())  # refuse to write a card that could not be read back
    _check_outputs(model, card, path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": "pt", "architecture": card.architecture, "name": card.name}
    data = _safetensors_bytes(state, metadata)
    digest = hashlib.sha256(data).hexdigest()
    payload = {**card.to_json(), "weights": path.name, "sha256": digest}
    text = json.dumps(payload, indent=2, sort_keys=False) + "\n"
    # Both files are written in full before either is moved into place, the card last: an
    # error (a full disk) leaves neither, never weights without their card.
    with StagedOutputs(path.parent) as staged:
        atomic_write_bytes(staged.path(path), data)
        atomic_write_text(staged.path(card_path(path)), text)
        staged.publish()
    return digest


def read_card(path: str | Path) -> tuple[ModelCard, str | None]:
    """Read the card beside weights file ``path``; return it and its recorded sha256."""
    json_path = card_path(path)
    if not json_path.is_file():
        raise CheckpointError(f"model card not found: {json_path} (expected beside {path})")
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
        card = ModelCard.from_json(data, source=str(json_path))
    except ValueError as err:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CheckpointError(f"invalid model card {json_path}: {err}") from None
    except OSError as err:
        raise CheckpointError(f"cannot read model card {json_path}: {err}") from None
    return card, data.get("sha256")  # from_json checked its type


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
    if expected_sha256 is not None and not isinstance(expected_sha256, str):
        raise CheckpointError(
            f"expected checksum of {path} must be a string, got {type(expected_sha256).__name__}"
        )
    card, recorded = read_card(path)
    try:
        actual = sha256_file(path)
    except OSError as err:
        raise CheckpointError(f"cannot read weights {path}: {err}") from None
    for expected in (recorded, expected_sha256):
        if expected is not None and expected.lower() != actual:
            raise CheckpointError(
                f"checksum mismatch for {path}: expected {expected.lower()}, file has {actual}"
            )
    try:
        model = build_model(
            card.architecture, input_shape=card.input_shape, **card.architecture_params
        )
    except (ValueError, TypeError, RuntimeError, MemoryError) as err:
        raise CheckpointError(f"cannot build the model of {card_path(path)}: {err}") from None
    _check_outputs(model, card, path)
    state = _read_state(path)
    problem = _describe_mismatch(model, state)
    if problem is not None:
        raise CheckpointError(
            f"weights in {path} do not match architecture {card.architecture!r} with input_shape "
            f"{card.input_shape}: {problem}"
        )
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), card
