"""Run settings: one frozen dataclass, built by the CLI, saved as TOML under ``<out>/logs/``.

Nothing happens at import time; settings travel as arguments (STYLE.md rule 2).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib

from bids_lrp.methods import PREDICTED, parse_method_spec
from bids_lrp.safewrite import atomic_write_text

__all__ = ["PREDICTED", "Settings", "dumps_toml", "load_settings"]

DEFAULT_METHODS = ("boehle2019", "guided-backprop")
DEFAULT_ATLASES = ("Neuromorphometrics",)
DEFAULT_TEMPLATE = "MNI152NLin2009cAsym"
DEFAULT_LABEL_COLUMN = "diagnosis"
DEFAULT_AD_LABELS = ("AD",)
DEFAULT_HC_LABELS = ("HC", "CN")
DEFAULT_CONFIDENCE = 0.9
#: Area groupings of the group tables (`bids_lrp.group.areas`).
AREA_GROUPINGS = ("hemispheres", "boehle2019", "none")
#: Areas whose estimated volume is correlated with their relevance, as Böhle et al. (2019).
DEFAULT_VOLUME_AREAS = ("Hippocampus",)
DEFAULT_PERMUTATIONS = 1000
#: Atlas areas removed per order to measure each map's faithfulness (0: not measured).
DEFAULT_FAITHFULNESS_STEPS = 20
#: What ``--randomization-check`` randomizes: the dense layers, or also the cascade down.
RANDOMIZATION_LAYERS = ("dense", "cascade")
#: Böhle et al. (2019) explained the AD class with LRP for every scan (controls too) and each
#: scan's predicted class with guided backpropagation, their comparison method.
DEFAULT_TARGET_CLASS = "AD"
DEFAULT_GUIDED_BACKPROP_TARGET = PREDICTED
#: How worker processes start (nipype MultiProc, the group report's drawing pool): from a fork
#: server, not as forks of this process. The main process has used torch (checking the model),
#: and a forked child that runs torch with more than one thread can deadlock on the inherited
#: OpenMP state (it did: --omp-nthreads 2, full-size model).
MP_CONTEXT = "forkserver"
#: nipype plugins that submit every step to a batch system -> the command they need here.
CLUSTER_PLUGINS: dict[str, str] = {
    "SLURM": "sbatch",
    "SLURMGraph": "sbatch",
    "SGE": "qsub",
    "SGEGraph": "qsub",
    "PBS": "qsub",
    "PBSGraph": "qsub",
    "LSF": "bsub",
    "OAR": "oarsub",
    "Condor": "condor_qsub",
    "CondorDAGMan": "condor_submit_dag",
}


@dataclass(frozen=True)
class Settings:
    """Everything one run of ``bids_lrp`` needs.

    Paths are absolute. ``registration=None`` means "what the model card says".
    ``label_column=None`` (group level) means ``"diagnosis"`` when ``participants.tsv`` has
    that column, no labels otherwise; a named column must exist.
    """

    bids_dir: Path
    output_dir: Path
    analysis_level: str
    work_dir: Path
    model: Path
    participant_label: tuple[str, ...] = ()
    session_label: tuple[str, ...] = ()
    bids_filters: Mapping[str, Any] = field(default_factory=dict)
    skip_bids_validation: bool = False
    nprocs: int = 1
    omp_nthreads: int = 1
    mem_gb: float | None = None
    plugin: str = "MultiProc"
    plugin_args: Mapping[str, Any] = field(default_factory=dict)
    device: str = "auto"
    methods: tuple[str, ...] = DEFAULT_METHODS
    target_class: str = DEFAULT_TARGET_CLASS
    guided_backprop_target: str = DEFAULT_GUIDED_BACKPROP_TARGET
    atlases: tuple[str, ...] = DEFAULT_ATLASES
    template: str = DEFAULT_TEMPLATE
    registration: str | None = None
    native_space: bool = True
    faithfulness_steps: int = DEFAULT_FAITHFULNESS_STEPS
    randomization_check: bool = False
    randomization_layers: str = "dense"
    derivatives: Mapping[str, str] = field(default_factory=dict)
    stop_on_first_crash: bool = False
    notrack: bool = False
    verbosity: int = 0
    run_uuid: str = ""
    label_column: str | None = None
    ad_labels: tuple[str, ...] = DEFAULT_AD_LABELS
    hc_labels: tuple[str, ...] = DEFAULT_HC_LABELS
    merge_hemispheres: bool = True
    confidence: float = DEFAULT_CONFIDENCE
    area_grouping: str = "hemispheres"
    fingerprint_areas: str = "top25"
    estimate_volumes: bool = False
    volume_columns: Mapping[str, str] = field(default_factory=dict)
    volumes_file: Path | None = None
    volume_areas: tuple[str, ...] = DEFAULT_VOLUME_AREAS
    permutations: int = DEFAULT_PERMUTATIONS

    @property
    def method_targets(self) -> dict[str, str]:
        """Methods that explain another class than ``target_class``: method spec -> class.

        A method whose catalog default target is "predicted" (guided-backprop) explains
        ``guided_backprop_target``.
        """
        return {
            m: self.guided_backprop_target
            for m in self.methods
            if parse_method_spec(m).info.default_target == PREDICTED
        }

    def target_of(self, method: str) -> str:
        """The class ``method`` explains (a class name, or `PREDICTED`)."""
        return self.method_targets.get(method, self.target_class)

    @staticmethod
    def new_run_uuid() -> str:
        """An fMRIPrep-like run id: ``<UTC date>_<time>_<uuid4>``."""
        now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        return f"{now}_{uuid.uuid4()}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (strings, numbers, lists, tables); ``None`` values are left out."""
        data = {}
        for key, value in asdict(self).items():
            if value is None:
                continue
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = json.loads(json.dumps(value))
            data[key] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Settings:
        """Inverse of `to_dict`; unknown keys raise ValueError."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)}")
        values = {}
        for key, value in data.items():
            if key in {"bids_dir", "output_dir", "work_dir", "model", "volumes_file"}:
                value = Path(value)
            elif isinstance(value, list):
                value = tuple(value)
            values[key] = value
        return cls(**values)

    def to_toml(self) -> str:
        """Serialize as TOML (read back with `load_settings`)."""
        return dumps_toml({"bids_lrp": self.to_dict()})

    def save(self, output_dir: Path | None = None) -> Path:
        """Write ``<out>/logs/config-<run_uuid>.toml`` atomically and return its path."""
        folder = Path(output_dir or self.output_dir) / "logs"
        return atomic_write_text(folder / f"config-{self.run_uuid or 'run'}.toml", self.to_toml())


def load_settings(path: str | Path) -> Settings:
    """Read settings written by `Settings.save`."""
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    return Settings.from_dict(data["bids_lrp"])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value!r}")
        return repr(value)
    if isinstance(value, str):
        # JSON string escapes are valid TOML basic-string escapes for these characters.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dumps_toml(data: Mapping[str, Mapping[str, Any]]) -> str:
    """Write a two-level mapping (tables of scalars, arrays and inline tables) as TOML."""
    lines = []
    for table, values in data.items():
        lines.append(f"[{table}]")
        for key, value in values.items():
            if value is None:
                continue
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)
