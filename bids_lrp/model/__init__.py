"""Network architectures (registry) and model construction."""

from bids_lrp.model.network import ARCHITECTURES, build_model, register_architecture

__all__ = ["ARCHITECTURES", "build_model", "register_architecture"]
