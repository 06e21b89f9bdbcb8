"""Region perturbation: removing the area a map points at first lowers the score first."""

from __future__ import annotations

import torch
from torch import nn

from bids_lrp.faithfulness import aopc
from bids_lrp.lrp.perturb import region_perturbation

SHAPE = (6, 5, 4)


def test_the_map_that_points_at_the_evidence_is_faithful():
    regions = torch.zeros(SHAPE, dtype=torch.long)
    regions[:2], regions[2:4], regions[4:] = 1, 2, 3
    linear = nn.Linear(regions.numel(), 2)
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.zero_()
        linear.weight[1] = 4.0 * (regions.reshape(-1) == 2)  # class 1 looks at area 2 only
    model = nn.Sequential(nn.Flatten(), linear).eval()
    x = torch.full((1, 1, *SHAPE), 0.5)
    relevance = (regions == 2).float() + 0.01 * (regions == 3).float()
    curves = {
        c.order: c
        for c in region_perturbation(
            model, x, 1, relevance, regions, torch.zeros(SHAPE), steps=3, start="logit"
        )
    }
    assert curves["morf"].areas == (2, 3, 1)
    assert curves["lerf"].areas == (1, 3, 2)
    assert sorted(curves["random"].areas) == [1, 2, 3]
    score = 4.0 * 0.5 * int((regions == 2).sum())
    assert curves["morf"].scores == (score, 0.0, 0.0, 0.0)
    assert curves["lerf"].scores == (score, score, score, 0.0)
    assert curves["morf"].aopc == aopc([score, 0, 0, 0]) == 0.75 * score
    assert curves["morf"].aopc > curves["random"].aopc >= curves["lerf"].aopc
    again = region_perturbation(
        model, x, 1, relevance, regions, torch.zeros(SHAPE), steps=2, start="logit"
    )
    assert [c.areas for c in again] == [(2, 3), (1, 3), curves["random"].areas[:2]]
