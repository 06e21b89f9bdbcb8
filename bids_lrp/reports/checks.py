"""What the participant report checks and says: thresholds, notices, captions, model card.

Pure functions of the sidecar contents (dicts in, `Notice` lists and HTML out), so every
threshold is in one place and testable without images.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bids_lrp import __version__
from bids_lrp.group.tables import NEAR_ZERO_DENSITY
from bids_lrp.normalize.quality import FLOOR
from bids_lrp.reports.html import Notice, alert, definition_list, esc

__all__ = [
    "CONSERVATION_MAX",
    "GRID_SUM_TOLERANCE",
    "UNCERTAIN_MARGIN",
    "conservation_row",
    "model_notices",
    "near_zero_denominators",
    "not_for_clinical_use",
    "number",
    "prediction_notices",
    "registration_notices",
]

LOGGER = logging.getLogger("bids_lrp")

#: Fraction of the start relevance that may be absorbed (biases, stabilizers) before an LRP map
#: is flagged: region sums then no longer add up to the explained score.
CONSERVATION_MAX = 0.10
#: ... and only when that much is also worth noticing: for a scan whose explained score is ~0
#: (e.g. p(AD) = 1e-5 for a healthy control) nearly all of it may vanish (no positive evidence).
CONSERVATION_MIN_LOST = 1e-3
#: A map whose total is at most this fraction of its start relevance is reported as empty (all
#: of it absorbed: e.g. a control on which no AD-voting unit is active, under alpha1-beta0).
EMPTY_MAP = 1e-4
#: Relative change of the relevance total allowed from the network grid to the template grid and
#: from there to the native grid (both resamplings are meant to preserve it).
GRID_SUM_TOLERANCE = 0.05
#: A top-class probability within this margin of a tie with the runner-up is "near chance".
UNCERTAIN_MARGIN = 0.10

REGION_COLUMNS = (
    "name",
    "relevance_sum",
    "relevance_density",
    "relevance_fraction",
    "relevance_positive",
    "relevance_negative",
    "n_voxels",
)
_MODEL_ORDER = (
    "Name",
    "Architecture",
    "TrainingData",
    "IntendedUse",
    "ClassNames",
    "InputShape",
    "VoxelSize",
    "IntensityScaling",
    "TrainingRegistration",
    "SHA256",
)
_NOT_CLINICAL = re.compile(
    r"\b(synthetic|simulat\w*|random|tests?|testing|demo\w*|toy|none|research|not for clinical)\b",
    re.IGNORECASE,
)

OVERLAY_CAPTION = (
    "Relevance on the normalized scan (template space). Red to yellow: evidence for the explained "
    "class; blue to cyan: evidence against it. Colours saturate at the 99.5th percentile of |r|; "
    "the weakest 80 % of non-zero voxels (and anything under 10 % of that limit) are not drawn."
)
GLASS_CAPTION = (
    "Glass brain: maximum-intensity projections of the same map (pooled to 2 mm; weakest 95 % "
    "of voxels hidden), showing where relevance lies in the whole brain."
)
NATIVE_CAPTION = (
    "The same relevance mapped back onto the participant's own T1w (inverse of the registration; "
    "the relevance total is preserved). Colours as above, scaled on this map."
)
CONSERVATION_CAPTION = (
    "LRP conserves relevance: the input relevance should add up to the start relevance (the "
    "explained class's probability for boehle2019). 'absorbed' = start relevance - sum: the "
    "part taken by biases and stabilizers on the way to the input (gradient methods conserve "
    "nothing, so it is n/a for them). 'outside brain' is the share of |relevance| the method "
    "put outside the template brain mask. With the paper's scaling the network's input is "
    "always 0 there: it says nothing about the participant and was removed from the maps and "
    "from every number made from them (the sums here are after its removal). A model that sees "
    "the whole head (ClinicaDL's scaling) keeps it, marked 'kept': relevance on the skull and "
    "face."
)
FOOTER = (
    "Research software: not a medical device, not for clinical use. Method after Böhle, Eitel, "
    "Weygandt &amp; Ritter (2019), Front. Aging Neurosci. 11:194, doi:10.3389/fnagi.2019.00194."
)


def number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def prediction_notices(probabilities: Mapping[str, float]) -> list[Notice]:
    """Flag a missing or near-chance prediction."""
    values = sorted((v for v in probabilities.values() if number(v) is not None), reverse=True)
    if not values:
        return [Notice("error", "no class probabilities in the predictions file", code="missing")]
    best = max(probabilities, key=lambda k: probabilities[k])
    runner_up = values[1] if len(values) > 1 else 0.0
    if values[0] - runner_up < 2 * UNCERTAIN_MARGIN:
        return [
            Notice(
                "warning",
                f"uncertain prediction: p({best}) = {values[0]:.3f}, within "
                f"{UNCERTAIN_MARGIN} of a tie; the explanation shows a weak decision",
                code="uncertain",
            )
        ]
    return []


def registration_notices(quality: Mapping[str, Any]) -> list[Notice]:
    """Flag a registration that failed `bids_lrp.normalize.quality.check_registration`.

    Outputs without the check's verdict (``Passed``) are judged by their correlation alone,
    against the check's floor.
    """
    value = number(quality.get("Value"))
    if value is None:
        return [
            Notice(
                "warning",
                "registration quality not recorded or not a number; check the registration figure",
                code="registration",
            )
        ]
    passed = quality.get("Passed")
    if passed is False or (passed is None and value < FLOOR):
        verdict = quality.get("Verdict") or (
            f"failed: the scan correlates {value:.3f} with the template inside its brain mask "
            f"(at least {FLOOR} expected)"
        )
        return [
            Notice(
                "warning",
                f"registration check {verdict}; relevance maps and region tables may be "
                "misplaced (see the registration figure)",
                code="registration",
            )
        ]
    return []


def _relative_change(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return abs(a - b) / max(abs(a), 1e-30)


def conservation_row(
    desc: str, meta: Mapping[str, Any], native_sum: float | None
) -> tuple[dict[str, Any], list[Notice]]:
    """One conservation table row for a method's sidecar, and the notices it raises."""
    kind = meta.get("MethodKind", "n/a")
    error = number(meta.get("ConservationError"))
    total = number(meta.get("RelevanceSum"))
    start = number(meta.get("StartRelevance"))
    on_template = number(meta.get("RelevanceSumTemplateGrid"))
    notices, status = [], "ok"
    if kind != "relevance":
        status = "n/a (not an LRP method)"
    elif error is None:
        status = "not recorded"
        notices.append(
            Notice("warning", f"{desc}: conservation error not recorded", code="conservation")
        )
    elif error > CONSERVATION_MAX and error * abs(start or 0.0) < CONSERVATION_MIN_LOST:
        status = f"ok (lost {error:.0%} of a score near 0)"
    elif (
        error > CONSERVATION_MAX
        and None not in (total, start)
        and abs(total) <= EMPTY_MAP * abs(start)
    ):
        status = "empty map"
        target = meta.get("TargetClass", "the explained class")
        notices.append(
            Notice(
                "warning",
                f"{desc}: the map is empty: none of the explained score "
                f"({start:.3g}) reached the input; region sums "
                "are 0. Under alpha1-beta0 this happens when no unit of the network's last "
                f"layers gives positive evidence for {target} (e.g. a clear control)",
                code="conservation",
            )
        )
    elif error > CONSERVATION_MAX:
        status = "large"
        notices.append(
            Notice(
                "warning",
                f"{desc}: {error:.1%} of the start relevance is not in the map (more than "
                f"{CONSERVATION_MAX:.0%}); region sums understate the explained score",
                code="conservation",
            )
        )
    for name, (a, b) in {
        "template grid": (total, on_template),
        "native grid": (on_template if on_template is not None else total, native_sum),
    }.items():
        change = _relative_change(a, b)
        if change is not None and change > GRID_SUM_TOLERANCE:
            notices.append(
                Notice(
                    "warning",
                    f"{desc}: the relevance total changed by {change:.1%} on the {name}",
                    code="resampling",
                )
            )
    row = {
        "map": desc,
        "method": meta.get("Method", "n/a"),
        "kind": kind,
        "target": meta.get("TargetClass", "n/a"),
        "start relevance": start,
        "sum (network grid)": total,
        "sum (template grid)": on_template,
        "sum (native grid)": native_sum,
        "absorbed": number(meta.get("Absorbed")) if kind == "relevance" else None,
        "outside brain": _outside(meta),
        "conservation error": error,
        "check": status,
    }
    return row, notices


def near_zero_denominators(subject: str, areas: Sequence[str], den: str) -> str:
    """The warning for gains over a near-zero ``mean_<den>(S_a)`` (`unstable_denominator`)."""
    return (
        f"{subject} ({', '.join(areas)}) divide by a mean_{den}(S_a) near 0 (below its standard "
        f"error, or a density under {NEAR_ZERO_DENSITY:.0%} of a typical area's): their gain "
        "and rank are noise (column unstable_gain_* of the group statistics table)."
    )


def _outside(meta: Mapping[str, Any]) -> str | None:
    """The share outside the brain, with ``kept`` when the map still holds it."""
    share = _percent(meta.get("RelevanceOutsideBrain"))
    kept = meta.get("RelevanceOutsideBrainRemoved") is False
    return f"{share} kept" if share is not None and kept else share


def _percent(value: Any) -> str | None:
    share = number(value)
    return None if share is None else f"{share:.1%}"


def not_for_clinical_use(model: Mapping[str, Any]) -> bool:
    """Whether the report must say "not for clinical use" for this model.

    True unless the model card states an intended use that is neither research, testing nor
    a demonstration, with training data that is not synthetic, random or absent.
    """
    intended, training = model.get("IntendedUse"), model.get("TrainingData")
    if not intended or not training:
        return True
    text = f"{intended} {training} {model.get('Name', '')}"
    return bool(_NOT_CLINICAL.search(text))


def model_notices(model: Mapping[str, Any]) -> list[Notice]:
    """Notices about a model: card fields missing from the outputs, test/synthetic models."""
    name = model.get("Name", "the model")
    notices = []
    missing = [k for k in ("TrainingData", "IntendedUse") if not model.get(k)]
    if missing:
        notices.append(
            Notice(
                "warning",
                f"model {name}: {' and '.join(missing)} not recorded "
                "in the outputs; not for clinical use",
                code="model",
            )
        )
    text = f"{model.get('TrainingData', '')} {model.get('IntendedUse', '')} {name}"
    if re.search(r"\b(synthetic|simulat\w*|random|tests?|demo\w*|toy)\b", text, re.IGNORECASE):
        notices.append(
            Notice(
                "warning",
                f"model {name} was made for tests or demonstration "
                "or trained on synthetic data: its predictions and relevance "
                "maps say nothing about real patients; not for clinical use",
                code="not-clinical",
            )
        )
    return notices


def model_html(models: Mapping[str, Mapping[str, Any]]) -> str:
    """The model card summary: one block per distinct model seen in the outputs."""
    if not models:
        return alert("warning", "No model metadata was found in the outputs.")
    parts = []
    for model in models.values():
        template = model.get("_template") or {}
        items = [(k, model[k]) for k in _MODEL_ORDER if k in model]
        items += [
            (k, v) for k, v in sorted(model.items()) if k not in _MODEL_ORDER and k[0] != "_"
        ]
        for key in ("TrainingData", "IntendedUse"):
            if key not in model:
                items.append((key, "not recorded in the outputs"))
        items += [(f"Template {k}", v) for k, v in sorted(template.items())]
        badge = (
            '<p><span class="badge">Not for clinical use</span></p>'
            if not_for_clinical_use(model)
            else ""
        )
        parts.append(
            f'<div class="block"><h3>{esc(model.get("Name", "model"))}</h3>{badge}'
            f"{definition_list([(k, _text(v)) for k, v in items])}</div>"
        )
    return "".join(parts)


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return (
            " x ".join(map(str, value))
            if all(number(v) is not None for v in value)
            else (", ".join(map(str, value)))
        )
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def about_html(output_dir: Path, images: Sequence[Any]) -> str:
    """What produced the outputs, how to read the report, which files it was built from."""
    try:
        description = json.loads((output_dir / "dataset_description.json").read_text())
    except (OSError, ValueError):
        description = {}
    generated = (description.get("GeneratedBy") or [{}])[0] if description else {}
    facts = {
        "Outputs made by": f"{generated.get('Name', 'n/a')} {generated.get('Version', '')}",
        "Container": _text(generated.get("Container", "none recorded")),
        "Report made by": f"bids_lrp {__version__}",
    }
    files = []
    for image in images:
        paths = [
            image.prediction,
            image.network_input,
            *image.relevance.values(),
            *image.native.values(),
            *(p for a in image.regions.values() for p in a.values()),
        ]
        files += [p.relative_to(output_dir).as_posix() for p in paths if p is not None]
    listing = "".join(f"<li><code>{esc(f)}</code></li>" for f in files)
    return (
        "<p>Relevance maps explain the network's score for one class (the <em>target</em>): "
        "positive relevance marks voxels that raised it. They show what the network used, not "
        "where disease is. The method is layer-wise relevance propagation after Böhle et al. "
        "(2019), Front. Aging Neurosci. 11:194, doi:10.3389/fnagi.2019.00194.</p>"
        f"{definition_list(facts)}<details><summary>Files used ({len(files)})</summary>"
        f"<ul>{listing}</ul></details>"
    )
