"""The model card: what a model owner declares about a shared model, and the checks on it.

A card is a YAML file (format: ``schemas/model_card.schema.json``, JSON Schema 2020-12) that
travels with the model. It matters to an audit because it carries what the model file cannot:
column order for single-tensor ONNX models, the positive class, the operating threshold, the
intended population, claimed performance, and a disclosure-safe summary of the development data
that :mod:`cohortaudit.safety` compares the audit cohort against. ``model.sha256`` ties the card
to one exact model file, so a swapped or corrupted file is caught before scoring.

Minimal card::

    schema_version: "1.0"
    name: sepsis-risk
    version: "2.1"
    output: {positive_class: 1, meaning: "P(sepsis within 48 h)"}
    thresholds: {operating: 0.3, clinically_relevant_range: [0.1, 0.5]}
    inputs:
      - {name: age, type: numeric, unit: years, min: 18, max: 100}
      - {name: sex, type: categorical, categories: ["F", "M"]}
    model: {sha256: "<64 hex digits>", format: onnx, file: model.onnx}

:func:`init_card` builds a full card (inputs, reference summaries, hash) from the model and the
owner's development data; :func:`write_card` writes it deterministically.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cohortaudit.errors import CardError, SchemaError
from cohortaudit.modelspec import LoadedModel
from cohortaudit.outputs import write_output
from cohortaudit.safeload import parse_yaml, read_limited

__all__ = [
    "CARD_SCHEMA_VERSION",
    "CardInput",
    "ModelCard",
    "card_from_dict",
    "card_schema",
    "check_card_matches",
    "init_card",
    "load_card",
    "validate_card_dict",
    "write_card",
]

CARD_SCHEMA_VERSION = "1.0"
#: Cards are small text files; anything bigger is a mistake or an attack on the YAML parser.
MAX_CARD_BYTES = 5 * 2**20
#: Minimum number of development patients behind any published count, quantile tail or bin.
MIN_CELL = 10
#: Quantiles published in each numeric input's reference summary.
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
#: Histogram bins per numeric input in the reference summary.
HISTOGRAM_BINS = 20

_TOP_ORDER = (
    "schema_version",
    "name",
    "version",
    "developer",
    "contact",
    "license",
    "intended_use",
    "intended_population",
    "outcome",
    "output",
    "thresholds",
    "inputs",
    "development_data",
    "claimed_metrics",
    "training",
    "model",
    "test_vectors",
)
_INPUT_ORDER = (
    "name",
    "type",
    "unit",
    "description",
    "required",
    "order",
    "min",
    "max",
    "categories",
    "reference",
)
_REFERENCE_ORDER = ("n", "missing_fraction", "mean", "sd", "quantiles", "histogram", "frequencies")
_NESTED_ORDER = {
    "intended_population": ("description", "age_min", "age_max", "setting", "countries"),
    "outcome": ("kind", "definition", "horizon", "time_unit"),
    "output": ("kind", "positive_class", "meaning"),
    "thresholds": ("operating", "clinically_relevant_range"),
    "development_data": ("description", "n", "events", "prevalence"),
    "model": ("file", "format", "sha256", "architecture"),
    "test_vectors": (
        "generator",
        "n",
        "tolerance",
        "reference",
        "max_abs_diff",
        "inputs",
        "expected",
    ),
}
#: What ``model.architecture`` records from the loaded model's metadata (provenance).
_ARCHITECTURE_KEYS = (
    "ir_version",
    "opsets",
    "producer_name",
    "producer_version",
    "operator_counts",
    "estimator",
)
#: Fields a reader of an audit report needs; write_card lists the missing ones as a TODO.
_RECOMMENDED = (
    "developer",
    "contact",
    "license",
    "intended_use",
    "intended_population",
    "outcome",
)
_HEADER = """\
# cohortaudit model card (schema_version {version}).
# Share this file together with the model file; model.sha256 ties the card to that exact file.
# Reference summaries are aggregate and disclosure-safe: quantiles with fewer than {k} development
# patients beyond them, frequencies and histogram counts below {k} are null. The first and last
# histogram bins also hold the values below / above the outer edges.
# Format: cohortaudit/schemas/model_card.schema.json (JSON Schema 2020-12).
"""


@dataclass(frozen=True)
class CardInput:
    """One input column the card declares (plain types only)."""

    name: str
    type: str  # "numeric" | "categorical"
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    categories: tuple[Any, ...] | None = None
    required: bool = True
    order: int | None = None
    description: str | None = None
    reference: dict[str, Any] | None = None


@dataclass(frozen=True)
class ModelCard:
    """A parsed, schema-valid model card. ``raw`` keeps the whole parsed YAML."""

    name: str
    version: str
    developer: str | None
    contact: str | None
    license: str | None
    intended_use: str | None
    intended_population: dict[str, Any]
    outcome: dict[str, Any]
    inputs: tuple[CardInput, ...]
    positive_class: Any
    output_meaning: str | None
    operating_threshold: float | None
    clinically_relevant_range: tuple[float, float] | None
    development_data: dict[str, Any]
    claimed_metrics: dict[str, Any]
    training: dict[str, Any]
    model_sha256: str | None
    raw: dict[str, Any]
    path: Path | None = None
    sha256: str | None = None

    @property
    def outcome_kind(self) -> str:
        """``outcome.kind``: "binary" (the default) or "time_to_event" (risk by a horizon)."""
        return str(self.outcome.get("kind", "binary"))

    @property
    def horizon(self) -> float | None:
        """``outcome.horizon`` as a number, in ``time_unit``; None when absent or given as text
        (older cards describe it, e.g. "10 years": see :attr:`horizon_text`)."""
        h = self.outcome.get("horizon")
        if isinstance(h, bool) or not isinstance(h, int | float):
            return None
        return float(h)

    @property
    def horizon_text(self) -> str | None:
        """``outcome.horizon`` when a card gives it as text (a description, not used as the
        audit's horizon), else None."""
        h = self.outcome.get("horizon")
        return h if isinstance(h, str) else None

    @property
    def time_unit(self) -> str | None:
        """``outcome.time_unit``: the unit of the horizon (and of follow-up times), e.g. years."""
        return self.outcome.get("time_unit")

    @property
    def output_kind(self) -> str:
        """``output.kind``: "probability" (of the binary outcome) or "risk_by_horizon" (of the
        event by the horizon); a time-to-event card that does not say means the latter."""
        given = (self.raw.get("output") or {}).get("kind")
        if given is not None:
            return str(given)
        return "risk_by_horizon" if self.outcome_kind == "time_to_event" else "probability"


# --------------------------------------------------------------------------------------------
# schema and validation
# --------------------------------------------------------------------------------------------


@cache
def _schema_text() -> str:
    return (
        resources.files("cohortaudit")
        .joinpath("schemas/model_card.schema.json")
        .read_text(encoding="utf-8")
    )


def card_schema() -> dict[str, Any]:
    """Return the model-card JSON Schema (a fresh copy, safe to mutate)."""
    return json.loads(_schema_text())


def _where(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _normalise(value: Any, where: list[Any]) -> Any:
    """Make YAML output JSON-like: string keys, ISO dates. Refuse boolean/null keys.

    YAML turns ``0.5:`` into a float key and ``2024-01-01`` into a date; JSON Schema and the
    JSON report expect strings, so convert rather than fail on what the author clearly meant.
    """
    if isinstance(value, dict):
        out = {}
        for key, val in value.items():
            if isinstance(key, bool) or key is None:
                raise CardError(
                    f"Model card field {_where(where)} has the key {key!r}, which YAML read as "
                    f"{'a boolean' if key is not None else 'null'}. Expected a text key: put it "
                    "in quotes (YAML reads unquoted yes/no/on/off/true/false as booleans)."
                )
            out[str(key)] = _normalise(val, [*where, str(key)])
        return out
    if isinstance(value, list):
        return [_normalise(v, [*where, i]) for i, v in enumerate(value)]
    if isinstance(value, _dt.date | _dt.datetime):
        return value.isoformat()
    return value


def _schema_errors(raw: dict[str, Any]) -> list[str]:
    import jsonschema
    from jsonschema.exceptions import best_match

    validator = jsonschema.Draft202012Validator(card_schema())
    messages = []
    for err in sorted(validator.iter_errors(raw), key=lambda e: [str(p) for p in e.path]):
        if err.context:  # oneOf/anyOf: explain the branch of the right type, not "not a number"
            specific = [e for e in err.context if e.validator != "type"]
            err = best_match(specific or err.context) or err
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            known = sorted(err.schema.get("properties", {}))
            extra = sorted(k for k in err.instance if k not in known and not k.startswith("x-"))
            msg = f"{_where(err.absolute_path)}: unknown field(s) {extra}; expected only {known}"
            if "patternProperties" in err.schema:
                msg += " (or extension keys starting with 'x-')"
            messages.append(msg)
            continue
        msg = f"{_where(err.absolute_path)}: {err.message}"
        if isinstance(err.instance, bool) and err.validator in ("type", "enum"):
            msg += (
                " (YAML reads unquoted yes/no/on/off/true/false as booleans; put the value "
                "in quotes)"
            )
        messages.append(msg)
    return messages


def _semantic_errors(raw: dict[str, Any]) -> list[str]:
    """Checks JSON Schema cannot express: uniqueness, orderings, lengths that must agree."""
    errors = []
    inputs = raw.get("inputs", [])
    names = [i["name"] for i in inputs]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        errors.append(f"inputs: the names {dups} appear more than once; name each input once")
    orders = [i.get("order") for i in inputs]
    given = [o for o in orders if o is not None]
    if given and (len(given) != len(orders) or sorted(given) != list(range(len(orders)))):
        errors.append(
            f"inputs[*].order: expected either no 'order' or orders 0..{len(orders) - 1} each "
            f"used once; got {orders}"
        )
    for i, inp in enumerate(inputs):
        lo, hi = inp.get("min"), inp.get("max")
        if lo is not None and hi is not None and lo > hi:
            errors.append(f"inputs[{i}]: min ({lo}) is greater than max ({hi})")
        hist = (inp.get("reference") or {}).get("histogram")
        if hist:
            edges, counts = hist["edges"], hist["counts"]
            if len(counts) != len(edges) - 1:
                errors.append(
                    f"inputs[{i}].reference.histogram: expected len(counts) == len(edges) - 1; "
                    f"got {len(counts)} counts and {len(edges)} edges"
                )
            if any(b < a for a, b in zip(edges, edges[1:], strict=False)):
                errors.append(f"inputs[{i}].reference.histogram.edges: must be non-decreasing")
    pop = raw.get("intended_population", {})
    age_min, age_max = pop.get("age_min"), pop.get("age_max")
    if age_min is not None and age_max is not None and age_min > age_max:
        errors.append("intended_population: age_min is greater than age_max")
    errors.extend(_outcome_errors(raw))
    rng = raw.get("thresholds", {}).get("clinically_relevant_range")
    if rng and rng[0] > rng[1]:
        errors.append(f"thresholds.clinically_relevant_range: expected [low, high]; got {rng}")
    vectors = raw.get("test_vectors")
    if vectors:
        lengths = {c: len(v) for c, v in vectors["inputs"].items()}
        if set(lengths.values()) != {vectors["n"]} or len(vectors["expected"]) != vectors["n"]:
            errors.append(
                f"test_vectors: expected n ({vectors['n']}) values in 'expected' and in every "
                f"'inputs' column; got {len(vectors['expected'])} expected and {lengths}"
            )
    return errors


def _outcome_errors(raw: dict[str, Any]) -> list[str]:
    """A time-to-event card states its horizon as a number and its unit; a risk by a horizon
    is only the output of a time-to-event model."""
    outcome = raw.get("outcome", {})
    kind = outcome.get("kind", "binary")
    output_kind = raw.get("output", {}).get("kind")
    errors = []
    if kind == "time_to_event":
        h = outcome.get("horizon")
        if isinstance(h, bool) or not isinstance(h, int | float):
            errors.append(
                "outcome.horizon: a time_to_event card needs the horizon as a number (e.g. "
                f"horizon: 10 with time_unit: years); got {type(h).__name__}"
            )
        if not outcome.get("time_unit"):
            errors.append("outcome.time_unit: a time_to_event card needs it (e.g. years)")
        if output_kind == "probability":
            errors.append(
                "output.kind: a time_to_event model outputs risk_by_horizon (the predicted "
                "risk of the event by outcome.horizon), not probability"
            )
    elif output_kind == "risk_by_horizon":
        errors.append(
            "output.kind: risk_by_horizon needs outcome.kind: time_to_event (with "
            "outcome.horizon and outcome.time_unit)"
        )
    return errors


def validate_card_dict(raw: Any, *, source: str = "model card") -> dict[str, Any]:
    """Validate a parsed card and return its normalised form, or raise :class:`CardError`.

    Every problem is reported at once, with its field path, so an owner fixes the card in one
    round trip rather than one error at a time.
    """
    if not isinstance(raw, dict):
        raise CardError(
            f"The {source} must be a YAML mapping (key: value lines) at the top level; got "
            f"{type(raw).__name__}. Start from the output of 'cohortaudit card init'."
        )
    raw = _normalise(raw, [])
    problems = _schema_errors(raw)
    if not problems:
        problems = _semantic_errors(raw)
    if problems:
        shown = "; ".join(problems[:8])
        more = f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""
        raise CardError(
            f"The {source} is not valid ({len(problems)} problem(s)): {shown}{more}. Fix these "
            "fields; the format is described in cohortaudit/schemas/model_card.schema.json."
        )
    return raw


def _to_card(raw: dict[str, Any], *, path: Path | None, sha256: str | None) -> ModelCard:
    inputs = tuple(
        CardInput(
            name=i["name"],
            type=i["type"],
            unit=i.get("unit"),
            min=i.get("min"),
            max=i.get("max"),
            categories=tuple(i["categories"]) if i.get("categories") is not None else None,
            required=i.get("required", True),
            order=i.get("order"),
            description=i.get("description"),
            reference=i.get("reference"),
        )
        for i in raw["inputs"]
    )
    output = raw.get("output", {})
    thresholds = raw.get("thresholds", {})
    rng = thresholds.get("clinically_relevant_range")
    return ModelCard(
        name=raw["name"],
        version=raw["version"],
        developer=raw.get("developer"),
        contact=raw.get("contact"),
        license=raw.get("license"),
        intended_use=raw.get("intended_use"),
        intended_population=dict(raw.get("intended_population", {})),
        outcome=dict(raw.get("outcome", {})),
        inputs=inputs,
        positive_class=output.get("positive_class", 1),
        output_meaning=output.get("meaning"),
        operating_threshold=thresholds.get("operating"),
        clinically_relevant_range=(rng[0], rng[1]) if rng else None,
        development_data=dict(raw.get("development_data", {})),
        claimed_metrics=dict(raw.get("claimed_metrics", {})),
        training=dict(raw.get("training", {})),
        model_sha256=(raw.get("model", {}).get("sha256") or None),
        raw=raw,
        path=path,
        sha256=sha256,
    )


def card_from_dict(raw: Any, *, source: str = "model card") -> ModelCard:
    """Validate a card held in memory (e.g. from :func:`init_card`) and parse it."""
    return _to_card(validate_card_dict(raw, source=source), path=None, sha256=None)


def load_card(path: str | Path) -> ModelCard:
    """Read, parse (:func:`cohortaudit.safeload.parse_yaml`: safe, aliases refused, depth and
    size bounded) and validate a model card file."""
    path = Path(path)
    if not path.exists():
        raise CardError(f"Model card not found: '{path}'. Check the path, or run without a card.")
    what = f"The model card '{path.name}'"
    data = read_limited(
        path,
        max_bytes=MAX_CARD_BYTES,
        what=what,
        error=CardError,
        hint="A card is a short YAML file; check you gave the card and not the model or the data.",
    )
    raw = parse_yaml(data, what=what, error=CardError)
    if raw is None:
        raise CardError(f"The model card '{path.name}' is empty. Expected a YAML mapping.")
    raw = validate_card_dict(raw, source=f"model card '{path.name}'")
    return _to_card(raw, path=path, sha256=hashlib.sha256(data).hexdigest())


def check_card_matches(card: ModelCard, model: LoadedModel) -> None:
    """Raise :class:`CardError` if the card does not describe this model file.

    The hash check is what makes a card trustworthy: without it, a card written for one model
    could be used to audit another.
    """
    if card.model_sha256 and card.model_sha256.lower() != model.sha256.lower():
        raise CardError(
            f"The model card '{card.name}' is for a model file with SHA-256 "
            f"{card.model_sha256.lower()}, but '{model.path.name}' has SHA-256 "
            f"{model.sha256.lower()}. The model file may have been swapped or corrupted, or the "
            "card belongs to another version. Get the matching model and card from the owner."
        )
    declared = {i.name: i for i in card.inputs}
    missing = [i.name for i in model.inputs if i.name not in declared]
    if missing:
        raise CardError(
            f"The model '{model.path.name}' takes {len(missing)} input(s) the model card "
            f"'{card.name}' does not declare: {missing}. Expected the card's 'inputs' to list "
            "every model input; add them to the card."
        )
    wrong = []
    for spec in model.inputs:
        ci = declared[spec.name]
        if spec.kind == "string" and ci.type == "numeric":
            wrong.append(f"'{spec.name}' (model: text, card: numeric)")
        elif (
            spec.kind != "string"
            and ci.type == "categorical"
            and any(isinstance(c, str) for c in ci.categories or ())
        ):
            wrong.append(f"'{spec.name}' (model: number, card: text categories)")
    if wrong:
        raise CardError(
            f"The model card '{card.name}' and the model '{model.path.name}' disagree on input "
            f"types: {', '.join(wrong)}. Fix the card's 'type' for these inputs."
        )


# --------------------------------------------------------------------------------------------
# building and writing a card (the model owner's side)
# --------------------------------------------------------------------------------------------


def _r(x: float) -> float:
    """Round to 6 significant digits: readable cards, and stable bytes across platforms."""
    return float(f"{float(x):.6g}")


def _safe_tail(n: int) -> float:
    """Lowest quantile with at least MIN_CELL patients below it (and above its mirror)."""
    return max(0.001, MIN_CELL / n)


def _numeric_reference(
    values: pd.Series, name: str
) -> tuple[dict[str, Any], float | None, float | None]:
    try:
        x = pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (ValueError, TypeError):
        raise SchemaError(
            f"Column '{name}' of the development data is not numeric, but the model takes it as "
            "a number. Check the column."
        ) from None
    total = len(x)
    finite = x[np.isfinite(x)]
    n = int(finite.size)
    ref: dict[str, Any] = {
        "n": n,
        "missing_fraction": _r((total - n) / total) if total else 0.0,
        "mean": _r(finite.mean()) if n >= MIN_CELL else None,
        "sd": _r(finite.std(ddof=1)) if n >= MIN_CELL else None,
    }
    ref["quantiles"] = {
        f"{q:g}": (_r(np.quantile(finite, q)) if n and min(q, 1 - q) * n >= MIN_CELL else None)
        for q in QUANTILES
    }
    lo = hi = None
    if n >= 2 * MIN_CELL:
        tail = _safe_tail(n)
        lo, hi = _r(np.quantile(finite, tail)), _r(np.quantile(finite, 1 - tail))
        if np.all(finite == np.round(finite)) and hi - lo <= HISTOGRAM_BINS:
            # whole numbers (counts, scores): one bin per value, centred on it, so no bin is
            # empty merely because it falls between two integers
            edges = [_r(e) for e in np.arange(lo - 0.5, hi + 1.0, 1.0)]
        else:
            edges = sorted({_r(e) for e in np.linspace(lo, hi, HISTOGRAM_BINS + 1)})
        if len(edges) < 2:
            edges, counts = [lo, hi], np.array([n])
        else:
            counts, _ = np.histogram(np.clip(finite, edges[0], edges[-1]), bins=edges)
        ref["histogram"] = {
            "edges": edges,
            "counts": [int(c) if c >= MIN_CELL else None for c in counts],
        }
    return ref, lo, hi


def _categorical_reference(values: pd.Series) -> tuple[dict[str, Any], list[str]]:
    total = len(values)
    present = values.dropna().astype(str)
    n = len(present)
    counts = present.value_counts()
    cats = sorted(counts.index.tolist())
    ref = {
        "n": int(n),
        "missing_fraction": _r((total - n) / total) if total else 0.0,
        "frequencies": {c: (_r(counts[c] / n) if counts[c] >= MIN_CELL else None) for c in cats},
    }
    return ref, cats


def _label_events(label: pd.Series, name: str, positive: Any) -> tuple[int, int]:
    y = label.dropna()
    numeric = pd.to_numeric(y, errors="coerce")
    if not numeric.isna().any() and set(numeric.unique().tolist()) <= {0, 1}:
        return len(y), int((numeric == 1).sum())
    values = set(y.astype(str).unique().tolist())
    if len(values) <= 2 and str(positive) in values:
        return len(y), int((y.astype(str) == str(positive)).sum())
    raise SchemaError(
        f"The label column '{name}' is not binary: expected values 0/1 (or True/False, or the "
        f"model's two classes), found {len(values)} distinct values. Recode the outcome as 0/1."
    )


def _positive_label(model: LoadedModel) -> Any:
    labels = model.metadata.get("class_labels")
    if model.metadata.get("probability_output_style") == "tensor2" and labels:
        return labels[int(model.positive_class)]
    pc = model.positive_class
    return pc.item() if hasattr(pc, "item") else pc


def _input_overrides(given: Any) -> dict[str, dict[str, Any]]:
    """Owner-supplied input details, as ``{name: {...}}`` or an old card's ``inputs`` list.

    From a list, only what the owner declared by hand is kept (unit, description, required,
    min, max); type, order and the reference summary are always recomputed from the model and
    the development data.
    """
    if not given:
        return {}
    if isinstance(given, dict):
        return {str(k): dict(v or {}) for k, v in given.items()}
    if isinstance(given, list) and all(isinstance(i, dict) and "name" in i for i in given):
        keep = ("unit", "description", "required", "min", "max")
        return {str(i["name"]): {k: i[k] for k in keep if k in i} for i in given}
    raise CardError(
        "metadata['inputs'] must map input names to details ({'age': {'unit': 'years'}}) or be "
        f"a card's 'inputs' list; got {type(given).__name__}."
    )


def init_card(
    model: LoadedModel,
    dev: pd.DataFrame,
    *,
    label: str,
    metadata: dict[str, Any] | None = None,
    operating_threshold: float | None = None,
) -> dict[str, Any]:
    """Build a model card (as a dict) from a loaded model and its development data.

    This is how a model owner shares a model: the card records the inputs and their types, a
    disclosure-safe summary of each input in the development data (quantiles and histograms
    with small cells suppressed -- never minima, maxima or rows), prevalence, and the model's
    SHA-256. ``metadata`` supplies what data cannot tell (name, version, developer,
    intended_use, outcome, ..., and ``inputs: {column: {unit, description, min, max}}``
    overrides). The result is deterministic: the same inputs give the same dict and bytes.
    """
    meta = dict(metadata or {})
    if label not in dev.columns:
        raise SchemaError(
            f"The label column '{label}' is not in the development data, which has "
            f"{len(dev.columns)} columns. Pass label= the outcome column's name."
        )
    overrides = _input_overrides(meta.pop("inputs", None))
    unknown = sorted(set(overrides) - {i.name for i in model.inputs})
    if unknown:
        raise CardError(
            f"metadata['inputs'] describes {unknown}, which are not model inputs "
            f"({[i.name for i in model.inputs]}). Describe only the model's inputs."
        )
    missing = [i.name for i in model.inputs if i.name not in dev.columns]
    if missing:
        raise SchemaError(
            f"The development data lacks {len(missing)} model input column(s): {missing}."
        )
    inputs = []
    for pos, spec in enumerate(model.inputs):
        extra = dict(overrides.get(spec.name, {}))
        entry: dict[str, Any] = {"name": spec.name}
        # A skops model records no input types (spec.assumed): a text column is categorical.
        text = spec.assumed and not pd.api.types.is_numeric_dtype(dev[spec.name].dtype)
        if spec.kind == "string" or text:
            ref, cats = _categorical_reference(dev[spec.name])
            entry.update(type="categorical", categories=cats)
        else:
            ref, lo, hi = _numeric_reference(dev[spec.name], spec.name)
            entry["type"] = "numeric"
            if lo is not None:
                entry.update(min=lo, max=hi)
        if model.tensor_input:
            entry["order"] = pos
        entry["reference"] = ref
        entry.update(extra)
        inputs.append(entry)
    n, events = _label_events(dev[label], label, _positive_label(model))
    card: dict[str, Any] = {
        "schema_version": CARD_SCHEMA_VERSION,
        "name": model.path.stem,
        "version": "unspecified",
    }
    card.update(meta)
    card["schema_version"] = CARD_SCHEMA_VERSION
    output = dict(meta.get("output", {}))
    output["positive_class"] = _positive_label(model)
    card["output"] = output
    if operating_threshold is not None:
        card["thresholds"] = {**meta.get("thresholds", {}), "operating": float(operating_threshold)}
    card["inputs"] = inputs
    card["development_data"] = {
        **meta.get("development_data", {}),
        "n": n,
        "events": events,
        "prevalence": _r(events / n) if n else 0.0,
    }
    card["model"] = {
        "sha256": model.sha256,
        "format": model.kind,
        "file": model.path.name,
        "architecture": _architecture(model),
    }
    card = _ordered(_plain(card))
    validate_card_dict(card, source="generated model card")
    return card


def _architecture(model: LoadedModel) -> dict[str, Any]:
    """Provenance from the model file (opsets, producer, operator counts / skops estimator)."""
    md = model.metadata or {}
    out = {k: md[k] for k in _ARCHITECTURE_KEYS if md.get(k) not in (None, "", {})}
    if isinstance(out.get("opsets"), dict):
        out["opsets"] = {str(k): int(v) for k, v in sorted(out["opsets"].items())}
    if isinstance(out.get("operator_counts"), dict):
        out["operator_counts"] = {str(k): int(v) for k, v in sorted(out["operator_counts"].items())}
    return out


def _plain(value: Any) -> Any:
    """Convert numpy scalars and tuples to plain Python so YAML and JSON can represent them."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _order_keys(d: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    head = [k for k in order if k in d]
    return {k: d[k] for k in head + [k for k in d if k not in order]}


def _ordered(card: dict[str, Any]) -> dict[str, Any]:
    out = _order_keys(card, _TOP_ORDER)
    for key, order in _NESTED_ORDER.items():
        if isinstance(out.get(key), dict):
            out[key] = _order_keys(out[key], order)
    if isinstance(out.get("inputs"), list):
        fixed = []
        for inp in out["inputs"]:
            inp = _order_keys(inp, _INPUT_ORDER) if isinstance(inp, dict) else inp
            if isinstance(inp, dict) and isinstance(inp.get("reference"), dict):
                inp["reference"] = _order_keys(inp["reference"], _REFERENCE_ORDER)
            fixed.append(inp)
        out["inputs"] = fixed
    return out


class _CardDumper(yaml.SafeDumper):
    """Block style for structure, flow style for short lists of scalars (edges, counts)."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> Any:
    flow = all(not isinstance(v, dict | list) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_CardDumper.add_representer(list, _represent_list)


def write_card(card: dict[str, Any], path: str | Path) -> Path:
    """Validate ``card`` and write it as YAML with a header comment, keys in reading order."""
    path = Path(path)
    clean = _ordered(validate_card_dict(_plain(card), source="model card to write"))
    body = yaml.dump(
        clean,
        Dumper=_CardDumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    todo = [k for k in _RECOMMENDED if not clean.get(k)]
    header = _HEADER.format(version=CARD_SCHEMA_VERSION, k=MIN_CELL)
    if todo:
        header += f"# TODO before sharing: add {', '.join(todo)}.\n"
    text = header + body
    write_output(path.parent, path.name, text)
    return path
