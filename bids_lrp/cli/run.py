"""``bids_lrp`` entry point: parse -> settings -> run -> exit code.

Exit codes (BIDS-Apps execution spec): 0 done; 1 some image failed; 16 input not valid BIDS;
18 the selection is empty; 64 usage error; 66 no T1w for a selected participant (group level:
no participant outputs to read); 73 the output folder cannot be created or written; 130 Ctrl-C
(SIGINT), 143 SIGTERM (rerun with the same work folder to resume). Mistakes of
the user give one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from bids_lrp.cli.parser import build_parser, default_model
from bids_lrp.config import (
    CLUSTER_PLUGINS,
    DEFAULT_METHODS,
    DEFAULT_VOLUME_AREAS,
    MP_CONTEXT,
    Settings,
)
from bids_lrp.exitcodes import EX_FAILED, EX_INTERRUPTED, EX_USAGE, CommandError, stopped_by
from bids_lrp.inputs import InputError, check_labels, load_filters
from bids_lrp.methods import PRESETS, method_label
from bids_lrp.normalize.reuse import read_derivatives
from bids_lrp.process.logs import setup_logging
from bids_lrp.process.signals import Terminated, terminate_on_sigterm


def _setup_environment(work_dir: Path | None = None) -> None:
    """No network, no version checks, a writable matplotlib cache (runtime, not import time)."""
    os.environ.setdefault("NIPYPE_NO_ET", "1")
    if "MPLCONFIGDIR" not in os.environ:
        base = work_dir if work_dir is not None else Path.home() / ".cache"
        os.environ["MPLCONFIGDIR"] = str(base / "matplotlib")
    # nipype's SLURM/SGE plugins name their jobs after $LOGNAME (a KeyError when it is unset,
    # as in many containers and CI jobs)
    if "LOGNAME" not in os.environ:
        try:
            os.environ["LOGNAME"] = getpass.getuser()
        except (KeyError, OSError):  # a uid without a passwd entry
            os.environ["LOGNAME"] = "bids_lrp"


#: nipype plugins that run the steps in this machine's processes.
LOCAL_PLUGINS = ("Linear", "MultiProc", "LegacyMultiProc")


def _positive(value) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and 0 < value < float("inf")
    )


def _check_plugin(name: str, plugin_args: dict, path: Path) -> None:
    """Refuse (64) a plugin nipype lacks, bad resource limits, or a missing submit command."""
    from nipype.pipeline import plugins  # nipype takes a second to import; --help skips it

    known = sorted(n.removesuffix("Plugin") for n in dir(plugins) if n.endswith("Plugin"))
    usable = [n for n in known if n in LOCAL_PLUGINS or n in CLUSTER_PLUGINS]
    if name not in usable:
        raise InputError(
            f"the plugin file {path} names plugin {name!r}; bids_lrp runs with one of "
            f"{', '.join(usable)}"
        )
    for key in ("n_procs", "memory_gb", "n_gpu_procs", "max_jobs"):
        if key not in plugin_args:
            continue
        value = plugin_args[key]
        whole = key != "memory_gb"
        if not _positive(value) or (whole and not isinstance(value, int)):
            what = "a positive integer" if whole else "a positive number"
            raise InputError(f"'{key}' in {path} must be {what}, not {value!r}")
    command = CLUSTER_PLUGINS.get(name)
    if command and shutil.which(command) is None:
        raise InputError(
            f"the {name} plugin of {path} submits jobs with {command}, which is not on PATH "
            "here (run bids_lrp where jobs can be submitted)"
        )
    if command == "sbatch":
        _check_slurm_reachable(name, path)


def _check_slurm_reachable(name: str, path: Path) -> None:
    """``squeue`` must answer: the plugin polls it, and submits nothing when sbatch fails."""
    user = os.environ.get("LOGNAME") or getpass.getuser()
    try:
        proc = subprocess.run(
            ["squeue", "-h", "-o", "%i", "-u", user],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:  # a slow controller: let the run find out
        return
    except OSError as err:
        raise InputError(f"the {name} plugin of {path} needs squeue: {err.strerror}") from None
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
        raise InputError(f"the {name} plugin of {path} cannot reach SLURM here ({lines[-1]})")


def _load_plugin(path: Path | None, nprocs: int, mem_gb: float | None) -> tuple[str, dict]:
    """Plugin name and arguments: a nipype plugin YAML file, else MultiProc (Linear for 1)."""
    if path is None:
        if nprocs == 1:
            return "Linear", {}
        args: dict = {"n_procs": nprocs, "raise_insufficient": False, "mp_context": MP_CONTEXT}
        if mem_gb:
            args["memory_gb"] = mem_gb
        return "MultiProc", args
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"cannot read the plugin file {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise InputError(f"the plugin file {path} is not valid YAML: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("plugin"), str):
        raise InputError(f"the plugin file {path} must set 'plugin: <name>' (e.g. MultiProc)")
    plugin_args = data.get("plugin_args") or {}
    if not isinstance(plugin_args, dict):
        raise InputError(f"'plugin_args' in {path} must be a mapping")
    _check_plugin(data["plugin"], plugin_args, path)
    if data["plugin"] == "MultiProc":
        plugin_args.setdefault("n_procs", nprocs)
        plugin_args.setdefault("mp_context", MP_CONTEXT)
        if mem_gb:
            plugin_args.setdefault("memory_gb", mem_gb)
    return data["plugin"], plugin_args


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Check the parsed arguments and turn them into `Settings` (raises `InputError`)."""
    bids_dir = args.bids_dir.expanduser().resolve()
    output_dir = args.output_dir.expanduser().resolve()
    work_dir = (args.work_dir or Path.cwd() / "work").expanduser().resolve()
    nprocs = args.nprocs or len(os.sched_getaffinity(0))
    omp = args.omp_nthreads or min(8, nprocs)
    if args.omp_nthreads and args.nprocs and omp > nprocs:
        raise InputError(f"--omp-nthreads ({omp}) cannot exceed --nprocs ({nprocs})")
    plugin, plugin_args = _load_plugin(args.use_plugin, nprocs, args.mem_gb)
    model = (args.model or default_model()).expanduser().resolve()
    # Only the participant level runs the network; the group level reads its outputs.
    if args.analysis_level == "participant" and not model.is_file():
        hint = "" if args.model else " (the shipped demo model is missing: pass --model)"
        raise InputError(f"model weights not found: {model}{hint}")
    ad_labels = tuple(dict.fromkeys(args.ad_labels))
    hc_labels = tuple(dict.fromkeys(args.hc_labels))
    both = sorted(set(ad_labels) & set(hc_labels))
    if both:
        raise InputError(
            f"label value(s) {', '.join(both)} given in both --ad-labels and --hc-labels"
        )
    preset = PRESETS.get(args.preset or "", {})
    grouping = _area_grouping(args, preset)
    return Settings(
        bids_dir=bids_dir,
        output_dir=output_dir,
        analysis_level=args.analysis_level,
        work_dir=work_dir,
        model=model,
        participant_label=check_labels(args.participant_label, "sub"),
        session_label=check_labels(args.session_label, "ses"),
        bids_filters=load_filters(args.bids_filter_file),
        skip_bids_validation=args.skip_bids_validation,
        nprocs=nprocs,
        omp_nthreads=omp,
        mem_gb=args.mem_gb,
        plugin=plugin,
        plugin_args=plugin_args,
        device=args.device,
        methods=_methods(args, preset),
        target_class=args.target_class,
        guided_backprop_target=args.guided_backprop_target,
        atlases=tuple(dict.fromkeys(args.atlas)),
        template=args.template,
        registration=args.registration,
        native_space=args.native_space,
        faithfulness_steps=args.faithfulness_steps,
        randomization_check=args.randomization_check or args.randomization_layers == "cascade",
        randomization_layers=args.randomization_layers,
        derivatives=_derivatives(args.derivatives),
        stop_on_first_crash=args.stop_on_first_crash,
        notrack=args.notrack,
        verbosity=args.verbosity,
        run_uuid=Settings.new_run_uuid(),
        label_column=getattr(args, "label_column", None),
        ad_labels=ad_labels,
        hc_labels=hc_labels,
        merge_hemispheres=grouping != "none",
        confidence=args.confidence,
        area_grouping=grouping,
        fingerprint_areas=args.fingerprint_areas,
        estimate_volumes=args.estimate_volumes,
        volume_columns=_volume_columns(args.volumes),
        volumes_file=None if args.volumes_file is None else args.volumes_file.resolve(),
        volume_areas=tuple(dict.fromkeys(args.volume_areas or DEFAULT_VOLUME_AREAS)),
        permutations=args.permutations,
    )


def _derivatives(pairs) -> dict[str, str]:
    """``--derivatives`` as name -> absolute folder; a name given twice is a usage error."""
    out: dict[str, str] = {}
    for name, path in pairs or ():
        if name in out:
            raise InputError(f"--derivatives: the name {name!r} is given twice", EX_USAGE)
        out[name] = str(Path(path).expanduser().resolve())
    read_derivatives(out)  # each must be a derivatives dataset: one line now, not mid-run
    return out


def _methods(args: argparse.Namespace, preset: dict) -> tuple[str, ...]:
    """The method specs: --methods, else the preset's, else the defaults; one per label."""
    specs = args.methods or preset.get("methods") or DEFAULT_METHODS
    by_label: dict[str, str] = {}
    for spec in specs:
        by_label.setdefault(method_label(spec), spec)
    return tuple(by_label.values())


def _area_grouping(args: argparse.Namespace, preset: dict) -> str:
    """--area-grouping, else --no-merge-hemispheres (none), else the preset's, else hemispheres."""
    if args.area_grouping is not None:
        if args.merge_hemispheres is False and args.area_grouping != "none":
            raise InputError(
                f"--no-merge-hemispheres contradicts --area-grouping {args.area_grouping}"
            )
        return args.area_grouping
    if args.merge_hemispheres is False:
        return "none"
    return preset.get("area_grouping", "hemispheres")


def _volume_columns(pairs) -> dict[str, str]:
    columns: dict[str, str] = {}
    for area, column in pairs or ():
        if area in columns and columns[area] != column:
            raise InputError(f"--volumes names area {area} twice ({columns[area]}, {column})")
        columns[area] = column
    return columns


def main(argv: list[str] | None = None) -> int:
    """Run the BIDS App and return its exit code."""
    _setup_environment()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version (0) and usage errors (64)
        return int(exit_.code or 0)
    setup_logging("bids_lrp", logging.DEBUG if args.verbosity > 1 else logging.INFO)
    try:
        with terminate_on_sigterm():
            settings = settings_from_args(args)
            # Each level imports only its own stack (torch, ANTs, nipype take seconds): --help,
            # usage errors and the group level stay fast.
            if settings.analysis_level == "group":
                from bids_lrp.group.run import run_group_level
                from bids_lrp.reports.background import GroupReport

                return run_group_level(settings, report=GroupReport)
            from bids_lrp.workflows.execution import run_participant_level

            return run_participant_level(settings)
    except CommandError as err:  # InputError, WriteError: one line, their exit code
        sys.stderr.write(f"bids_lrp: error: {err}\n")
        return err.code
    except Terminated as err:  # workers and their children are stopped already
        sys.stderr.write(
            f"bids_lrp: terminated ({err}); rerun with the same work folder to resume\n"
        )
        return stopped_by(err)
    except KeyboardInterrupt:  # Ctrl-C; workers and their children are stopped already
        sys.stderr.write("bids_lrp: interrupted; rerun with the same work folder to resume\n")
        return EX_INTERRUPTED
    except OSError as err:
        sys.stderr.write(f"bids_lrp: error: {err}\n")
        return EX_FAILED


__all__ = ["EX_FAILED", "EX_INTERRUPTED", "EX_USAGE", "main", "settings_from_args"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
