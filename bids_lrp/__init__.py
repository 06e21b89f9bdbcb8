"""bids_lrp: layer-wise relevance propagation for Alzheimer's disease classification of T1w MRI.

A BIDS App reproducing Böhle, Eitel, Weygandt & Ritter (2019), Front. Aging Neurosci. 11:194.
Nothing is loaded or configured at import time.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
