"""ONNX and TorchScript export: the exported network gives the model's logits."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime
import pytest
import torch

from bids_lrp.cli.export import main
from bids_lrp.model import load_checkpoint, save_checkpoint
from bids_lrp.model.clinicadl import Conv5FC3, caps_card
from bids_lrp.model.export import ExportError, card_of, export_model
from tests.e2e.helpers import make_model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    torch.manual_seed(3)
    clinicadl = Conv5FC3((23, 27, 21)).eval()
    affine = tuple(tuple(float(v) for v in row) for row in np.eye(4))
    card = caps_card("conv5fc3-small", input_shape=(23, 27, 21), affine=affine)
    save_checkpoint(clinicadl, card, root / "conv5fc3.safetensors")
    return {"boehle2019": make_model(root / "tiny.safetensors"),
            "clinicadl": root / "conv5fc3.safetensors"}  # fmt: skip


@pytest.mark.parametrize("kind", ["boehle2019", "clinicadl"])
def test_onnx_gives_the_models_logits_for_any_batch(models, kind, tmp_path):
    out, entry = export_model(models[kind], tmp_path / "m.onnx")
    model, card = load_checkpoint(models[kind])
    x = torch.rand(3, 1, *card.input_shape)  # another batch size than the export's
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    [logits] = session.run(["logits"], {"t1w": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(logits, model(x).numpy(), rtol=1e-4, atol=1e-5)
    assert entry["Format"] == "onnx" and entry["MaxLogitDifference"] < 1e-4
    sidecar = json.loads(card_of(out).read_text())
    assert sidecar["name"] == card.name and sidecar["Export"]["Input"]["name"] == "t1w"


@pytest.mark.parametrize("kind", ["boehle2019", "clinicadl"])
def test_torchscript_gives_the_models_logits(models, kind, tmp_path):
    out, entry = export_model(models[kind], tmp_path / "m.pt")
    model, card = load_checkpoint(models[kind])
    loaded = torch.jit.load(str(out))
    x = torch.rand(2, 1, *card.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    assert entry["Format"] == "torchscript" and card_of(out).name == "m.pt.json"


def test_mistakes_are_one_line_and_write_nothing(models, tmp_path, capsys):
    with pytest.raises(ExportError, match="suffix"):
        export_model(models["boehle2019"], tmp_path / "m.h5")
    assert main([str(tmp_path / "m.zip"), "--model", str(models["boehle2019"])]) == 64
    err = capsys.readouterr().err.strip()
    assert err.startswith("bids_lrp-export: error:") and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
    assert main([str(tmp_path / "ok.onnx"), "--model", str(models["boehle2019"])]) == 0
    assert "max logit difference" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.onnx", "ok.onnx.json"]
