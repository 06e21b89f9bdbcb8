"""ClinicaDL's ``Conv5_FC3`` image-level classifier, on ClinicaDL's own grid and weights.

ClinicaDL (Thibeau-Sutre et al. 2022; Wen et al. 2020) trains ``Conv5_FC3`` on the
``t1-linear`` outputs of a CAPS folder: T1w images affinely registered to MNI152NLin2009cSym at
1 mm and cropped to 169 x 208 x 179 voxels. `build_model("clinicadl-conv5-fc3")` builds the same
layers under the same names (``convolutions.<i>``, ``fc.<i>``), so a ClinicaDL ``state_dict``
loads unchanged, and `import_clinicadl` turns a ClinicaDL ``model.pth.tar`` into a bids_lrp
checkpoint and model card. Every method explains it (`bids_lrp.lrp`): the engine runs
`PadMaxPool3d` as zero padding then max pooling.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bids_lrp.grid import Grid
from bids_lrp.model.card import ModelCard
from bids_lrp.model.layers import PadMaxPool3d
from bids_lrp.model.network import register_architecture

__all__ = ["CAPS_GRID", "CAPS_TEMPLATE", "Conv5FC3", "caps_card", "import_clinicadl"]

#: The template of ClinicaDL's t1-linear images.
CAPS_TEMPLATE = "MNI152NLin2009cSym"
#: The cropped t1-linear grid: 169 x 208 x 179 voxels of 1 mm, the ICBM 2009c grid
#: (193 x 229 x 193, origin -96, -132, -78 mm) without its first 12, 13 and 0 voxels.
CAPS_GRID = Grid(
    (169, 208, 179),
    np.array(
        [
            [1.0, 0.0, 0.0, -84.0],
            [0.0, 1.0, 0.0, -119.0],
            [0.0, 0.0, 1.0, -78.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    ),
)


def _after_pools(size: int, n: int = 5) -> int:
    for _ in range(n):
        size = -(-size // 2)  # padded up to even, then halved
    return size


class Conv5FC3(nn.Sequential):
    """``Conv5_FC3`` as ClinicaDL builds it for 3D images.

    Five blocks of Conv3d(k=3, padding 1) -> BatchNorm3d -> ReLU -> PadMaxPool3d(2, 2) with
    1 -> 8 -> 16 -> 32 -> 64 -> 128 channels, then Flatten -> Dropout -> Linear(., 1300) -> ReLU
    -> Linear(1300, 50) -> ReLU -> Linear(50, classes).
    """

    def __init__(
        self,
        input_shape: Sequence[int] = CAPS_GRID.shape,
        *,
        n_classes: int = 2,
        dropout: float = 0.5,
        channels: Sequence[int] = (8, 16, 32, 64, 128),
        hidden: Sequence[int] = (1300, 50),
    ) -> None:
        if len(input_shape) != 3 or min(input_shape) < 1:
            raise ValueError(f"input_shape must be 3 positive sizes, got {input_shape!r}")
        blocks: list[nn.Module] = []
        previous = 1
        for width in channels:
            blocks += [
                nn.Conv3d(previous, width, 3, padding=1),
                nn.BatchNorm3d(width),
                nn.ReLU(),
                PadMaxPool3d(2, 2),
            ]
            previous = width
        n_features = previous * int(np.prod([_after_pools(s, len(channels)) for s in input_shape]))
        fc: list[nn.Module] = [nn.Flatten(), nn.Dropout(dropout)]
        for width in hidden:
            fc += [nn.Linear(n_features, width), nn.ReLU()]
            n_features = width
        fc.append(nn.Linear(n_features, n_classes))
        super().__init__()
        self.convolutions = nn.Sequential(*blocks)
        self.fc = nn.Sequential(*fc)
        self.input_shape = tuple(int(s) for s in input_shape)


@register_architecture("clinicadl-conv5-fc3")
def _conv5_fc3(input_shape: Sequence[int] = CAPS_GRID.shape, **kwargs) -> nn.Module:
    return Conv5FC3(input_shape, **kwargs)


def caps_card(name: str, class_names: Sequence[str] = ("CN", "AD"), **changes) -> ModelCard:
    """A model card for ``Conv5_FC3`` on the CAPS t1-linear grid."""
    fields = {
        "name": name,
        "architecture": "clinicadl-conv5-fc3",
        "architecture_params": {},
        "input_shape": CAPS_GRID.shape,
        "voxel_size": (1.0, 1.0, 1.0),
        "affine": tuple(tuple(float(v) for v in row) for row in CAPS_GRID.affine),
        "template": CAPS_TEMPLATE,
        "registration": "affine",
        "intensity_scaling": "minmax",
        "class_names": tuple(class_names),
        "training_data": "ClinicaDL (see the source model)",
        "intended_use": "research",
    }
    fields.update(changes)
    return ModelCard(**fields)


def import_clinicadl(
    source: str | Path, out: str | Path, *, class_names: Sequence[str] = ("CN", "AD"), **card
) -> Path:
    """Turn a ClinicaDL ``Conv5_FC3`` checkpoint (``model.pth.tar``) into a bids_lrp model.

    The weights are read with ``torch.load(weights_only=True)`` (no code in the file runs);
    ClinicaDL stores them under ``"model"``. Writes ``out`` (.safetensors) and its card.
    """
    from bids_lrp.model.checkpoint import save_checkpoint

    state = torch.load(Path(source), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    n_classes = int(state["fc.6.weight"].shape[0]) if "fc.6.weight" in state else 2
    model = Conv5FC3(n_classes=n_classes)
    model.load_state_dict(state)  # a mismatch names the missing and unexpected keys
    name = card.pop("name", Path(out).stem)
    save_checkpoint(model.eval(), caps_card(name, class_names, **card), out)
    return Path(out)
