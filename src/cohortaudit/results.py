"""The audit result: frozen dataclasses of plain types, the one object every renderer reads.

The JSON form (``to_dict``) is a public contract, versioned by ``SCHEMA_VERSION`` and described
by ``schemas/audit_result.schema.json``. ``from_dict(to_dict(r)) == r`` holds for every result,
and everything that changes between identical runs (time, host, durations) lives in the one
top-level ``run`` block so that the rest is byte-identical for the same inputs and seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from cohortaudit.result_views import (
    ExplanationsView,
    SafetyView,
    SettingsView,
    SitesView,
    UserMetricsView,
)

if TYPE_CHECKING:
    from cohortaudit.result_frame import ResultMetricFrame

__all__ = [
    "SCHEMA_VERSION",
    "NOT_CONTROLLED_BANNER",
    "WITHHELD_COUNT",
    "not_evaluable",
    "WITHHELD_COUNT_NOTE",
    "INSUFFICIENT_REASONS",
    "Caveat",
    "MetricValue",
    "GroupResult",
    "Disparity",
    "FairnessSummary",
    "DisclosureEntry",
    "ModelInfo",
    "CohortInfo",
    "PolicyVerdict",
    "ClaimCheck",
    "Finding",
    "FINDING_KINDS",
    "FINDING_SEVERITIES",
    "AuditResult",
]

#: 1.1.0 added the optional ``policy`` and ``claims`` blocks (a 1.0.0 result still reads).
#: 1.2.0 added the optional ``explanations``, ``safety`` and ``sites`` blocks (absent or null = not run).
#: 1.3.0 added, for disclosure profiles (issue 14), ``settings.disclosure.controlled``, ``zero_cells`` and
#: ``banner`` (at k <= 1 only) and, on policy verdicts of insufficient data, ``insufficient_reason`` and
#: ``counts_as``: insufficient data can now fail a policy (``on_insufficient``), so readers must
#: be able to tell.
#: 1.4.0 added time-to-event results (issue 16): ``settings.outcome`` and ``settings.survival``,
#: a group's ``survival`` block, the cohort's ``time`` and ``event`` columns, survival metric keys
#: and risk-decile rows in ``calibration_table``; all absent from a binary result.
#: 1.5.0 added (issue 19) the expected error rates under calibration (``expected_*`` metrics),
#: ``case_mix`` / ``beyond_case_mix`` on error-rate disparities, net benefit with intervals
#: (``net_benefit``, ``net_benefit_vs_treat_all`` and the decision-curve CI keys), the grouped
#: weak slices (``safety.weak_slice_groups``) and the top-level ``findings``; for time-to-event
#: results, intervals for ICI/E50/E90/Emax and the calibration curve's band. All additive: a
#: 1.4.0 result still reads.
#: 1.6.0 added the case-mix split of weak sensitivity slices (``expected_value``,
#: ``expected_rest_value``, ``beyond_case_mix``, ``case_mix``; ``weak_slice_groups[].case_mix``)
#: and, for time-to-event results, the decision-curve CI keys. Additive: a 1.5.0 result reads.
SCHEMA_VERSION = "1.6.0"

#: What every output of an audit run with disclosure control off (``--min-cell 0``) says on its
#: first page and in its summary. One phrase for every renderer, the CLI and the dashboard.
NOT_CONTROLLED_BANNER = "not disclosure-controlled: not for release from a secure environment"

#: What a released table shows in place of a count that disclosure control withholds, and the
#: one sentence that says why: a count of 1 to k-1, or one that would give such a count back by
#: subtraction (secondary suppression), so "fewer than k" would not always be true.
WITHHELD_COUNT = "withheld"


def not_evaluable(k: int | str) -> str:
    """How a suppressed group (fewer than k events or non-events) reads in every table."""
    return f"not evaluable (fewer than {k})"


WITHHELD_COUNT_NOTE = (
    "Counts of 1 to k−1, and counts that would let one be derived by subtraction from a total "
    "and the released counts beside it, are withheld."
)

#: Why a policy verdict is ``insufficient data``: code -> what a reader is told. The policy
#: engine sets the code; every renderer explains it with these words.
INSUFFICIENT_REASONS = {
    "suppressed": "the group has fewer than k events or non-events (suppressed)",
    "withheld": "withheld by disclosure control (a small cell, or secondary suppression)",
    "undefined": "the metric is undefined in the group",
    "no_ci": "no confidence interval (for example --n-boot 0)",
    "ci_too_wide": "the CI straddles the rule's limit: too wide to decide",
}

Severity = Literal["info", "warning", "serious"]


def clean_float(x: Any) -> float | None:
    """NaN/inf become None; floats are rounded to 12 significant digits.

    Rounding keeps the JSON byte-identical across machines whose BLAS or SIMD paths differ in
    the last bits, without losing any precision a reader could use.
    """
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.12g}")


@dataclass(frozen=True)
class Caveat:
    """A survivable problem with the data or a statistic, shown in every rendering.

    ``code`` is a stable machine key (e.g. ``"missing_inputs"``); ``message`` is plain language
    for the person reading the report and never contains row values.
    """

    code: str
    severity: Severity
    message: str
    where: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "where": dict(self.where),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Caveat:
        return cls(
            code=d["code"],
            severity=d["severity"],
            message=d["message"],
            where=dict(d.get("where", {})),
        )


@dataclass(frozen=True)
class MetricValue:
    """A point estimate with its confidence interval; None means undefined or withheld."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None

    def __post_init__(self) -> None:
        for name in ("value", "ci_low", "ci_high"):
            object.__setattr__(self, name, clean_float(getattr(self, name)))

    def to_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetricValue:
        return cls(d.get("value"), d.get("ci_low"), d.get("ci_high"))


def _metrics_to_dict(metrics: dict[str, MetricValue]) -> dict[str, Any]:
    return {k: v.to_dict() for k, v in metrics.items()}


def _metrics_from_dict(d: dict[str, Any]) -> dict[str, MetricValue]:
    return {k: MetricValue.from_dict(v) for k, v in d.items()}


@dataclass(frozen=True)
class GroupResult:
    """Metrics of the whole cohort (``attributes == {}``) or of one subgroup.

    A suppressed group (fewer than k events or non-events, or secondary suppression) carries
    no counts and no metrics: ``n``, ``events`` are None and ``metrics`` is empty.
    ``withheld`` lists metric keys held back for disclosure control even though the group is
    released (threshold metrics when a confusion-matrix cell is below k).
    """

    attributes: dict[str, str]
    n: int | None
    events: int | None
    suppressed: bool
    metrics: dict[str, MetricValue]
    suppression_reason: str | None = None
    confusion: dict[str, int | None] = field(default_factory=dict)
    withheld: tuple[str, ...] = ()
    imprecise: bool = False
    #: Confusion counts on the fixed grid ``settings["threshold_grid"]``: columns tp, fp, tn,
    #: fn, each a list aligned with the grid; None where disclosure control withholds a row.
    threshold_grid: dict[str, list[int | None]] = field(default_factory=dict)
    #: Smoothed calibration curve on a fixed grid of predicted risk, with a pointwise CI band
    #: (``predicted``, ``observed``, ``ci_low``, ``ci_high``); None outside the k-safe support.
    calibration_curve: dict[str, list[float | None]] = field(default_factory=dict)
    #: Equal-width calibration bins (``lower``, ``upper``, ``n``, ``events``, ``sum_p``).
    calibration_table: tuple[dict[str, Any], ...] = ()
    #: Counts of predicted risk by outcome on fixed bins (``edges``, ``events``, ``non_events``).
    risk_histogram: dict[str, list[Any]] = field(default_factory=dict)
    #: ROC points (``threshold``, ``fpr``, ``tpr``) and PR points (``recall``, ``precision``).
    roc_curve: dict[str, list[float | None]] = field(default_factory=dict)
    pr_curve: dict[str, list[float | None]] = field(default_factory=dict)
    #: Decision curve rows: threshold, net_benefit, net_benefit_treat_all,
    #: interventions_avoided_per_100, standardized_net_benefit.
    decision_curve: tuple[dict[str, float | None], ...] = ()
    #: Smoother, knots, Hosmer-Lemeshow chi2 and groups, clipped predictions, fit problems.
    calibration: dict[str, Any] = field(default_factory=dict)
    #: Time-to-event audits only (absent from a binary group's JSON): the horizon, the counts
    #: at it (``at_risk``, ``censored_before``), ``median_follow_up`` and, for groups whose
    #: curves are shown, the released Kaplan-Meier curve (``km_curve``).
    survival: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Plain-language name, e.g. ``sex=F & age=[40, 65)`` or ``overall``."""
        if not self.attributes:
            return "overall"
        return " & ".join(f"{k}={v}" for k, v in self.attributes.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "n": self.n,
            "events": self.events,
            "suppressed": self.suppressed,
            "suppression_reason": self.suppression_reason,
            "imprecise": self.imprecise,
            "metrics": _metrics_to_dict(self.metrics),
            "withheld": list(self.withheld),
            "confusion": dict(self.confusion),
            "threshold_grid": {k: list(v) for k, v in self.threshold_grid.items()},
            "calibration_curve": {k: list(v) for k, v in self.calibration_curve.items()},
            "calibration_table": [dict(r) for r in self.calibration_table],
            "risk_histogram": {k: list(v) for k, v in self.risk_histogram.items()},
            "roc_curve": {k: list(v) for k, v in self.roc_curve.items()},
            "pr_curve": {k: list(v) for k, v in self.pr_curve.items()},
            "decision_curve": [dict(r) for r in self.decision_curve],
            "calibration": dict(self.calibration),
            **({"survival": dict(self.survival)} if self.survival else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GroupResult:
        return cls(
            attributes=dict(d["attributes"]),
            n=d["n"],
            events=d["events"],
            suppressed=d["suppressed"],
            metrics=_metrics_from_dict(d["metrics"]),
            suppression_reason=d.get("suppression_reason"),
            confusion=dict(d.get("confusion", {})),
            withheld=tuple(d.get("withheld", ())),
            imprecise=d.get("imprecise", False),
            threshold_grid={k: list(v) for k, v in d.get("threshold_grid", {}).items()},
            calibration_curve={k: list(v) for k, v in d.get("calibration_curve", {}).items()},
            calibration_table=tuple(dict(r) for r in d.get("calibration_table", ())),
            risk_histogram={k: list(v) for k, v in d.get("risk_histogram", {}).items()},
            roc_curve={k: list(v) for k, v in d.get("roc_curve", {}).items()},
            pr_curve={k: list(v) for k, v in d.get("pr_curve", {}).items()},
            decision_curve=tuple(dict(r) for r in d.get("decision_curve", ())),
            calibration=dict(d.get("calibration", {})),
            survival=dict(d.get("survival", {})),
        )


@dataclass(frozen=True)
class Disparity:
    """Difference (group - reference) and ratio (group / reference) of one metric."""

    metric: str
    group: dict[str, str]
    reference: dict[str, str]
    reference_kind: Literal["group", "overall"]
    difference: MetricValue
    ratio: MetricValue
    #: sensitivity / specificity / PPV / NPV of a binary audit: the difference split into what
    #: the two risk distributions imply under perfect calibration (``case_mix``) and the rest
    #: (``beyond_case_mix``); None (and absent from the JSON) for other metrics
    case_mix: MetricValue | None = None
    beyond_case_mix: MetricValue | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "metric": self.metric,
            "group": dict(self.group),
            "reference": dict(self.reference),
            "reference_kind": self.reference_kind,
            "difference": self.difference.to_dict(),
            "ratio": self.ratio.to_dict(),
        }
        for key in ("case_mix", "beyond_case_mix"):
            part = getattr(self, key)
            if part is not None:
                out[key] = part.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Disparity:
        return cls(
            metric=d["metric"],
            group=dict(d["group"]),
            reference=dict(d["reference"]),
            reference_kind=d["reference_kind"],
            difference=MetricValue.from_dict(d["difference"]),
            ratio=MetricValue.from_dict(d["ratio"]),
            case_mix=MetricValue.from_dict(d["case_mix"]) if "case_mix" in d else None,
            beyond_case_mix=(
                MetricValue.from_dict(d["beyond_case_mix"]) if "beyond_case_mix" in d else None
            ),
        )


@dataclass(frozen=True)
class FairnessSummary:
    """A fairlearn-style summary over one partition: max-min difference or min/max ratio."""

    attributes: tuple[str, ...]
    metric: str
    value: MetricValue
    groups_compared: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "attributes": list(self.attributes),
            "metric": self.metric,
            "value": self.value.to_dict(),
            "groups_compared": self.groups_compared,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FairnessSummary:
        return cls(
            attributes=tuple(d["attributes"]),
            metric=d["metric"],
            value=MetricValue.from_dict(d["value"]),
            groups_compared=d["groups_compared"],
        )


@dataclass(frozen=True)
class DisclosureEntry:
    """One disclosure-control action: what was withheld, where, and under which rule."""

    where: dict[str, str]
    rule: str
    action: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "where": dict(self.where),
            "rule": self.rule,
            "action": self.action,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DisclosureEntry:
        return cls(where=dict(d["where"]), rule=d["rule"], action=d["action"], reason=d["reason"])


@dataclass(frozen=True)
class ModelInfo:
    """Identity of the audited model (or of the score column in scores mode)."""

    kind: Literal["onnx", "skops", "scores"]
    sha256: str | None
    file: str | None
    name: str | None = None
    version: str | None = None
    inputs: tuple[str, ...] = ()
    card_sha256: str | None = None
    card_file: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The card's test vectors, which passed: {count, max_abs_diff, tolerance, reference};
    #: None when there is no card or it has no vectors.
    test_vectors: dict[str, Any] | None = None
    #: Facts from the model card, as plain JSON (developer, contact, license, intended_use,
    #: intended_population, outcome, operating_threshold, clinically_relevant_range,
    #: claimed_metrics, development_data); {} when there is no card.
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        """How every renderer names the model: the card's name and version ("CardioRisk-EU
        2.1.0"), else the model file, else, in scores mode, the score column's predictions."""
        named = " ".join(x for x in (self.name, self.version) if x) or self.file
        if named:
            return named
        if self.kind == "scores" and self.inputs:
            return f"the predictions in '{self.inputs[0]}'"
        return "the model"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sha256": self.sha256,
            "file": self.file,
            "name": self.name,
            "version": self.version,
            "inputs": list(self.inputs),
            "card_sha256": self.card_sha256,
            "card_file": self.card_file,
            "metadata": dict(self.metadata),
            "test_vectors": dict(self.test_vectors) if self.test_vectors is not None else None,
            "card": dict(self.card),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelInfo:
        return cls(
            kind=d["kind"],
            sha256=d["sha256"],
            file=d["file"],
            name=d.get("name"),
            version=d.get("version"),
            inputs=tuple(d.get("inputs", ())),
            card_sha256=d.get("card_sha256"),
            card_file=d.get("card_file"),
            metadata=dict(d.get("metadata", {})),
            test_vectors=dict(d["test_vectors"]) if d.get("test_vectors") is not None else None,
            card=dict(d.get("card") or {}),
        )


@dataclass(frozen=True)
class CohortInfo:
    """Identity and size of the evaluation cohort (aggregate only)."""

    sha256: str | None
    file: str | None
    n: int | None
    events: int | None
    n_input_rows: int | None
    n_excluded: int | None
    label: str | None
    sensitive_features: tuple[str, ...]
    #: time-to-event audits only (absent from a binary cohort's JSON): the follow-up time and
    #: event columns; ``label`` is then None
    time: str | None = None
    event: str | None = None

    def to_dict(self) -> dict[str, Any]:
        outcome = {} if self.event is None else {"time": self.time, "event": self.event}
        return {
            "sha256": self.sha256,
            "file": self.file,
            "n": self.n,
            "events": self.events,
            "n_input_rows": self.n_input_rows,
            "n_excluded": self.n_excluded,
            "label": self.label,
            "sensitive_features": list(self.sensitive_features),
            **outcome,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CohortInfo:
        return cls(
            sha256=d["sha256"],
            file=d["file"],
            n=d["n"],
            events=d["events"],
            n_input_rows=d.get("n_input_rows"),
            n_excluded=d.get("n_excluded"),
            label=d["label"],
            sensitive_features=tuple(d["sensitive_features"]),
            time=d.get("time"),
            event=d.get("event"),
        )


@dataclass(frozen=True)
class PolicyVerdict:
    """One audit-policy rule applied to one group: ``pass``, ``fail`` or ``insufficient data``.

    ``group`` is the group's attributes ({} for the whole cohort). ``observed`` is the quantity
    the rule reads -- the group's metric, or its disparity vs the reference -- with its CI, and
    ``reason`` says in words which number was compared with what. Insufficient data also says
    why (``insufficient_reason``: suppressed, withheld, undefined, no_ci, ci_too_wide) and what
    the rule counts it as (``counts_as``: fail, warn or pass; added in 1.3.0, so a verdict read
    from an older result has None and counts as a warning, as it did then).
    """

    rule_id: str
    description: str
    group: dict[str, str]
    status: Literal["pass", "fail", "insufficient data"]
    observed: MetricValue
    reason: str
    insufficient_reason: str | None = None
    counts_as: Literal["fail", "warn", "pass"] | None = None

    @property
    def outcome(self) -> Literal["pass", "fail", "warn"]:
        """What the verdict does to the policy: ``fail`` fails it, ``warn`` is shown only."""
        if self.status != "insufficient data":
            return self.status  # type: ignore[return-value]
        return self.counts_as or "warn"

    def to_dict(self) -> dict[str, Any]:
        d = {
            "rule_id": self.rule_id,
            "description": self.description,
            "group": dict(self.group),
            "status": self.status,
            "observed": self.observed.to_dict(),
            "reason": self.reason,
        }
        if self.status == "insufficient data" and self.insufficient_reason is not None:
            d["insufficient_reason"] = self.insufficient_reason
            d["counts_as"] = self.counts_as
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PolicyVerdict:
        return cls(
            rule_id=d["rule_id"],
            description=d.get("description", ""),
            group=dict(d["group"]),
            status=d["status"],
            observed=MetricValue.from_dict(d["observed"]),
            reason=d["reason"],
            insufficient_reason=d.get("insufficient_reason"),
            counts_as=d.get("counts_as"),
        )


@dataclass(frozen=True)
class ClaimCheck:
    """A metric the model card claims, set against the audit's overall estimate.

    ``claimed`` is ``{value, ci_low, ci_high}`` as the card states it (CI bounds None when the
    card gives a bare number); ``verdict`` is ``consistent`` (claimed value inside the measured
    CI), ``lower``/``higher`` (the measured CI lies entirely below/above the claimed value) or
    ``not measured``.
    """

    metric: str
    claimed: dict[str, float | None]
    measured: MetricValue
    verdict: Literal["consistent", "lower", "higher", "not measured"]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "claimed": dict(self.claimed),
            "measured": self.measured.to_dict(),
            "verdict": self.verdict,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClaimCheck:
        return cls(
            metric=d["metric"],
            claimed=dict(d["claimed"]),
            measured=MetricValue.from_dict(d["measured"]),
            verdict=d["verdict"],
            reason=d["reason"],
        )


#: What a finding is about (``Finding.kind``), in the words of issue 19.
FINDING_KINDS = (
    "miscalibration",
    "discrimination",
    "error_rate_gap",
    "data_problem",
    "shift",
    "robustness",
    "weak_slice",
)
#: A finding's severity, most severe first. ``case_mix`` marks a difference in an error rate
#: that the group's risk distribution explains: it is reported, and it is not a problem.
FINDING_SEVERITIES = ("high", "medium", "low", "case_mix")


@dataclass(frozen=True)
class Finding:
    """One thing the audit found, in words a patient's doctor can act on.

    Built once, when the result is assembled, from the released numbers
    (:func:`cohortaudit.findings.build_findings`, which states the severity rules); every
    renderer shows these and none decides what is a finding. ``attributes`` is the group ({}
    for all patients), ``reference`` the group it is compared with (None when it is judged
    against perfect calibration, a threshold or the development data), ``value`` / ``ci_low``
    / ``ci_high`` the number the severity was judged on, ``summary`` the sentence on what it
    means for patients, ``action`` what to check or do next, and ``section`` the report anchor
    where it is shown in detail (renderers turn it into "see section 4.2"). ``n`` is the
    group's released size (None when withheld or not a group).
    """

    kind: str
    attributes: dict[str, str]
    metric: str
    severity: str
    summary: str
    action: str
    section: str
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    reference: dict[str, str] | None = None
    n: int | None = None

    def __post_init__(self) -> None:
        for name in ("value", "ci_low", "ci_high"):
            object.__setattr__(self, name, clean_float(getattr(self, name)))

    @property
    def is_problem(self) -> bool:
        """False for a difference explained by case mix: it is shown, not counted."""
        return self.severity != "case_mix"

    @property
    def estimate(self) -> MetricValue:
        """The number as a :class:`MetricValue`, for the renderers' formatters."""
        return MetricValue(self.value, self.ci_low, self.ci_high)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "attributes": dict(self.attributes),
            "metric": self.metric,
            "severity": self.severity,
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "summary": self.summary,
            "action": self.action,
            "section": self.section,
            "reference": None if self.reference is None else dict(self.reference),
            "n": self.n,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        ref = d.get("reference")
        return cls(
            kind=d["kind"],
            attributes=dict(d["attributes"]),
            metric=d["metric"],
            severity=d["severity"],
            summary=d["summary"],
            action=d["action"],
            section=d.get("section", ""),
            value=d.get("value"),
            ci_low=d.get("ci_low"),
            ci_high=d.get("ci_high"),
            reference=None if ref is None else dict(ref),
            n=d.get("n"),
        )


@dataclass(frozen=True)
class AuditResult:
    """Everything an audit found. Renderers read this; none of them recomputes a number."""

    model: ModelInfo
    cohort: CohortInfo
    config: dict[str, Any]
    settings: dict[str, Any]
    overall: GroupResult
    subgroups: tuple[GroupResult, ...]
    disparities: tuple[Disparity, ...]
    fairness: tuple[FairnessSummary, ...]
    disclosure_log: tuple[DisclosureEntry, ...]
    caveats: tuple[Caveat, ...]
    tool: dict[str, str]
    run: dict[str, Any] = field(default_factory=dict, compare=False)
    schema_version: str = SCHEMA_VERSION
    #: Verdicts of the audit policy (``--policy``), rule by rule and group by group; () if none.
    policy: tuple[PolicyVerdict, ...] = ()
    #: The model card's claimed metrics checked against the overall estimates; () if none.
    claims: tuple[ClaimCheck, ...] = ()
    #: SHAP summaries, aggregate-only (``ExplanationResult.to_dict()`` from
    #: :mod:`cohortaudit.explain`); None when explanations were not run.
    explanations: dict[str, Any] | None = None
    #: Shift, intended-use fit, robustness and weak slices (``SafetyResult.to_dict()`` from
    #: :mod:`cohortaudit.safety`); None when safety checks were not run.
    safety: dict[str, Any] | None = None
    #: Multi-site pooling: per-site metrics and random-effects meta-analysis; None for a
    #: single-site audit.
    sites: dict[str, Any] | None = None
    #: User-defined metrics (``--metric module:function``) per released group, from
    #: :func:`cohortaudit.metrics.user.compute_user_metrics`; None (and absent from the JSON)
    #: when the audit had none.
    user_metrics: dict[str, Any] | None = None
    #: What the audit found, most severe first (:class:`Finding`); built from this result by
    #: :func:`cohortaudit.findings.build_findings` when it is assembled.
    findings: tuple[Finding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = {
            "schema_version": self.schema_version,
            "tool": dict(self.tool),
            "model": self.model.to_dict(),
            "cohort": self.cohort.to_dict(),
            "config": self.config,
            "settings": self.settings,
            "overall": self.overall.to_dict(),
            "subgroups": [g.to_dict() for g in self.subgroups],
            "disparities": [d.to_dict() for d in self.disparities],
            "fairness": [f.to_dict() for f in self.fairness],
            "disclosure_log": [e.to_dict() for e in self.disclosure_log],
            "caveats": [c.to_dict() for c in self.caveats],
            "findings": [f.to_dict() for f in self.findings],
            "claims": [c.to_dict() for c in self.claims],
            "policy": [v.to_dict() for v in self.policy],
            "explanations": self.explanations,
            "safety": self.safety,
            "sites": self.sites,
            "run": dict(self.run),
        }
        if self.user_metrics is not None:  # absent, not null: older readers see no change
            d["user_metrics"] = self.user_metrics
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuditResult:
        major = str(d.get("schema_version", "")).split(".")[0]
        if major != SCHEMA_VERSION.split(".")[0]:
            from cohortaudit.errors import InputError

            raise InputError(
                f"This audit result has schema version {d.get('schema_version')!r}; this "
                f"cohortaudit reads version {SCHEMA_VERSION.split('.')[0]}.x. Re-run the audit "
                "with this version, or open it with the version that wrote it."
            )
        return cls(
            schema_version=d["schema_version"],
            tool=dict(d["tool"]),
            model=ModelInfo.from_dict(d["model"]),
            cohort=CohortInfo.from_dict(d["cohort"]),
            config=d["config"],
            settings=d["settings"],
            overall=GroupResult.from_dict(d["overall"]),
            subgroups=tuple(GroupResult.from_dict(g) for g in d["subgroups"]),
            disparities=tuple(Disparity.from_dict(x) for x in d["disparities"]),
            fairness=tuple(FairnessSummary.from_dict(x) for x in d["fairness"]),
            disclosure_log=tuple(DisclosureEntry.from_dict(x) for x in d["disclosure_log"]),
            caveats=tuple(Caveat.from_dict(x) for x in d["caveats"]),
            run=dict(d.get("run", {})),
            claims=tuple(ClaimCheck.from_dict(x) for x in d.get("claims", ())),
            policy=tuple(PolicyVerdict.from_dict(x) for x in d.get("policy", ())),
            explanations=d.get("explanations"),
            safety=d.get("safety"),
            sites=d.get("sites"),
            user_metrics=d.get("user_metrics"),
            findings=tuple(Finding.from_dict(x) for x in d.get("findings", ())),
        )

    @property
    def disclosure_controlled(self) -> bool:
        """False when the audit ran with disclosure control off (k = 0, ``--min-cell 0``).

        Results written before 1.3.0 have no ``controlled`` field; they always ran with k >= 1.
        """
        d = self.settings.get("disclosure") or {}
        return bool(d.get("controlled", True)) and d.get("min_cell") != 0

    @property
    def disclosure_banner(self) -> str | None:
        """The banner every output shows when disclosure control was off, else None."""
        return None if self.disclosure_controlled else NOT_CONTROLLED_BANNER

    def headline_findings(self, *, limit: int = 7, minimum: int = 3) -> tuple[Finding, ...]:
        """The findings the first page shows: the high ones (at most ``limit``); when there are
        fewer than ``minimum``, medium ones fill up to ``minimum``. ``findings`` is already
        ordered most severe first, so this only cuts it."""
        high = [f for f in self.findings if f.severity == "high"][:limit]
        medium = [f for f in self.findings if f.severity == "medium"]
        return tuple(high + medium[: max(0, minimum - len(high))])

    def findings_of(self, severity: str) -> tuple[Finding, ...]:
        """The findings of one severity (``"case_mix"``: differences explained by case mix)."""
        return tuple(f for f in self.findings if f.severity == severity)

    def subgroup(self, **attributes: str) -> GroupResult:
        """The subgroup with exactly these attributes, e.g. ``result.subgroup(sex="F")``."""
        for g in self.subgroups:
            if g.attributes == attributes:
                return g
        raise KeyError(f"No subgroup with attributes {attributes}.")

    # ----------------------------------------------------------------------------------------
    # queries: what views and renderers ask, so that none of them digs through nested dicts
    # ----------------------------------------------------------------------------------------

    def partitions(self) -> tuple[tuple[str, ...], ...]:
        """The attribute combinations audited, single attributes first, in config order."""
        order = {a: i for i, a in enumerate(self.cohort.sensitive_features)}
        seen: dict[tuple[str, ...], None] = {}
        for g in self.subgroups:
            seen.setdefault(tuple(g.attributes), None)
        return tuple(sorted(seen, key=lambda p: (len(p), [order.get(a, 99) for a in p])))

    def groups_for(self, attributes: str | Sequence[str]) -> tuple[GroupResult, ...]:
        """The groups of one partition (``"sex"`` or ``("sex", "age")``), in the result's order."""
        key = (attributes,) if isinstance(attributes, str) else tuple(attributes)
        return tuple(g for g in self.subgroups if tuple(g.attributes) == key)

    def reference_attributes(self, attributes: str | Sequence[str]) -> dict[str, str]:
        """The attributes of a partition's reference group ({} = the whole cohort), as the
        audit recorded them in ``settings["references"]``."""
        key = (attributes,) if isinstance(attributes, str) else tuple(attributes)
        return self.settings_view.reference_of(key)

    def reference_for(self, attributes: str | Sequence[str]) -> GroupResult:
        """The group a partition's disparities are measured against (the whole cohort when the
        audit compared with it, e.g. for intersections)."""
        ref = self.reference_attributes(attributes)
        if not ref:
            return self.overall
        for g in self.subgroups:
            if g.attributes == ref:
                return g
        return self.overall

    @property
    def settings_view(self) -> SettingsView:
        """``settings`` as a typed, read-only view (the stored dict is unchanged)."""
        return SettingsView.from_dict(self.settings)

    @property
    def min_cell(self) -> int:
        """Disclosure control's k (0 = off)."""
        return self.settings_view.min_cell

    @property
    def safety_view(self) -> SafetyView | None:
        """``safety`` as a typed, read-only view; None when safety checks were not run."""
        if self.safety is None:
            return None
        return SafetyView.from_dict(self.safety, audit_min_cell=self.min_cell)

    @property
    def explanations_view(self) -> ExplanationsView | None:
        """``explanations`` as a typed, read-only view; None when not run."""
        if self.explanations is None:
            return None
        return ExplanationsView.from_dict(self.explanations, audit_min_cell=self.min_cell)

    @property
    def sites_view(self) -> SitesView | None:
        """``sites`` as a typed, read-only view; None for a single-site audit."""
        return None if self.sites is None else SitesView.from_dict(self.sites)

    @property
    def user_metrics_view(self) -> UserMetricsView | None:
        """``user_metrics`` as a typed, read-only view; None when the audit had none."""
        return None if self.user_metrics is None else UserMetricsView.from_dict(self.user_metrics)

    def metric_frame(
        self,
        *,
        metric_keys: Sequence[str] | None = None,
        attributes: str | Sequence[str] | None = None,
    ) -> ResultMetricFrame:
        """A fairlearn ``MetricFrame``-shaped view of this audit's released numbers.

        ``.overall``, ``.by_group`` (indexed like MetricFrame's), ``.difference()``,
        ``.ratio()``, ``.group_min()``, ``.group_max()`` with fairlearn's semantics, for data
        scientists who carry on in fairlearn. Built from the released aggregates (no patient
        data is in a result), so suppressed groups are absent and withheld values are NaN.
        """
        from cohortaudit.result_frame import result_metric_frame

        return result_metric_frame(self, metric_keys=metric_keys, attributes=attributes)
