"""Network architectures (registry) and model construction."""

from bids_lrp.model.checkpoint import (
    CheckpointError,
    ModelCard,
    check_card_compatible,
    load_checkpoint,
    save_checkpoint,
)
from bids_lrp.model.network import ARCHITECTURES, build_model, register_architecture

__all__ = [
    "ARCHITECTURES",
    "CheckpointError",
    "ModelCard",
    "build_model",
    "check_card_compatible",
    "load_checkpoint",
    "register_architecture",
    "save_checkpoint",
]
