"""Export a bids_lrp model to ONNX or TorchScript, for serving it outside Python or PyTorch.

The exported network takes what the participant level feeds the model, ``t1w`` (N, 1, X, Y, Z;
the card's grid, masked and scaled as the card says), and returns ``logits`` (N, classes); the
batch size is free. Its card goes beside it (``<out stem>.json``) with an ``Export`` entry: the
format, the source checkpoint's SHA-256 and the largest difference between the exported and the
PyTorch logits on a seeded random input (checked at export time). Explanations stay with
bids_lrp: neither format carries the engine's rules.
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bids_lrp.model.checkpoint import load_checkpoint, sha256_file
from bids_lrp.safewrite import StagedOutputs

__all__ = ["FORMATS", "OPSET", "ExportError", "card_of", "export_model"]

LOGGER = logging.getLogger("bids_lrp")
#: Output formats by file suffix.
FORMATS = {".onnx": "onnx", ".pt": "torchscript"}
#: ONNX operator set written.
OPSET = 17
#: Largest |exported - PyTorch| logit difference accepted at export time.
TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """The model cannot be exported, or the export does not reproduce it."""


def _example(card, batch: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.rand((batch, 1, *card.input_shape), generator=generator)


def _onnx_bytes(model, example) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
        torch.onnx.export(
            model, (example,), buffer, input_names=["t1w"], output_names=["logits"],
            dynamic_axes={"t1w": {0: "batch"}, "logits": {0: "batch"}}, opset_version=OPSET,
            dynamo=False,
        )  # fmt: skip
    return buffer.getvalue()


def _onnx_logits(data: bytes, example) -> np.ndarray | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"t1w": example.numpy()})[0]


def _torchscript_bytes(model, example) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example, check_trace=False)
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    return buffer.getvalue()


def _torchscript_logits(data: bytes, example) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(io.BytesIO(data), map_location="cpu")
    with torch.no_grad():
        return loaded(example).numpy()


def card_of(out: Path) -> Path:
    """Where the card of an exported file goes: ``model.onnx`` -> ``model.onnx.json``."""
    return Path(out).with_name(Path(out).name + ".json")


def export_model(model_path: str | Path, out: str | Path) -> tuple[Path, dict[str, Any]]:
    """Export ``model_path`` to ``out`` (``.onnx`` or ``.pt``) and its card beside it.

    Returns the file and the ``Export`` entry of its card. Raises `ExportError` for an
    unknown suffix, a missing ``onnx`` package or logits that differ by more than `TOLERANCE`;
    nothing is written then.
    """
    out = Path(out)
    kind = FORMATS.get(out.suffix)
    if kind is None:
        raise ExportError(f"{out.name}: the suffix must be one of {', '.join(FORMATS)}")
    model, card = load_checkpoint(model_path, device="cpu")
    example = _example(card)
    with torch.no_grad():
        expected = model(example).numpy()
    if kind == "onnx":
        try:
            data = _onnx_bytes(model, example)
        except ModuleNotFoundError as err:
            raise ExportError(f"ONNX export needs the onnx package ({err})") from None
        logits = _onnx_logits(data, example)
    else:
        data = _torchscript_bytes(model, example)
        logits = _torchscript_logits(data, example)
    difference = None if logits is None else float(np.abs(logits - expected).max())
    if difference is not None and difference > TOLERANCE:
        raise ExportError(f"the exported model's logits differ by {difference:.2e}")
    if difference is None:
        LOGGER.warning("onnxruntime is not installed: the exported logits were not checked")
    entry = {
        "Format": kind,
        "Opset": OPSET if kind == "onnx" else None,
        "Input": {"name": "t1w", "shape": ["batch", 1, *card.input_shape]},
        "Output": {"name": "logits", "shape": ["batch", len(card.class_names)]},
        "SourceSHA256": sha256_file(model_path),
        "MaxLogitDifference": difference,
    }
    sidecar = {**card.to_json(), "Export": entry}
    with StagedOutputs(out.parent) as staged:
        staged.path(out).write_bytes(data)
        staged.path(card_of(out)).write_text(json.dumps(sidecar, indent=2) + "\n")
        staged.publish()
    return out, entry
