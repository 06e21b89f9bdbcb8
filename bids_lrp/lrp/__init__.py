"""Layer-wise relevance propagation and gradient baselines for ``nn.Sequential`` models.

``explain(model, x, target, method="boehle2019", **params)`` returns a relevance map like
``x``; ``attribute`` also returns the prediction and the conservation check;
``list_methods()`` lists the registered methods and their parameters.
"""

from bids_lrp.lrp.engine import Explanation, attribute, explain
from bids_lrp.lrp.methods import METHODS, get_method, list_methods, register_method

__all__ = [
    "METHODS",
    "Explanation",
    "attribute",
    "explain",
    "get_method",
    "list_methods",
    "register_method",
]
