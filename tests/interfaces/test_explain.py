"""The model node's interfaces (`bids_lrp.interfaces.explain`)."""

from __future__ import annotations

import os

from bids_lrp.interfaces.explain import ExplainImages, SelectImage


def test_the_model_node_explains_every_image_and_selects_one(explain_inputs, tmp_path):
    model, files = explain_inputs
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = ExplainImages(
            in_files=files,
            model_path=str(model),
            methods=["boehle2019"],
            target_class="AD",
            batch_size=2,
        ).run()
    finally:
        os.chdir(cwd)
    out = result.outputs
    assert len(out.relevance) == len(out.predictions) == len(out.metadata) == 2
    assert all(path.startswith(str(tmp_path)) for maps in out.relevance for path in maps)
    assert out.faithfulness == [[], []]  # not measured unless asked for
    share = SelectImage(
        index=1,
        relevance=out.relevance,
        predictions=out.predictions,
        metadata=out.metadata,
        faithfulness=out.faithfulness,
    ).run()
    assert share.outputs.relevance == out.relevance[1]
    assert share.outputs.predictions == out.predictions[1]
    assert share.outputs.metadata[0]["MethodLabel"] == "LRPb0"
