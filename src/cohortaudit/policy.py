"""Audit policies: pass/fail rules on metrics and their confidence intervals.

A policy is a YAML file of rules (schema: ``schemas/policy.schema.json``)::

    rules:
      - id: auroc-floor
        description: Overall discrimination must be adequate
        metric: auroc
        scope: overall            # overall | subgroups | attribute:<name>[,<name>...]
        bound: ci_low             # see BOUNDS
        op: ">="
        threshold: 0.70
      - id: sensitivity-gap
        metric: sensitivity
        disparity: difference     # the group's Disparity vs its reference group
        scope: attribute:sex
        bound: abs_ci_high
        op: "<="
        threshold: 0.10

Each rule is applied to every group in its scope and gives one :class:`PolicyVerdict`:
``pass``, ``fail``, or ``insufficient data``, which always says why
(:data:`INSUFFICIENT_REASONS`): the group is ``suppressed`` (fewer than k events or
non-events), the number is ``withheld`` (a small cell, or secondary suppression so that a
withheld group cannot be derived), the metric is ``undefined`` in the group, the estimate has
``no_ci`` (for example ``--n-boot 0``), or the CI is ``ci_too_wide``: it straddles the rule's
limit, so the data decide neither way. (A CI wholly on the wrong side is a ``fail``.)

What insufficient data counts as is the rule's ``on_insufficient``: ``fail`` (the default: a
gate should not pass on missing evidence), ``warn`` (shown in every output, does not fail) or
``pass`` (the policy author accepts the gap; still shown). The CLI exits 1 when any verdict
counts as a fail. A disparity rule
(``reference: group``, the default) gives no verdict for the reference group itself: its gap is
0 by definition, and the gap is judged on the other groups.

Why rules read CI bounds: a point estimate on 300 patients says little. ``ci_low >= 0.70``
demands evidence that AUROC is adequate; ``abs_ci_high <= 0.10`` demands evidence that a gap
is small (the worst plausible gap); ``ci_overlaps`` only fails when the data clearly put the
metric outside the range. The policy author chooses which burden of proof applies.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cohortaudit.errors import ConfigError
from cohortaudit.registry import METRICS
from cohortaudit.results import (
    INSUFFICIENT_REASONS,
    AuditResult,
    GroupResult,
    MetricValue,
    PolicyVerdict,
)
from cohortaudit.safeload import parse_yaml, read_limited

__all__ = [
    "BOUNDS",
    "OPS",
    "PolicyRule",
    "Policy",
    "load_policy",
    "policy_from_dict",
    "check_policy_scope",
    "evaluate_policy",
    "policy_failed",
    "ON_INSUFFICIENT",
    "INSUFFICIENT_REASONS",
]

#: What a rule compares. ``abs_*`` read magnitudes (for differences that may be signed);
#: ``ci_within`` / ``ci_overlaps`` take ``between`` and test the whole interval.
#: A policy is a few dozen rules; anything above this is not a policy.
MAX_POLICY_BYTES = 1 * 2**20

BOUNDS = {
    "value": "the point estimate",
    "ci_low": "the lower CI bound",
    "ci_high": "the upper CI bound",
    "abs_value": "|point estimate|",
    "abs_ci_high": "the larger |bound| of the CI (worst plausible magnitude)",
    "ci_within": "the whole CI lies within [low, high]",
    "ci_overlaps": "some of the CI lies within [low, high]",
}
_INTERVAL_BOUNDS = ("ci_within", "ci_overlaps")
_BOUND_NAMES = {
    "value": "value",
    "ci_low": "CI low",
    "ci_high": "CI high",
    "abs_value": "|value|",
    "abs_ci_high": "worst |CI bound|",
    "ci_within": "CI",
    "ci_overlaps": "CI",
}
OPS = {
    ">=": lambda x, t: x >= t,
    ">": lambda x, t: x > t,
    "<=": lambda x, t: x <= t,
    "<": lambda x, t: x < t,
}
DISPARITY_KINDS = ("difference", "ratio")
REFERENCE_KINDS = ("group", "overall")
_RULE_KEYS = (
    "id",
    "description",
    "metric",
    "scope",
    "bound",
    "op",
    "threshold",
    "between",
    "disparity",
    "reference",
    "on_insufficient",
)
#: What a verdict of insufficient data counts as (the rule's ``on_insufficient``).
ON_INSUFFICIENT = ("fail", "warn", "pass")

_TOP_KEYS = ("version", "name", "description", "rules")
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class PolicyRule:
    """One validated rule. Exactly one of (``op``, ``threshold``) or ``between`` is set."""

    id: str
    metric: str
    scope: str
    bound: str
    description: str = ""
    op: str | None = None
    threshold: float | None = None
    between: tuple[float, float] | None = None
    disparity: str | None = None
    reference: str = "group"
    on_insufficient: str = "fail"

    @property
    def attributes(self) -> frozenset[str] | None:
        """The attribute set of an ``attribute:`` scope, else None."""
        if not self.scope.startswith("attribute:"):
            return None
        return frozenset(a.strip() for a in self.scope.split(":", 1)[1].split(","))

    @property
    def criterion(self) -> str:
        """The rule in words, e.g. ``ci_low >= 0.7``."""
        if self.between is not None:
            return f"{self.bound} in [{self.between[0]:g}, {self.between[1]:g}]"
        return f"{self.bound} {self.op} {self.threshold:g}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "description": self.description,
            "metric": self.metric,
            "scope": self.scope,
            "bound": self.bound,
        }
        if self.disparity is not None:
            d["disparity"] = self.disparity
            d["reference"] = self.reference
        if self.between is not None:
            d["between"] = list(self.between)
        else:
            d["op"] = self.op
            d["threshold"] = self.threshold
        d["on_insufficient"] = self.on_insufficient
        return d


@dataclass(frozen=True)
class Policy:
    """A validated audit policy; ``file`` and ``sha256`` identify its source when read from disk."""

    rules: tuple[PolicyRule, ...]
    name: str | None = None
    file: str | None = None
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "sha256": self.sha256,
            "rules": [r.to_dict() for r in self.rules],
        }


# --------------------------------------------------------------------------------------------
# loading and validation
# --------------------------------------------------------------------------------------------


def load_policy(path: str | Path) -> Policy:
    """Read (:func:`cohortaudit.safeload.parse_yaml`: safe, aliases refused, depth and size
    bounded) and validate a policy file; ConfigError names the problem."""
    path = Path(path)
    what = f"The policy file '{path.name}'"
    try:
        data = read_limited(
            path,
            max_bytes=MAX_POLICY_BYTES,
            what=what,
            error=ConfigError,
            hint="A policy is a short YAML file of rules; check you gave the policy.",
        )
    except FileNotFoundError:
        raise ConfigError(
            f"No policy file at '{path}'. Give the path of a policy YAML (--policy policy.yaml)."
        ) from None
    raw = parse_yaml(data, what=what, error=ConfigError, hint="Check its indentation and quoting.")
    policy = policy_from_dict(raw, source=path.name)
    return Policy(
        rules=policy.rules,
        name=policy.name,
        file=path.name,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _one_of(value: Any, options: Iterable[str]) -> bool:
    """``value`` is one of the string ``options`` (a list or mapping from YAML is not: it
    would not even be hashable)."""
    return isinstance(value, str) and value in options


def _metric_keys() -> tuple[str, ...]:
    """Metric keys a rule may name: the binary audit's, then the time-to-event audit's own
    (a rule on a key the audited outcome kind does not have reads as undefined)."""
    from cohortaudit.survival.table import SURVIVAL_METRIC_KEYS

    return (*METRICS, *(k for k in SURVIVAL_METRIC_KEYS if k not in METRICS))


def _disparity_metrics() -> tuple[str, ...]:
    from cohortaudit.metrics.fairness import DISPARITY_METRICS
    from cohortaudit.survival.table import SURVIVAL_DISPARITY_METRICS

    return (*DISPARITY_METRICS, *(k for k in SURVIVAL_DISPARITY_METRICS if k not in DISPARITY_METRICS))


def policy_from_dict(raw: Any, *, source: str = "policy") -> Policy:
    """Validate a policy held in memory. Checks run rule by rule, field by field, so the message
    names the first bad rule and field; the shipped JSON Schema is then checked as a backstop."""
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"The policy '{source}' must be a mapping with a 'rules' list. "
            f"Got {type(raw).__name__} instead."
        )
    unknown = sorted(str(k) for k in raw if k not in _TOP_KEYS)
    if unknown:
        raise ConfigError(
            f"The policy '{source}' has unknown top-level key(s) {unknown}. "
            f"Expected only {list(_TOP_KEYS)}."
        )
    rules_raw = raw.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise ConfigError(
            f"The policy '{source}' must have a non-empty 'rules' list. "
            f"Got {type(rules_raw).__name__ if rules_raw is not None else 'nothing'} instead."
        )
    rules: list[PolicyRule] = []
    seen: set[str] = set()
    for i, r in enumerate(rules_raw):
        rule = _parse_rule(r, i, source, _metric_keys(), _disparity_metrics())
        if rule.id in seen:
            raise ConfigError(
                f"Policy rule '{rule.id}' (rules[{i}]) in '{source}': field 'id' repeats an "
                "earlier rule's id. Give every rule a unique id."
            )
        seen.add(rule.id)
        rules.append(rule)
    _check_schema(raw, source)
    name = raw.get("name")
    return Policy(rules=tuple(rules), name=str(name) if name is not None else None)


def _parse_rule(
    r: Any, i: int, source: str, metric_keys: Iterable[str], disparity_metrics: Iterable[str]
) -> PolicyRule:
    if not isinstance(r, Mapping):
        raise ConfigError(
            f"Policy rule rules[{i}] in '{source}' must be a mapping (id, metric, scope, bound, "
            f"op + threshold or between). Got {type(r).__name__} instead."
        )
    rid = r.get("id")
    if not isinstance(rid, str) or not _ID_PATTERN.match(rid):
        raise ConfigError(
            f"Policy rule rules[{i}] in '{source}': field 'id' must be a short name of letters, "
            f"digits, '.', '_' or '-' (e.g. auroc-floor). Got {rid!r} instead."
        )
    where = f"Policy rule '{rid}' (rules[{i}]) in '{source}'"

    def bad(fld: str, expected: str, got: Any) -> ConfigError:
        return ConfigError(f"{where}: field '{fld}' must be {expected}. Got {got!r} instead.")

    unknown = sorted(str(k) for k in r if k not in _RULE_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {unknown}. Allowed fields: {', '.join(_RULE_KEYS)}."
        )
    description = r.get("description", "")
    if not isinstance(description, str):
        raise bad("description", "a string", description)

    disparity = r.get("disparity")
    if disparity is not None and not _one_of(disparity, DISPARITY_KINDS):
        raise bad("disparity", f"one of {', '.join(DISPARITY_KINDS)}", disparity)
    metric = r.get("metric")
    allowed = tuple(disparity_metrics) if disparity else tuple(metric_keys)
    if not _one_of(metric, allowed):
        what = "a metric with disparities" if disparity else "a metric key"
        raise bad("metric", f"{what} ({', '.join(allowed)})", metric)
    reference = r.get("reference", "group")
    if "reference" in r and disparity is None:
        raise ConfigError(f"{where}: field 'reference' only applies with 'disparity'. Remove it.")
    if not _one_of(reference, REFERENCE_KINDS):
        raise bad("reference", f"one of {', '.join(REFERENCE_KINDS)}", reference)

    scope = r.get("scope")
    if not isinstance(scope, str) or not (
        scope in ("overall", "subgroups")
        or (scope.startswith("attribute:") and all(a.strip() for a in scope[10:].split(",")))
    ):
        raise bad("scope", "overall, subgroups or attribute:<name>[,<name>...]", scope)
    if scope == "overall" and disparity:
        raise ConfigError(
            f"{where}: field 'scope' is 'overall' but a disparity compares a subgroup with its "
            "reference. Use scope 'subgroups' or 'attribute:<name>'."
        )

    bound = r.get("bound")
    if not _one_of(bound, BOUNDS):
        raise bad("bound", f"one of {', '.join(BOUNDS)}", bound)

    has_op = "op" in r or "threshold" in r
    has_between = "between" in r
    if has_op == has_between:
        raise ConfigError(
            f"{where}: give either 'op' and 'threshold' or 'between' (exactly one of the two). "
            f"Got {'both' if has_op else 'neither'}."
        )
    op = threshold = between = None
    if has_between:
        b = r["between"]
        if (
            not isinstance(b, list)
            or len(b) != 2
            or not all(_is_number(x) for x in b)
            or float(b[0]) > float(b[1])
        ):
            raise bad("between", "a list of two finite numbers [low, high] with low <= high", b)
        between = (float(b[0]), float(b[1]))
    else:
        op = r.get("op")
        if not _one_of(op, OPS):
            raise bad("op", f"one of {', '.join(repr(o) for o in OPS)} (quote it in YAML)", op)
        threshold = r.get("threshold")
        if not _is_number(threshold):
            raise bad("threshold", "a finite number", threshold)
        threshold = float(threshold)
        if bound in _INTERVAL_BOUNDS:
            raise ConfigError(
                f"{where}: bound '{bound}' tests an interval against a range, so it needs "
                "'between: [low, high]' instead of 'op' and 'threshold'."
            )
    on_insufficient = r.get("on_insufficient", "fail")
    if not _one_of(on_insufficient, ON_INSUFFICIENT):
        raise ConfigError(
            f"{where}: field 'on_insufficient' must be one of {', '.join(ON_INSUFFICIENT)} "
            "(what a verdict of insufficient data counts as; default fail). "
            f"Got {on_insufficient!r} instead."
        )
    return PolicyRule(
        id=rid,
        description=description,
        metric=metric,
        scope=scope,
        bound=bound,
        op=op,
        threshold=threshold,
        between=between,
        disparity=disparity,
        reference=reference if disparity else "group",
        on_insufficient=on_insufficient,
    )


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_schema(raw: Mapping[str, Any], source: str) -> None:
    import jsonschema

    schema = load_policy_schema()
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(
            json.loads(json.dumps(raw, default=str))
        ),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    if errors:
        e = errors[0]
        path = list(e.absolute_path)
        where = "/".join(map(str, path)) or "(top level)"
        who = "The policy"
        if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
            who = f"Policy rule '{raw['rules'][path[1]].get('id')}' (rules[{path[1]}])"
        raise ConfigError(
            f"{who} in '{source}' does not match the policy schema at '{where}': "
            f"{e.message.splitlines()[0][:200]}."
        )


def load_policy_schema() -> dict[str, Any]:
    from importlib import resources

    text = (
        resources.files("cohortaudit")
        .joinpath("schemas/policy.schema.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def check_policy_scope(
    policy: Policy, *, sensitive_features: Iterable[str], max_order: int
) -> None:
    """Refuse rules whose ``attribute:`` scope the audit cannot produce (checked before the audit
    runs, so a typo costs a second, not a bootstrap)."""
    features = tuple(sensitive_features)
    for i, rule in enumerate(policy.rules):
        attrs = rule.attributes
        if attrs is None:
            continue
        missing = sorted(attrs - set(features))
        if missing:
            raise ConfigError(
                f"Policy rule '{rule.id}' (rules[{i}]): field 'scope' names attribute(s) "
                f"{missing} that this audit does not use. Sensitive attributes: "
                f"{list(features)}. Add them with --sensitive or fix the scope."
            )
        if len(attrs) > max_order:
            raise ConfigError(
                f"Policy rule '{rule.id}' (rules[{i}]): field 'scope' is an intersection of "
                f"{len(attrs)} attributes but the audit stops at order {max_order}. "
                f"Raise --max-order to {len(attrs)} or narrow the scope."
            )


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------


def evaluate_policy(policy: Policy, result: AuditResult) -> tuple[PolicyVerdict, ...]:
    """Apply every rule to every group in its scope, in rule order then the result's group
    order. Reads the result only; never recomputes a number."""
    verdicts: list[PolicyVerdict] = []
    for rule in policy.rules:
        for group in _groups_in_scope(rule, result):
            if rule.disparity and rule.reference == "group" and _is_reference(group, result):
                continue  # the yardstick itself: its gap is 0 by definition, not a verdict
            verdicts.append(_judge(rule, group, result))
    return tuple(verdicts)


def policy_failed(verdicts: Iterable[PolicyVerdict]) -> bool:
    """True when any verdict counts as a fail -- ``fail``, or insufficient data under a rule
    with ``on_insufficient: fail`` (the CLI then exits 1)."""
    return any(v.outcome == "fail" for v in verdicts)


def _groups_in_scope(rule: PolicyRule, result: AuditResult) -> list[GroupResult]:
    if rule.scope == "overall":
        return [result.overall]
    if rule.scope == "subgroups":
        return list(result.subgroups)
    attrs = rule.attributes
    return [g for g in result.subgroups if set(g.attributes) == attrs]


def _is_reference(group: GroupResult, result: AuditResult) -> bool:
    return any(
        set(ref["attributes"]) == set(group.attributes) and ref["reference"] == group.attributes
        for ref in result.settings.get("references", ())
    )


def _judge(rule: PolicyRule, group: GroupResult, result: AuditResult) -> PolicyVerdict:
    def verdict(
        status: str, observed: MetricValue, reason: str, why: str | None = None
    ) -> PolicyVerdict:
        return PolicyVerdict(
            rule_id=rule.id,
            description=rule.description,
            group=dict(group.attributes),
            status=status,  # type: ignore[arg-type]
            observed=observed,
            reason=reason,
            insufficient_reason=why,
            counts_as=rule.on_insufficient if why else None,
        )

    empty = MetricValue(None)
    if group.suppressed:
        why = _suppression_kind(group)
        return verdict(
            "insufficient data",
            empty,
            f"{group.label} is {why} by disclosure control "
            f"({group.suppression_reason or 'suppressed'}); no numbers to judge.",
            why,
        )
    if rule.metric in group.withheld:
        return verdict(
            "insufficient data",
            empty,
            f"{rule.metric} is withheld for {group.label} (a confusion-matrix cell below k).",
            "withheld",
        )
    what = rule.metric
    if rule.disparity:
        disp = next(
            (
                d
                for d in result.disparities
                if d.metric == rule.metric
                and d.group == group.attributes
                and d.reference_kind == rule.reference
            ),
            None,
        )
        if disp is None:
            why = _missing_disparity_kind(rule, group, result)
            return verdict(
                "insufficient data",
                empty,
                f"No {rule.metric} {rule.disparity} for {group.label} vs its "
                f"{'reference group' if rule.reference == 'group' else 'whole cohort'} "
                f"({INSUFFICIENT_REASONS[why]}).",
                why,
            )
        observed = disp.difference if rule.disparity == "difference" else disp.ratio
        ref_label = " & ".join(f"{k}={v}" for k, v in disp.reference.items()) or "the whole cohort"
        what = f"{rule.metric} {rule.disparity} vs {ref_label}"
    else:
        observed = group.metrics.get(rule.metric, empty)

    x = _read_bound(rule.bound, observed)
    if x is None:
        if observed.value is None:
            return verdict(
                "insufficient data",
                observed,
                f"{what} for {group.label} has no value (undefined in this group), so "
                f"'{rule.criterion}' cannot be judged.",
                "undefined",
            )
        return verdict(
            "insufficient data",
            observed,
            f"{what} for {group.label} has no confidence interval (bootstrap off with "
            f"--n-boot 0, or too few defined replicates), so '{rule.criterion}' cannot be "
            "judged.",
            "no_ci",
        )
    ok = _compare(rule, x)
    name = _BOUND_NAMES[rule.bound]
    if isinstance(x, tuple):
        shown = f"CI {_fmt(x[0])} to {_fmt(x[1])}"
    else:
        shown = f"{name} {_fmt(float(x))}"
    if not ok and _straddles(rule, observed):
        return verdict(
            "insufficient data",
            observed,
            f"{what} for {group.label}: CI {_fmt(observed.ci_low)} to "  # type: ignore[arg-type]
            f"{_fmt(observed.ci_high)} straddles the rule's limit ('{rule.criterion}'): "  # type: ignore[arg-type]
            "too wide to decide either way.",
            "ci_too_wide",
        )
    if rule.between is not None:
        lo, hi = rule.between
        needs = {
            "ci_within": f"the whole CI inside [{lo:g}, {hi:g}]",
            "ci_overlaps": f"some of the CI inside [{lo:g}, {hi:g}]",
        }.get(rule.bound, f"{name} in [{lo:g}, {hi:g}]")
    else:
        needs = f"{name} {rule.op} {rule.threshold:g}"
    return verdict(
        "pass" if ok else "fail",
        observed,
        f"{what} for {group.label}: {shown}; the rule needs {needs}{'' if ok else ' -- not met'}.",
    )


def _suppression_kind(group: GroupResult) -> str:
    """``withheld`` for secondary suppression (the group is big enough but would let a withheld
    group be derived), ``suppressed`` for a group below k itself."""
    reason = (group.suppression_reason or "").lower()
    return "withheld" if ("secondary" in reason or "derived" in reason) else "suppressed"


def _missing_disparity_kind(rule: PolicyRule, group: GroupResult, result: AuditResult) -> str:
    """Why a disparity is absent: the reference group (or the metric in it) is withheld, or
    the metric is undefined on one side."""
    if rule.reference == "group":
        ref = next(
            (
                r["reference"]
                for r in result.settings.get("references", ())
                if set(r["attributes"]) == set(group.attributes)
            ),
            None,
        )
        ref_group = next((g for g in result.subgroups if g.attributes == ref), None)
    else:
        ref_group = result.overall
    if ref_group is not None:
        if ref_group.suppressed:
            return _suppression_kind(ref_group)
        if rule.metric in ref_group.withheld:
            return "withheld"
        mv = ref_group.metrics.get(rule.metric)
        if mv is not None and mv.value is not None and mv.ci_low is None:
            return "no_ci"
    mine = group.metrics.get(rule.metric)
    if mine is not None and mine.value is not None and mine.ci_low is None:
        return "no_ci"
    return "undefined"


def _straddles(rule: PolicyRule, mv: MetricValue) -> bool:
    """True when a CI-reading rule failed but the CI reaches the passing side: the interval is
    too wide to decide. False when the whole CI fails the rule (a clear fail), and for rules
    that read the point estimate."""
    if rule.bound in ("value", "abs_value") or mv.ci_low is None or mv.ci_high is None:
        return False
    lo, hi = mv.ci_low, mv.ci_high
    if rule.bound == "ci_overlaps":
        return False  # fails only when no part of the CI is inside: always clear
    if rule.bound == "ci_within":
        a, b = rule.between  # type: ignore[misc]
        return hi >= a and lo <= b  # partly inside, partly outside
    if rule.bound == "abs_ci_high":
        nearest = 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))
        return _compare(rule, nearest)
    # ci_low / ci_high: the other end of the CI meets the rule
    return _compare(rule, hi) or _compare(rule, lo)


def _read_bound(bound: str, mv: MetricValue) -> float | tuple[float, float] | None:
    if bound in ("value", "abs_value"):
        if mv.value is None:
            return None
        return abs(mv.value) if bound == "abs_value" else mv.value
    if mv.ci_low is None or mv.ci_high is None:
        return None
    if bound == "ci_low":
        return mv.ci_low
    if bound == "ci_high":
        return mv.ci_high
    if bound == "abs_ci_high":
        return max(abs(mv.ci_low), abs(mv.ci_high))
    return (mv.ci_low, mv.ci_high)  # ci_within / ci_overlaps


def _compare(rule: PolicyRule, x: float | tuple[float, float]) -> bool:
    if rule.between is not None:
        lo, hi = rule.between
        if rule.bound == "ci_within":
            return lo <= x[0] and x[1] <= hi  # type: ignore[index]
        if rule.bound == "ci_overlaps":
            return x[1] >= lo and x[0] <= hi  # type: ignore[index]
        return lo <= x <= hi  # type: ignore[operator]
    return OPS[rule.op](x, rule.threshold)  # type: ignore[index]


def _fmt(x: float) -> str:
    return f"{x:.4g}"
