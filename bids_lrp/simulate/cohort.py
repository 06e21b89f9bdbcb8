"""`simulate_cohort`: validate, plan, render and write a simulated cohort."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pandas as pd

from bids_lrp.simulate.atrophy import AtrophyModel, atrophy_model
from bids_lrp.simulate.bids import write_json, write_tsv
from bids_lrp.simulate.dataset import DERIVATIVE, write_dataset_files, write_scan
from bids_lrp.simulate.destination import check_output_dir, staged_output
from bids_lrp.simulate.plan import (
    DEFAULT_REGIONS,
    CohortConfig,
    ScanSpec,
    plan_cohort,
    validate_config,
)
from bids_lrp.simulate.scan import render_scan

__all__ = ["check_output_dir", "simulate_cohort"]

logger = logging.getLogger(__name__)

_TRUTH_COLUMNS = {
    "participant_id": "Participant",
    "session_id": "Session (n/a without sessions)",
    "diagnosis": "AD or CN",
    "region": "Planted area (left and right merged)",
    "atlas_indices": "Neuromorphometrics label indices of the area",
    "requested_loss": "Volume-loss fraction asked for (0 for CN)",
    "achieved_loss": "Volume-loss fraction achieved, measured by warping the area mask",
    "template_volume_mm3": "Area volume in the template",
    "native_volume_mm3": "Area volume in the native T1w (after size change and atrophy)",
}


def _report(progress: Callable[[int, int, str], None] | None, done: int, specs: list) -> None:
    spec = specs[done - 1]
    name = f"sub-{spec.subject}" + (f" ses-{spec.session}" if spec.session else "")
    logger.info("simulated %s (%d/%d)", name, done, len(specs))
    if progress is not None:
        progress(done, len(specs), name)


def simulate_cohort(
    out_dir: str | Path,
    *,
    n_subjects: int = 4,
    ad_fraction: float = 0.5,
    seed: int = 0,
    atrophy_regions: Sequence[str] = DEFAULT_REGIONS,
    severity: float = 0.2,
    sessions: int = 1,
    head: bool = True,
    overwrite: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> pd.DataFrame:
    """Simulate a BIDS dataset of AD and CN participants with known (planted) atrophy.

    Parameters
    ----------
    out_dir : str or Path
        Dataset root; must be absent or empty, or with ``overwrite`` hold a dataset this
        simulator made. The dataset is written into a hidden folder inside it and moved into
        place when complete; if the run fails or is interrupted, what it wrote is removed.
    n_subjects, ad_fraction, seed, atrophy_regions, severity, sessions, head
        See `bids_lrp.simulate.plan.CohortConfig`.
    overwrite : bool
        Replace an earlier simulated dataset in ``out_dir`` (once the new one is complete).
        Any other non-empty folder is refused.
    progress : callable, optional
        Called as ``progress(done, total, scan_name)`` after each scan.

    Returns
    -------
    pandas.DataFrame
        The truth table (also ``derivatives/simulation/atrophy.tsv``): one row per scan and area.

    Raises
    ------
    SimulationError
        For invalid arguments or an ``out_dir`` that may not be written; nothing is written then.
    """
    out_dir = Path(out_dir)
    config = CohortConfig(
        n_subjects=n_subjects,
        ad_fraction=ad_fraction,
        seed=seed,
        atrophy_regions=tuple(atrophy_regions),
        severity=severity,
        sessions=sessions,
        head=head,
    )
    regions = validate_config(config)
    config = replace(config, atrophy_regions=regions)
    check_output_dir(out_dir, overwrite)
    model = atrophy_model(regions, config.template, config.atlas)
    specs = plan_cohort(config)
    with staged_output(out_dir) as root:
        truth = _write_cohort(root, config, specs, model, progress)
    return truth


def _write_cohort(
    root: Path,
    config: CohortConfig,
    specs: list[ScanSpec],
    model: AtrophyModel,
    progress: Callable[[int, int, str], None] | None,
) -> pd.DataFrame:
    write_dataset_files(root, config, specs, model)
    tables = []
    # Writing (gzip, which releases the GIL) of scan i overlaps rendering of scan i + 1; at most
    # one scan waits to be written, which bounds memory.
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending = None
        for done, spec in enumerate(specs, start=1):
            result = render_scan(spec, model)
            if pending is not None:
                tables.append(pending.result())
                _report(progress, done - 1, specs)
            pending = writer.submit(write_scan, root, result, model)
            del result
        tables.append(pending.result())
        _report(progress, len(specs), specs)
    truth = pd.concat(tables, ignore_index=True)
    write_tsv(root / DERIVATIVE / "atrophy.tsv", truth)
    write_json(
        root / DERIVATIVE / "atrophy.json",
        {k: {"Description": v} for k, v in _TRUTH_COLUMNS.items()},
    )
    return truth
