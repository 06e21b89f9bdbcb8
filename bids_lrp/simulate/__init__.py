"""Simulated AD/CN cohorts with ground-truth atrophy (``bids_lrp-simulate``).

Python API::

    from bids_lrp.simulate import simulate_cohort
    truth = simulate_cohort("sim", n_subjects=4, ad_fraction=0.5, seed=0)
"""

from bids_lrp.simulate.cohort import simulate_cohort
from bids_lrp.simulate.plan import CohortConfig, ScanSpec, SimulationError, plan_cohort

__all__ = ["CohortConfig", "ScanSpec", "SimulationError", "plan_cohort", "simulate_cohort"]
