"""``bids_lrp-benchmark``: how well the explanations find planted atrophy.

A simulated cohort (`bids_lrp.simulate`) knows where the disease is: each AD scan's planted
areas, as a mask in template space. The benchmark runs a model and methods through the real
participant level and scores each method's maps against that truth (`score`), beside the
faithfulness and randomization figures the participant level records in every map's sidecar.
"""

from bids_lrp.benchmark.run import BenchmarkError, BenchmarkResult, run_benchmark
from bids_lrp.benchmark.score import image_scores, method_summary, rank_by_gain
from bids_lrp.benchmark.truth import GroundTruth, read_truth

__all__ = [
    "BenchmarkError",
    "BenchmarkResult",
    "GroundTruth",
    "image_scores",
    "method_summary",
    "rank_by_gain",
    "read_truth",
    "run_benchmark",
]
