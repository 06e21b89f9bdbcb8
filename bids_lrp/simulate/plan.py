"""Cohort settings, their validation, and the seeded plan of every scan.

All randomness that decides *what* is simulated is drawn here, from generators derived from the
seed and the subject number (``numpy.random.SeedSequence(seed, spawn_key=(1, i))``), so subject
``i`` is the same whatever the cohort size. Rendering (`bids_lrp.simulate.scan`) only consumes the
per-scan seeds of this plan.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from bids_lrp.simulate.atrophy import MAX_LOSS
from bids_lrp.simulate.native import PROTOCOLS
from bids_lrp.templates import get_atlas, resolve_regions

__all__ = [
    "DEFAULT_REGIONS",
    "CohortConfig",
    "ScanSpec",
    "SimulationError",
    "plan_cohort",
    "validate_config",
]

DEFAULT_REGIONS: tuple[str, ...] = ("hippocampus", "amygdala", "entorhinal", "parahippocampal")
#: Relative growth of the volume loss per session (sessions are a year apart).
PROGRESSION_PER_SESSION = 0.25


class SimulationError(ValueError):
    """An invalid simulation request (reported to users without a traceback)."""


@dataclass(frozen=True)
class CohortConfig:
    """What to simulate.

    Attributes
    ----------
    n_subjects : int
        Number of participants (>= 1).
    ad_fraction : float
        Fraction diagnosed AD, in [0, 1]; ``round(n_subjects * ad_fraction)`` subjects.
    seed : int
        Seed of everything random.
    atrophy_regions : tuple of str
        Areas that lose volume in AD (Neuromorphometrics, both hemispheres).
    severity : float
        Volume-loss fraction of the areas in a typical AD subject at the first session,
        in [0, 0.5]; each subject varies around it.
    sessions : int
        Sessions per subject (>= 1); AD atrophy grows by 25 % of the baseline per session.
    head : bool
        Draw a synthetic scalp and skull around the brain.
    template, atlas : str
        Anatomy (see `bids_lrp.templates`).
    """

    n_subjects: int = 4
    ad_fraction: float = 0.5
    seed: int = 0
    atrophy_regions: tuple[str, ...] = DEFAULT_REGIONS
    severity: float = 0.2
    sessions: int = 1
    head: bool = True
    template: str = "MNI152NLin2009cAsym"
    atlas: str = "Neuromorphometrics"


@dataclass(frozen=True)
class ScanSpec:
    """Everything that decides one simulated scan."""

    subject: str
    session: str | None
    diagnosis: str
    age: float
    sex: str
    volume_loss: float
    protocol: str
    scale: tuple[float, float, float]
    angles_deg: tuple[float, float, float]
    shift_mm: tuple[float, float, float]
    fov_offset_mm: tuple[float, float, float]
    gamma: float
    bias_strength: float
    noise: float
    gain: float
    anatomy_seed: tuple[int, ...]
    scan_seed: tuple[int, ...]
    head: bool = True

    def without_atrophy(self) -> ScanSpec:
        """The same scan of the same person, without any planted atrophy."""
        return replace(self, volume_loss=0.0)


def validate_config(config: CohortConfig) -> tuple[str, ...]:
    """Check a configuration before anything is written.

    Returns
    -------
    tuple of str
        The normalized region names.

    Raises
    ------
    SimulationError
        With a message that says what to change.
    """
    checks = [
        (
            isinstance(config.n_subjects, int) and config.n_subjects >= 1,
            f"--n-subjects must be an integer >= 1 (got {config.n_subjects})",
        ),
        # Written so that nan fails too (every comparison with nan is false).
        (
            0.0 <= config.ad_fraction <= 1.0,
            f"--ad-fraction must be a number within [0, 1] (got {config.ad_fraction})",
        ),
        (
            0.0 <= config.severity <= MAX_LOSS,
            f"--severity is a volume-loss fraction: a number within [0, {MAX_LOSS}] "
            f"(got {config.severity})",
        ),
        (
            isinstance(config.sessions, int) and config.sessions >= 1,
            f"--sessions must be an integer >= 1 (got {config.sessions})",
        ),
        (isinstance(config.seed, int) and config.seed >= 0, "--seed must be an integer >= 0"),
        (len(config.atrophy_regions) > 0, "--atrophy-regions needs at least one region"),
    ]
    for ok, message in checks:
        if not ok:
            raise SimulationError(message)
    try:
        table = get_atlas(config.atlas, config.template).table
        resolved = resolve_regions(config.atrophy_regions, table)
    except ValueError as err:
        raise SimulationError(str(err)) from None
    return tuple(resolved)


def _diagnoses(config: CohortConfig) -> list[str]:
    n_ad = round(config.n_subjects * config.ad_fraction)
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(0,)))
    order = rng.permutation(config.n_subjects)
    return ["AD" if rank < n_ad else "CN" for rank in np.argsort(order)]


def _uniform(rng: np.random.Generator, half_width: float) -> tuple[float, float, float]:
    return tuple(float(x) for x in rng.uniform(-half_width, half_width, 3))


def plan_cohort(config: CohortConfig) -> list[ScanSpec]:
    """Draw the plan of every scan of a cohort (cheap; no images).

    Parameters
    ----------
    config : CohortConfig
        A configuration that passed `validate_config`.

    Returns
    -------
    list of ScanSpec
        Subjects in order, sessions in order.
    """
    width = max(3, len(str(config.n_subjects)))
    protocols = sorted(PROTOCOLS)
    specs = []
    for i, diagnosis in enumerate(_diagnoses(config)):
        key = (1, i)
        rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=key))
        ad = diagnosis == "AD"
        age = float(np.clip(rng.normal(75.0 if ad else 73.0, 6.5), 55, 92))
        sex = str(rng.choice(["F", "M"]))
        subject_factor = float(np.clip(rng.normal(1.0, 0.25), 0.4, 1.6))
        scale_iso = float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1))
        scale = tuple(float(scale_iso * s) for s in np.clip(rng.normal(1.0, 0.02, 3), 0.95, 1.05))
        protocol = protocols[int(rng.integers(len(protocols)))]
        for s in range(config.sessions):
            srng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(2, i, s)))
            loss = config.severity * subject_factor * (1 + PROGRESSION_PER_SESSION * s)
            specs.append(
                ScanSpec(
                    subject=f"{i + 1:0{width}d}",
                    session=f"{s + 1}" if config.sessions > 1 else None,
                    diagnosis=diagnosis,
                    age=round(age + s, 1),
                    sex=sex,
                    volume_loss=float(min(loss, MAX_LOSS)) if ad else 0.0,
                    protocol=protocol,
                    scale=scale,
                    angles_deg=_uniform(srng, 15.0),
                    shift_mm=_uniform(srng, 15.0),
                    fov_offset_mm=_uniform(srng, 5.0),
                    gamma=float(srng.uniform(0.85, 1.2)),
                    bias_strength=float(srng.uniform(0.05, 0.15)),
                    noise=float(srng.uniform(0.01, 0.03)),
                    gain=float(srng.uniform(600.0, 1000.0)),
                    anatomy_seed=(config.seed, 3, i),
                    scan_seed=(config.seed, 4, i, s),
                    head=config.head,
                )
            )
    return specs
