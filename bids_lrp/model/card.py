"""The model card: what a trained model is, what it expects as input, what it may be used for.

`ModelCard` validates itself when read from JSON (`ModelCard.from_json`); the checkpoint files
that carry it are written and read by `bids_lrp.model.checkpoint`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

__all__ = [
    "INPUT_RESAMPLINGS",
    "REGISTRATIONS",
    "CheckpointError",
    "ModelCard",
    "check_card_compatible",
]

#: Registration kinds a model may have been trained with (see `bids_lrp.normalize`).
REGISTRATIONS = ("affine", "syn")
#: How a template-space scan reaches a coarser network grid
#: (`bids_lrp.normalize.resample_to_grid`):
#: ``"linear"`` samples it (cards written before this field existed say nothing and mean this),
#: ``"antialiased"`` low-passes it first.
INPUT_RESAMPLINGS = ("linear", "antialiased")
logger = logging.getLogger(__name__)


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
        and len(set(value)) == len(value)
    )


def _check_sha256(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{64}", value) is not None


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
    "class_names": (_check_names, "at least 2 distinct non-empty strings"),
    "input_resampling": (
        lambda v: v in INPUT_RESAMPLINGS,
        f"one of {', '.join(INPUT_RESAMPLINGS)}",
    ),
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
#: Keys the card JSON carries besides the `ModelCard` fields (written by `save_checkpoint`).
_META_VALIDATORS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "sha256": (_check_sha256, "64 hexadecimal digits (the SHA-256 of the weights file)"),
    "weights": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "format": (lambda v: isinstance(v, str), "a string"),
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
    input_resampling : str
        How scans reach a network grid coarser than the template's (`INPUT_RESAMPLINGS`);
        ``"linear"`` when the card does not say.
    training_data, intended_use : str
        Free text.
    training_fingerprint : dict
        What the model was trained on: sorted participants and sessions with their labels, scan
        and class counts, and the SHA-256 of that list (`bids_lrp.model.data.fingerprint`).
    split : dict
        How participants were split (method, seed, fractions or folds, the sets).
    metrics : dict
        Per set (``train``, ``validation``, ``test``): loss, balanced accuracy, sensitivity,
        specificity, ROC AUC, ... (`bids_lrp.model.metrics.evaluate`).
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
    input_resampling: str = "linear"
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
    def from_json(cls, data: Mapping[str, Any], *, source: str = "") -> ModelCard:
        """Validate and build a card from `to_json` output.

        The checkpoint keys (``sha256``, ``weights``, ``format``) are checked, then ignored;
        unknown keys are ignored with a logged warning (naming ``source``, e.g. the card file).

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
        for key, (valid, description) in {**_VALIDATORS, **_META_VALIDATORS}.items():
            if key in data and not valid(data[key]):
                raise ValueError(
                    f"model card key {key!r} must be {description}, got {_short(data[key])}"
                )
        unknown = sorted(str(k) for k in set(data) - set(_VALIDATORS) - set(_META_VALIDATORS))
        if unknown:
            where = f" {source}" if source else ""
            logger.warning(
                "warning: model card%s has unknown key(s), ignored: %s", where, ", ".join(unknown)
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
            input_resampling=data.get("input_resampling", "linear"),
            training_data=data.get("training_data", ""),
            intended_use=data.get("intended_use", ""),
            **{key: dict(data.get(key, {})) for key in _PROVENANCE},
            command=data.get("command", ""),
            extra=dict(data.get("extra", {})),
        )


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters (a card value may be a long list)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _has_no_default(f: Any) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


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
            f"{template!r}; run with --template {card.template}"
        )
    if registration is not None and registration != card.registration:
        return [
            f"model {card.name!r} was trained on {card.registration!r}-registered scans; this "
            f"run uses {registration!r} registration (--registration), so its predictions may "
            "be less accurate"
        ]
    return []
