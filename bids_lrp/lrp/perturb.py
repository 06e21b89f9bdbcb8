"""Faithfulness by region perturbation (Samek et al. 2017), over atlas areas.

A map is faithful to the network when removing what it calls most relevant lowers the
explained score fastest. Areas are replaced, cumulatively, in the map's order (most relevant
first, ``morf``) and, as controls, least relevant first (``lerf``) and in a seeded random order
(``random``), by the template brain as a network input: a removed area then looks like an
average brain, not like a hole of zeros, which the network never saw in training and which
would lower the score whatever the map said. The area under the perturbation curve
(``AOPC``, the mean score drop over steps 0..K) is high for ``morf`` and low for ``lerf`` when
the map is faithful; ``random`` is the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from bids_lrp.faithfulness import ORDERS, aopc
from bids_lrp.lrp.multipass import forward_steps, logits_of, scores

__all__ = ["PerturbationCurve", "region_perturbation"]


@dataclass(frozen=True)
class PerturbationCurve:
    """The explained score after removing the first ``k`` areas of one order, k = 0..K."""

    order: str
    areas: tuple[int, ...]
    scores: tuple[float, ...]

    @property
    def aopc(self) -> float:
        """Mean drop of the score over steps 0..K (Samek et al. 2017, eq. 12)."""
        return aopc(self.scores)


def _orders(sums: dict[int, float], steps: int, seed: int) -> dict[str, list[int]]:
    labels = sorted(sums)
    morf = sorted(labels, key=lambda a: (-sums[a], a))
    rng = np.random.default_rng(seed)
    return {
        "morf": morf[:steps],
        "lerf": morf[::-1][:steps],
        "random": [labels[i] for i in rng.permutation(len(labels))][:steps],
    }


def region_perturbation(
    model: nn.Module,
    x: Tensor,
    target: int,
    relevance: Tensor,
    regions: Tensor,
    reference: Tensor,
    *,
    steps: int = 20,
    start: str = "logit",
    seed: int = 0,
    batch: int = 8,
    cache: dict | None = None,
) -> list[PerturbationCurve]:
    """The perturbation curves of one image's map, one per order of `ORDERS`.

    Parameters
    ----------
    model
        The explained network (an ``nn.Sequential``; read, never changed).
    x
        The image as the network sees it, (1, 1, X, Y, Z).
    target
        The explained class.
    relevance
        The map on the network grid, (X, Y, Z); its sum over each area orders the areas.
    regions
        Integer atlas labels on the network grid (0 = none), (X, Y, Z).
    reference
        What a removed area becomes (the template brain as a network input), (X, Y, Z).
    steps
        Areas removed per order (at most the number of areas).
    start
        The score: the target's ``logit`` or ``probability``.
    seed, batch
        Of the random order; inputs per forward pass.
    cache
        Scores already computed for this image, by (target, start, areas removed); filled
        here. The image itself (step 0) and the random order are the same for every map of an
        image that explains the same class, so one cache per image evaluates them once.
    """
    flat = regions.reshape(-1).long()
    n = int(flat.max()) + 1 if flat.numel() else 1
    sums = torch.bincount(flat, weights=relevance.reshape(-1).double(), minlength=n)
    present = torch.bincount(flat, minlength=n) > 0
    labelled = {a: float(sums[a]) for a in range(1, n) if bool(present[a])}
    chosen = _orders(labelled, min(steps, len(labelled)), seed)
    model_steps = forward_steps(model, "region-perturbation")
    fill = reference.to(x).reshape(x.shape[1:])
    target_index = torch.tensor([target], device=x.device)
    known = {} if cache is None else cache
    keys = {
        order: [(target, start, tuple(chosen[order][:k])) for k in range(len(chosen[order]) + 1)]
        for order in ORDERS
    }
    missing = list(dict.fromkeys(k for order in ORDERS for k in keys[order] if k not in known))
    on_device = regions.to(x.device)
    for i in range(0, len(missing), batch):
        chunk = missing[i : i + batch]
        inputs = []
        for _, _, removed_areas in chunk:
            areas = torch.tensor(removed_areas, dtype=on_device.dtype, device=x.device)
            removed = torch.isin(on_device, areas)
            inputs.append(torch.where(removed[None], fill, x[0]))
        logits = logits_of(model_steps, torch.stack(inputs))
        values = scores(logits, target_index.expand(len(chunk)), start).tolist()
        known.update(zip(chunk, values, strict=True))
    return [
        PerturbationCurve(order, tuple(chosen[order]), tuple(known[k] for k in keys[order]))
        for order in ORDERS
    ]
