"""``bids_lrp-stability``: do an image's findings replicate across models?

Several models trained on the same task (e.g. the K fold models of ``bids_lrp-train --folds K``)
explain the same images; where their maps agree, a finding rests on the data, where they do not,
on one training run. `measure` holds the measures (no torch), `run` explains and writes.
"""

from bids_lrp.stability.measure import agreement_map, area_stability, mean_map

__all__ = ["agreement_map", "area_stability", "mean_map"]
