"""`simulate_cohort`: validate, plan, render and write a simulated cohort."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pandas as pd

from bids_lrp.simulate.atrophy import atrophy_model
from bids_lrp.simulate.bids import write_json, write_tsv
from bids_lrp.simulate.dataset import DERIVATIVE, write_dataset_files, write_scan
from bids_lrp.simulate.plan import (
    DEFAULT_REGIONS,
    CohortConfig,
    SimulationError,
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


def check_output_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse an existing non-empty folder unless ``overwrite``; raise `SimulationError`."""
    if out_dir.exists() and not out_dir.is_dir():
        raise SimulationError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise SimulationError(f"{out_dir} is not empty; choose another folder or pass --overwrite")


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
        Dataset root; must be absent or empty unless ``overwrite``.
    n_subjects, ad_fraction, seed, atrophy_regions, severity, sessions, head
        See `bids_lrp.simulate.plan.CohortConfig`.
    overwrite : bool
        Replace the contents of a non-empty ``out_dir``.
    progress : callable, optional
        Called as ``progress(done, total, scan_name)`` after each scan.

    Returns
    -------
    pandas.DataFrame
        The truth table (also ``derivatives/simulation/atrophy.tsv``): one row per scan and area.

    Raises
    ------
    SimulationError
        For invalid arguments or a non-empty ``out_dir``; nothing is written then.
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
    if overwrite and out_dir.is_dir():
        for child in out_dir.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    write_dataset_files(out_dir, config, specs, model)
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
            pending = writer.submit(write_scan, out_dir, result, model)
            del result
        tables.append(pending.result())
        _report(progress, len(specs), specs)
    truth = pd.concat(tables, ignore_index=True)
    write_tsv(out_dir / DERIVATIVE / "atrophy.tsv", truth)
    write_json(
        out_dir / DERIVATIVE / "atrophy.json",
        {k: {"Description": v} for k, v in _TRUTH_COLUMNS.items()},
    )
    return truth
