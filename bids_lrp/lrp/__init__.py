"""Layer-wise relevance propagation and gradient baselines for ``nn.Sequential`` models.

``explain(model, x, target, method="boehle2019", **params)`` returns a relevance map like
``x``; ``attribute`` also returns the prediction and the conservation check;
``list_methods()`` lists the registered methods and their parameters. ``target`` is a class
index per image or ``PREDICTED`` (each image's predicted class).
"""

from bids_lrp.lrp.engine import PREDICTED, Explanation, attribute, explain
from bids_lrp.lrp.methods import METHODS, get_method, list_methods, register_method

__all__ = [
    "METHODS",
    "PREDICTED",
    "Explanation",
    "attribute",
    "explain",
    "get_method",
    "list_methods",
    "register_method",
]
