"""Network architectures (registry) and model construction."""

from bids_lrp.model.checkpoint import (
    CheckpointError,
    ModelCard,
    check_card_compatible,
    load_checkpoint,
    save_checkpoint,
)
from bids_lrp.model.network import ARCHITECTURES, build_model, register_architecture

# registers ClinicaDL's Conv5_FC3 ("clinicadl-conv5-fc3")
from bids_lrp.model import clinicadl  # noqa: F401  isort: skip

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
