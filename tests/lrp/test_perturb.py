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


def test_one_cache_per_image_scores_each_perturbed_input_once():
    torch.manual_seed(0)
    regions = torch.randint(0, 9, SHAPE)
    model = nn.Sequential(nn.Flatten(), nn.Linear(regions.numel(), 2)).eval()
    x = torch.rand(1, 1, *SHAPE)
    maps = [torch.rand(SHAPE) for _ in range(3)]
    cache: dict = {}
    calls = []
    for relevance in maps:
        before = len(cache)
        cached = region_perturbation(model, x, 1, relevance, regions, torch.zeros(SHAPE),
                                     steps=5, cache=cache)  # fmt: skip
        calls.append(len(cache) - before)
        alone = region_perturbation(model, x, 1, relevance, regions, torch.zeros(SHAPE), steps=5)
        for a, b in zip(cached, alone, strict=True):
            assert a.areas == b.areas
            torch.testing.assert_close(torch.tensor(a.scores), torch.tensor(b.scores))
    # the first map: step 0 and three orders of 5; the others only their own morf and lerf
    assert calls[0] <= 16 and all(n <= 10 for n in calls[1:])
    assert len({k for k in cache if not k[2]}) == 1  # the image itself, scored once
