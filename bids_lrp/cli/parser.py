"""Argument parser of the ``bids_lrp`` BIDS App (BIDS-Apps conventions, fMRIPrep habits).

Choices come from the registries (methods, templates, atlases); nothing is loaded here beyond
those registries.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bids_lrp import __version__
from bids_lrp.config import (
    AREA_GROUPINGS,
    DEFAULT_FAITHFULNESS_STEPS,
    DEFAULT_GUIDED_BACKPROP_TARGET,
    DEFAULT_PERMUTATIONS,
    DEFAULT_TARGET_CLASS,
    DEFAULT_VOLUME_AREAS,
    PREDICTED,
    RANDOMIZATION_LAYERS,
)
from bids_lrp.exitcodes import EX_USAGE
from bids_lrp.methods import CATALOG, PRESETS, parse_method_spec
from bids_lrp.templates import ATLASES, TEMPLATES


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" to an option's help only where it says something: not for options
    without a value (None, False, 0 of a counter) and not where the help names its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        if isinstance(action, argparse._CountAction):
            return text
        return super()._get_help_string(action)


class CommandParser(argparse.ArgumentParser):
    """The parser of all three commands: a usage error is one line on stderr and exit code 64."""

    def error(self, message: str) -> None:
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")


def number_type(convert, accept, requirement: str):
    """An argparse ``type``: ``convert`` the text, then refuse it unless ``accept(value)``."""
    noun = "an integer" if convert is int else "a number"

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{text!r} {requirement}")
        return value

    return parse


positive_int = number_type(int, lambda v: v >= 1, "must be at least 1")
_positive_float = number_type(float, lambda v: 0 < v < float("inf"), "must be a positive number")
_probability = number_type(float, lambda v: 0 <= v <= 1, "must lie between 0 and 1")
_non_negative_int = number_type(int, lambda v: v >= 0, "must not be negative")


def _derivatives_pair(text: str) -> tuple[str, str]:
    """A ``--derivatives`` item: ``NAME=PATH``, or ``PATH`` (named after its folder)."""
    name, sep, path = text.partition("=")
    if not sep:
        name, path = Path(text).name, text
    if not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME=PATH (e.g. smriprep=/data/smriprep)"
        )
    return name.strip(), path.strip()


def method_spec(text: str) -> str:
    """A ``--methods`` item: the canonical spec (``boehle2019:beta=0`` -> ``boehle2019``)."""
    try:
        return parse_method_spec(text).text
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: {err}") from None


def _volume_column(text: str) -> tuple[str, str]:
    """A ``--volumes`` item: ``AREA=COLUMN``."""
    area, sep, column = text.partition("=")
    if not sep or not area.strip() or not column.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not AREA=COLUMN (e.g. Hippocampus=hv)")
    return area.strip(), column.strip()


def default_model() -> Path:
    """The demo model shipped with the package (``bids_lrp/data/models``; see ``make model``)."""
    return Path(__file__).resolve().parents[1] / "data" / "models" / "boehle2019.safetensors"


def build_parser() -> argparse.ArgumentParser:
    """Return the parser for ``bids_lrp bids_dir output_dir {participant,group}``."""

    parser = CommandParser(
        prog="bids_lrp",
        description=(
            "Explain deep-learning Alzheimer's disease classification of T1w MRI with "
            "layer-wise relevance propagation (Böhle et al. 2019)."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("bids_dir", type=Path, help="the root of the input BIDS dataset")
    parser.add_argument("output_dir", type=Path, help="where the derivatives are written")
    parser.add_argument(
        "analysis_level",
        choices=["participant", "group"],
        help="participant: per-image heatmaps and tables; group: the group analyses",
    )
    parser.add_argument("--version", action="version", version=f"bids_lrp {__version__}")
    parser.add_argument(
        "-v", "--verbose", dest="verbosity", action="count", default=0, help="more messages"
    )

    sel = parser.add_argument_group("Selecting the input")
    sel.add_argument(
        "--participant-label",
        "--participant_label",
        dest="participant_label",
        nargs="+",
        metavar="LABEL",
        help="participants to process (with or without 'sub-'); default: all",
    )
    sel.add_argument(
        "--session-label",
        "--session_label",
        dest="session_label",
        nargs="+",
        metavar="LABEL",
        help="sessions to process (with or without 'ses-'); default: all",
    )
    sel.add_argument(
        "--bids-filter-file",
        "--bids_filter_file",
        dest="bids_filter_file",
        type=Path,
        metavar="FILE",
        help='JSON of pybids queries for the T1w images, e.g. {"t1w": {"acquisition": "mprage"}}',
    )
    sel.add_argument(
        "--derivatives",
        nargs="+",
        type=_derivatives_pair,
        metavar="[NAME=]PATH",
        help="derivatives of sMRIPrep or fMRIPrep (20.2 or later), or a Clinica CAPS folder "
        "(t1-linear, with --template MNI152NLin2009cSym), whose T1w-to-template transforms "
        "are used instead of registering again, where they exist for an image",
    )
    sel.add_argument(
        "--skip-bids-validation",
        "--skip_bids_validation",
        dest="skip_bids_validation",
        action="store_true",
        help="do not validate the input with bids-validator-deno",
    )

    perf = parser.add_argument_group("Performance and execution")
    perf.add_argument(
        "-w",
        "--work-dir",
        dest="work_dir",
        type=Path,
        help="nipype work folder (rerun with the same one to resume); default: ./work",
    )
    perf.add_argument(
        "--nprocs",
        "--n-cpus",
        "--n_cpus",
        dest="nprocs",
        type=positive_int,
        help="processes run at once (default: all CPUs)",
    )
    perf.add_argument(
        "--omp-nthreads",
        dest="omp_nthreads",
        type=positive_int,
        help="threads per process (default: min(8, nprocs))",
    )
    perf.add_argument(
        "--mem-gb",
        "--mem_gb",
        dest="mem_gb",
        type=_positive_float,
        help="memory limit for the scheduler, in GB",
    )
    perf.add_argument(
        "--use-plugin",
        "--use_plugin",
        dest="use_plugin",
        type=Path,
        metavar="FILE",
        help="nipype plugin YAML (plugin: MultiProc|Linear|SLURM|..., plugin_args: {...})",
    )
    perf.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto", help="where the network runs"
    )
    perf.add_argument(
        "--stop-on-first-crash",
        action="store_true",
        help="stop at the first failing step instead of finishing the others",
    )
    perf.add_argument(
        "--notrack",
        action="store_true",
        help="accepted for fMRIPrep compatibility; bids_lrp never uses the network",
    )

    mod = parser.add_argument_group("Model and explanations")
    mod.add_argument(
        "--model",
        type=Path,
        default=None,
        help=f"model weights (.safetensors with its .json card); "
        f"default: {default_model().name} shipped with the package",
    )
    listing = "; ".join(
        f"{name} ({', '.join(f'{k}={v}' for k, v in info.defaults.items())})"
        for name, info in CATALOG.items()
    )
    mod.add_argument(
        "--methods",
        nargs="+",
        type=method_spec,
        default=None,
        metavar="METHOD[:PARAM=VALUE,...]",
        help="explanation methods, each with optional parameters, e.g. boehle2019:beta=0.5 "
        "guided-backprop:start=probability; each spec gets its own output label (desc-LRPb0p5). "
        f"Methods and their defaults: {listing}. Default: boehle2019 guided-backprop",
    )
    mod.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="boehle2019: the settings of Böhle et al. 2019 in one option: LRP with beta 0, "
        "0.25, 0.5, 0.75 and 1, guided backpropagation of the softmax probability, and (group "
        "level) their 68 Neuromorphometrics areas; --methods and --area-grouping override it",
    )
    mod.add_argument(
        "--estimate-volumes",
        action="store_true",
        help="estimate each atlas area's volume on the participant's own scan (the Jacobian "
        "of a SyN registration integrated per area, column native_volume_mm3 of the region "
        "tables). Done anyway with --registration syn; with affine registration it adds a SyN "
        "registration per image (about 80 s at 1 mm on 2 cores)",
    )
    mod.add_argument(
        "--target-class",
        default=DEFAULT_TARGET_CLASS,
        help="the class whose score every method but guided-backprop explains: a class name "
        f"of the model card, or '{PREDICTED}' (each image's predicted class); "
        "Böhle et al. 2019 explained AD for every scan",
    )
    mod.add_argument(
        "--guided-backprop-target",
        default=DEFAULT_GUIDED_BACKPROP_TARGET,
        help=f"the class guided-backprop explains: a class name or '{PREDICTED}' (default; "
        "Böhle et al. 2019 explained each scan's predicted class with it)",
    )
    mod.add_argument(
        "--atlas",
        nargs="+",
        choices=sorted(ATLASES),
        default=["Neuromorphometrics"],
        help="atlases for the region tables",
    )
    mod.add_argument(
        "--template",
        choices=sorted(TEMPLATES),
        default="MNI152NLin2009cAsym",
        help="template space (must be the model card's)",
    )
    mod.add_argument(
        "--registration",
        choices=["syn", "affine"],
        default=None,
        help="registration to the template; default: the model card's",
    )
    mod.add_argument(
        "--native-space",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also map relevance onto each participant's own T1w grid",
    )
    mod.add_argument(
        "--faithfulness-steps",
        type=_non_negative_int,
        default=DEFAULT_FAITHFULNESS_STEPS,
        metavar="N",
        help="measure how faithful each map is: remove its N most relevant areas of the first "
        "--atlas one by one (and, as controls, the least relevant and random ones), recording "
        "the score after each (0: do not measure)",
    )
    mod.add_argument(
        "--randomization-check",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also explain every image with the network's dense layers randomized and record "
        "how much each map changes (Spearman; Adebayo et al. 2018): a map that barely changes "
        "does not show what the network learned (one more explanation per map)",
    )
    mod.add_argument(
        "--randomization-layers",
        choices=RANDOMIZATION_LAYERS,
        default="dense",
        help="what --randomization-check randomizes: the dense layers (default), or also, in a "
        "cascade from the top down, one more weight layer at each step until the first "
        "convolution (one more explanation per weight layer and map; implies "
        "--randomization-check)",
    )

    grp = parser.add_argument_group("Group level")
    grp.add_argument(
        "--label-column",
        "--label_column",
        dest="label_column",
        default=argparse.SUPPRESS,  # absent unless given: the default column is optional
        metavar="COLUMN",
        help="column of the input's participants.tsv holding the diagnosis (default: "
        "'diagnosis' when present; without labels the group level still aggregates)",
    )
    grp.add_argument(
        "--ad-labels",
        nargs="+",
        default=["AD"],
        metavar="VALUE",
        help="values of the label column that mean Alzheimer's disease",
    )
    grp.add_argument(
        "--hc-labels",
        nargs="+",
        default=["HC", "CN"],
        metavar="VALUE",
        help="values of the label column that mean healthy control",
    )
    grp.add_argument(
        "--merge-hemispheres",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="--no-merge-hemispheres is --area-grouping none",
    )
    grp.add_argument(
        "--area-grouping",
        choices=list(AREA_GROUPINGS),
        default=None,
        help="areas of the group tables: hemispheres (left and right merged: 72 "
        "Neuromorphometrics areas), boehle2019 (also cerebellum, lateral ventricles and vermis "
        "merged: the 68 areas of Böhle et al. 2019) or none (every atlas label); "
        "default: hemispheres",
    )
    grp.add_argument(
        "--fingerprint-areas",
        choices=["top25", "all"],
        default="top25",
        help="areas of the relevance fingerprints: top25 (the 25 areas of highest AD relevance "
        "density, as Böhle et al. 2019) or all",
    )
    grp.add_argument(
        "--volumes",
        nargs="+",
        type=_volume_column,
        default=None,
        metavar="AREA=COLUMN",
        help="external area volumes (mm3) to correlate with the area relevance, e.g. "
        "Hippocampus=hippocampus_mm3: a column of --volumes-file (FreeSurfer, ADNIMERGE)",
    )
    grp.add_argument(
        "--volumes-file",
        type=Path,
        default=None,
        metavar="TSV",
        help="TSV with participant_id (and optionally session_id) and the --volumes columns; "
        "default: the input's participants.tsv",
    )
    grp.add_argument(
        "--volume-areas",
        nargs="+",
        default=None,
        metavar="AREA",
        help="areas whose estimated native volume (participant level's native_volume_mm3) is "
        f"correlated with their relevance; default: {' '.join(DEFAULT_VOLUME_AREAS)}",
    )
    grp.add_argument(
        "--permutations",
        type=positive_int,
        default=DEFAULT_PERMUTATIONS,
        help="permutations of the volume-relevance permutation test",
    )
    grp.add_argument(
        "--confidence",
        type=_probability,
        default=0.9,
        help="probability of AD from which a patient counts as confidently classified "
        "(fingerprints)",
    )
    return parser
