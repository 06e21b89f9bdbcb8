"""Classifying and explaining image files in batches (`bids_lrp.explain`), without nipype."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from bids_lrp.explain import explain_image, explain_images, resolve_device
from bids_lrp.model import load_checkpoint
from bids_lrp.templates import template_images

TEMPLATE = "MNI152NLin2009cAsym"


def test_every_image_gets_a_map_per_method_and_its_predictions(explain_inputs, tmp_path):
    model, files = explain_inputs
    out = explain_images(
        files, str(model), "", ["boehle2019", "guided-backprop"], "AD", out_dir=str(tmp_path)
    )
    assert [len(maps) for maps in out["relevance"]] == [2, 2]
    t1w, mask, _ = template_images(TEMPLATE)
    outside = np.asarray(mask.dataobj) == 0
    for maps, metadata, predictions in zip(
        out["relevance"], out["metadata"], out["predictions"], strict=True
    ):
        assert [m["MethodLabel"] for m in metadata] == ["LRPb0", "GuidedBackprop"]
        assert [m["TargetSelection"] for m in metadata] == ["given class", "given class"]
        for path, meta in zip(maps, metadata, strict=True):
            img = nib.load(path)
            assert img.shape == t1w.shape and np.allclose(img.affine, t1w.affine)
            values = np.asarray(img.dataobj)
            assert not values[outside].any()  # the template brain only
            assert values.sum(dtype=float) == pytest.approx(meta["RelevanceSumTemplateGrid"])
            assert 0 <= meta["RelevanceOutsideBrain"] <= 1
        row = pd.read_csv(predictions, sep="\t").iloc[0]
        assert row["target_class"] == "AD" and row["model"] == "tiny-test"
        assert row["probability_AD"] + row["probability_HC"] == pytest.approx(1, abs=1e-5)
        assert row["predicted_class"] == ("AD" if row["logit_AD"] > row["logit_HC"] else "HC")


def test_batches_give_the_maps_of_single_images(explain_inputs, tmp_path):
    model, files = explain_inputs
    batched = explain_images(
        files, str(model), "", ["boehle2019"], "AD", batch_size=2, out_dir=str(tmp_path / "b")
    )
    single = explain_image(files[1], str(model), "", ["boehle2019"], "AD", out_dir=str(tmp_path))
    a = np.asarray(nib.load(batched["relevance"][1][0]).dataobj)
    b = np.asarray(nib.load(single["relevance"][0]).dataobj)
    assert np.allclose(a, b, rtol=1e-4, atol=1e-7 * np.abs(a).max())
    assert Path(single["predictions"]).read_text().split("\n")[0].startswith("model\t")


def test_a_method_can_explain_the_predicted_class(explain_inputs, tmp_path):
    model, files = explain_inputs
    out = explain_image(
        files[0],
        str(model),
        "",
        ["boehle2019", "guided-backprop"],
        "AD",
        method_targets={"guided-backprop": "predicted"},
        out_dir=str(tmp_path),
    )
    predicted = pd.read_csv(out["predictions"], sep="\t").iloc[0]["predicted_class"]
    lrp, guided = out["metadata"]
    assert (lrp["TargetClass"], lrp["TargetSelection"]) == ("AD", "given class")
    assert (guided["TargetClass"], guided["TargetSelection"]) == (predicted, "predicted class")
    with pytest.raises(ValueError, match="not one of the model's"):
        explain_image(files[0], str(model), "", ["boehle2019"], "MCI", out_dir=str(tmp_path))


def test_auto_device_is_the_gpu_only_when_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cpu") == "cpu"


def test_faithfulness_curves_and_occlusion_over_the_atlas(explain_inputs, tmp_path):
    model, files = explain_inputs
    out = explain_image(
        files[0],
        str(model),
        "",
        ["boehle2019", "occlusion"],
        "AD",
        out_dir=str(tmp_path),
        atlas="Neuromorphometrics",
        faithfulness_steps=5,
    )
    [path] = out["faithfulness"]
    curves = pd.read_csv(path, sep="\t", na_values="n/a")
    assert list(curves.columns) == ["method", "order", "step", "index", "name", "score"]
    assert sorted(set(curves["method"])) == ["LRPb0", "Occlusion"]
    per_curve = curves.groupby(["method", "order"]).size()
    assert set(per_curve) == {6} and len(per_curve) == 6  # steps 0..5, three orders each
    first = curves[curves["step"] == 0]
    assert first["index"].isna().all() and first["score"].nunique() <= 2  # one per target
    for meta in out["metadata"]:
        faithfulness = meta["Faithfulness"]
        assert faithfulness["Atlas"] == "Neuromorphometrics" and faithfulness["Steps"] == 5
        assert set(faithfulness["AOPC"]) == {"morf", "lerf", "random"}
    occlusion = out["metadata"][1]
    assert occlusion["MethodKind"] == "perturbation"
    with pytest.raises(ValueError, match="need an atlas"):
        explain_image(files[0], str(model), "", ["occlusion"], "AD", out_dir=str(tmp_path))


def test_randomization_check_compares_with_randomized_dense_layers(explain_inputs, tmp_path):
    import copy

    from bids_lrp.model.randomize import randomized_top
    from bids_lrp.randomization import spearman

    model, files = explain_inputs
    out = explain_image(
        files[1], str(model), "", ["boehle2019", "gradient"], "AD",
        out_dir=str(tmp_path), randomization=True,
    )  # fmt: skip
    for meta in out["metadata"]:
        check = meta["Randomization"]
        assert check["Spearman"] is None or -1 <= check["Spearman"] <= 1
        assert check["Passed"] in (True, False, None) and check["Threshold"] == 0.5
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    before = copy.deepcopy(net.state_dict())
    shuffled = randomized_top(net)
    assert all(torch.equal(before[k], net.state_dict()[k]) for k in before)  # untouched
    assert not torch.equal(shuffled[1].weight, net[1].weight)
    assert randomized_top(net) is shuffled  # one copy per model
    inside = np.ones(5, bool)
    assert spearman(np.arange(5.0), np.arange(5.0) ** 2, inside) == pytest.approx(1.0)
    assert spearman(np.zeros(5), np.arange(5.0), inside) is None


def test_cascading_randomization_randomizes_one_more_layer_each_step(explain_inputs, tmp_path):
    from bids_lrp.model.randomize import randomized_models, weight_layers

    model, files = explain_inputs
    out = explain_image(
        files[0], str(model), "", ["gradient"], "AD",
        out_dir=str(tmp_path), randomization=True, randomization_layers="cascade",
    )  # fmt: skip
    [meta] = out["metadata"]
    net, _ = load_checkpoint(model)
    names = [name for name, _ in weight_layers(net)]
    cascade = meta["Randomization"]["Cascade"]
    assert [step["RandomizedDownTo"] for step in cascade] == names[::-1]  # top down
    assert all(s["Spearman"] is None or -1 <= s["Spearman"] <= 1 for s in cascade)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    steps = randomized_models(net, "cascade")
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # untouched
    for depth, (_, shuffled) in enumerate(steps[1:], 1):
        changed = [
            not torch.equal(a.weight, b.weight)
            for (_, a), (_, b) in zip(weight_layers(net), weight_layers(shuffled), strict=True)
        ]
        assert changed == [False] * (len(names) - depth) + [True] * depth
    # the same random weights for a layer at every depth: the steps differ by one layer
    last = weight_layers(steps[1][1])[-1][1].weight
    assert torch.equal(last, weight_layers(steps[-1][1])[-1][1].weight)
    with pytest.raises(ValueError, match="randomization layers"):
        randomized_models(net, "all")


def test_randomization_compares_absolute_values(explain_inputs, tmp_path, monkeypatch):
    """A randomized network whose map is the same map with its signs flipped shows the same
    places: rho of the absolute values is 1, and the map fails the check."""
    import copy

    import bids_lrp.explain as module

    model, files = explain_inputs

    def flipped(net, layers):
        other = copy.deepcopy(net)
        last = [m for m in other.modules() if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            last.weight.neg_()  # the logits change sign: the gradient map flips its signs
            last.bias.neg_()
        return [(None, other)]

    monkeypatch.setattr(module, "randomized_models", flipped)
    out = explain_image(files[1], str(model), "", ["gradient:start=logit"], "AD",
                        out_dir=str(tmp_path), randomization=True)  # fmt: skip
    check = out["metadata"][0]["Randomization"]
    assert check["Spearman"] == pytest.approx(1.0) and check["Passed"] is False
    assert check["Values"] == "absolute"
